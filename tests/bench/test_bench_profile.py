"""Summarizing py-spy's collapsed stacks into buckets."""

from bench.profile import bucket, summarize

MAIN = 'process 10:"python -m bench.pipeline_run --mode incremental"'
DBT = 'process 11:"/work/main/.venv/bin/python /work/main/.venv/bin/dbt build --select x"'


def test_stacks_of_dbt_and_of_the_run_process_go_to_their_buckets():
    parse = f"{MAIN};{DBT};main (dbt/cli/main.py:1);load (dbt/parser/manifest.py:5)"
    start = f"{MAIN};{DBT};<module> (dbt:1);_find_and_load (<frozen importlib._bootstrap>:1)"
    train = f"{MAIN};execute (dagster/_core/x.py:1);fit (sklearn/ensemble/gb.py:3)"
    events = f"{MAIN};store_event (dagster/_core/storage/event_log/sql.py:9)"
    assert bucket(parse) == "dbt: parsing the project"
    assert bucket(start) == "dbt: imports (start-up)"
    assert bucket(train) == "training and scoring (sklearn)"
    assert bucket(events) == "Dagster event log and storage"


def test_summary_adds_samples_per_bucket_in_seconds():
    lines = [
        f"{MAIN};{DBT};load (dbt/parser/manifest.py:5) 100",
        f"{MAIN};{DBT};load (dbt/parser/models.py:7) 50",
        f"{MAIN};fit (sklearn/x.py:1) 25",
        "garbage line without a count",
    ]
    assert summarize(lines, rate=50) == {
        "dbt: parsing the project": 3.0,
        "training and scoring (sklearn)": 0.5,
    }
