"""The live stage's pure parts (issue #17): a day's runs, its waterfall of hops, the verdicts,
the tables, and the selection and launch the UI would send. No stack is started here: the
stage itself is measured by `make bench-live`, and wall times are never asserted."""

import math

import pytest

from bench import live_report, live_stack

DELIVERED = 1_000.0


def _run(run_id, created, launched, started, ended, steps, **tags) -> dict:
    return {
        "run_id": run_id,
        "status": "SUCCESS",
        "tags": tags,
        "assets": ["raw/flights", "raw/weather"],
        "created": created,
        "launched": launched,
        "started": started,
        "ended": ended,
        "steps": {
            key: {"start": start, "end": end, "seconds": end - start, "status": "success"}
            for key, (start, end) in steps.items()
        },
    }


def _day_runs() -> list[dict]:
    """Today's chain: a sensor's raw run, then an automation tick's two runs side by side."""
    raw = _run(
        "aaaaaaaa-raw",
        DELIVERED + 28,
        DELIVERED + 29,
        DELIVERED + 33,
        DELIVERED + 36,
        {"raw__flights": (DELIVERED + 34, DELIVERED + 35)},
        **{"dagster/sensor_name": "landing_zone_sensor", "dagster/partition": "2013-01-15"},
    )
    day = _run(
        "bbbbbbbb-day",
        DELIVERED + 66,
        None,
        DELIVERED + 70,
        DELIVERED + 100,
        {"dbt_daily_models": (DELIVERED + 72, DELIVERED + 90)},
        **{"dagster/sensor_name": "runway_automation_sensor"},
    )
    table = _run(
        "cccccccc-all",
        DELIVERED + 66,
        DELIVERED + 67,
        DELIVERED + 75,
        DELIVERED + 85,
        {"dbt_models": (DELIVERED + 76, DELIVERED + 84)},
    )
    return [table, day, raw]


def test_a_days_runs_are_those_created_between_delivery_and_visibility() -> None:
    runs = [*_day_runs(), _run("before00", DELIVERED - 5, None, None, None, {})]
    runs.append(_run("afterwards", DELIVERED + 200, None, None, None, {}))
    chosen = live_report.runs_of_day(runs, DELIVERED, DELIVERED + 110)
    assert [r["run_id"][:8] for r in chosen] == ["aaaaaaaa", "cccccccc", "bbbbbbbb"]
    # Never visible: every run after the delivery is what the day waited on.
    assert len(live_report.runs_of_day(runs, DELIVERED, None)) == 4


def test_the_waterfall_splits_a_day_into_ticks_queues_steps_and_visibility() -> None:
    segments = live_report.waterfall(DELIVERED, DELIVERED + 110, _day_runs())
    by_label = {s["label"]: s for s in segments}
    first = segments[0]
    assert first["kind"] == "tick" and (first["start"], first["end"]) == (0, 28)
    assert "landing_zone_sensor" in first["label"] and "2013-01-15" in first["label"]
    assert by_label["aaaaaaaa queued"]["seconds"] == 1
    assert by_label["aaaaaaaa process start"]["seconds"] == 4
    assert by_label["aaaaaaaa step raw__flights"]["start"] == 34
    assert by_label["aaaaaaaa run end"]["seconds"] == 1  # last step end -> run end
    # The automation's runs wait for their tick from the end of the raw run, not the delivery.
    ticks = [s for s in segments if s["kind"] == "tick"]
    assert [(t["start"], t["end"]) for t in ticks] == [(0, 28), (36, 66), (36, 66)]
    # No launch event recorded: queue and process start are one segment.
    assert by_label["bbbbbbbb queued + process start"]["seconds"] == 4
    assert segments[-1]["kind"] == "visible"
    assert (segments[-1]["start"], segments[-1]["end"]) == (100, 110)
    assert [s["start"] for s in segments] == sorted(s["start"] for s in segments)


def test_one_run_per_day_and_a_day_that_never_shows_up() -> None:
    one = _run("dddddddd", DELIVERED + 3, DELIVERED + 3.5, DELIVERED + 5, DELIVERED + 20, {})
    segments = live_report.waterfall(DELIVERED, DELIVERED + 21, [one])
    assert [s["kind"] for s in segments] == ["tick", "queue", "launch", "finish", "visible"]
    # The snapshot shows the day before the run's last steps end: from the last step before.
    one["steps"] = {"publish": {"start": DELIVERED + 9, "end": DELIVERED + 12, "seconds": 3}}
    one["steps"]["check"] = {"start": DELIVERED + 12, "end": DELIVERED + 19, "seconds": 7}
    late = live_report.waterfall(DELIVERED, DELIVERED + 14, [one])
    shown = next(s for s in late if s["kind"] == "visible")
    assert (shown["start"], shown["end"]) == (12, 14)
    summary = live_report.day_summary(DELIVERED, None, [one])
    assert summary["latency_seconds"] is None and summary["runs"] == 1
    assert "visible" not in summary["seconds_by_kind"]


def test_the_day_summary_sums_hops_by_kind() -> None:
    summary = live_report.day_summary(DELIVERED, DELIVERED + 110, _day_runs())
    assert summary["latency_seconds"] == 110
    assert summary["runs"] == 3
    assert summary["first_tick_seconds"] == 28
    kinds = summary["seconds_by_kind"]
    assert kinds["tick"] == 28 + 30 + 30
    assert kinds["step"] == 1 + 18 + 8
    assert kinds["visible"] == 10
    assert summary["step_seconds"] == 27


@pytest.mark.parametrize(
    ("latencies", "expected"),
    [
        ([20.0, 25.0, 29.0, 31.0, 44.0], ["PASS", "PASS"]),
        ([20.0, 25.0, 29.0, 31.0, 46.0], ["PASS", "FAIL"]),
        ([31.0, 32.0, 33.0, 20.0, 20.0], ["FAIL", "PASS"]),
        ([20.0, 21.0, None], ["PASS", "FAIL"]),
        ([], ["N/A", "N/A"]),
    ],
)
def test_live_verdicts_p50_and_max(latencies, expected) -> None:
    verdicts = live_report.live_verdicts(latencies)
    assert [v.label for v in verdicts] == expected
    if None in latencies:
        assert verdicts[1].measured == math.inf and "never visible" in verdicts[1].detail


def test_ui_and_first_dev_verdicts() -> None:
    assert live_report.ui_verdict([12.0, 30.0, 19.0]).label == "PASS"  # p50 = 19
    assert live_report.ui_verdict([12.0, None, None]).label == "FAIL"
    assert live_report.ui_verdict([]).label == "N/A"
    first = {"webserver_seconds": 12.5, "dashboard_seconds": None, "bound_seconds": 600}
    web, dash = live_report.first_dev_verdicts(first)
    assert web.label == "PASS" and dash.label == "FAIL" and "600" in dash.detail


def test_the_markdown_shows_the_verdicts_and_each_days_waterfall() -> None:
    runs = _day_runs()
    live = {
        "status": "ok",
        "cutoff": "2013-01-14",
        "setup": {"seed_seconds": 3.0, "materialize_seconds": 90.0},
        "stack": {"webserver_seconds": 20.0, "sensors_ticked_seconds": 35.0},
        "days": [
            {
                "day": "2013-01-15",
                "waterfall": live_report.waterfall(DELIVERED, DELIVERED + 110, runs),
                "summary": live_report.day_summary(DELIVERED, DELIVERED + 110, runs),
            }
        ],
        "ui_launch": {"day": "2013-01-15", "selection": ["raw/flights"], "launches": []},
        "first_dev": {"cutoff": "2013-01-14", "webserver_seconds": 9.0, "bound_seconds": 600},
        "verdicts": [v.as_dict() for v in live_report.live_verdicts([110.0])],
    }
    text = "\n".join(live_report.markdown(live))
    assert "| live latency p50 | 110.00 s | ≤ 30 s | **FAIL** |" in text
    assert "| 2013-01-15 | **110.0 s** | 3 | 28.0 s |" in text
    assert "| +0.0 | +28.0 | 28.0 | tick → aaaaaaaa (landing_zone_sensor" in text
    assert "| +100.0 | +110.0 | 10.0 | last step or run end → snapshot shows the day |" in text
    assert "answered after **9.0 s**" in text


def test_the_ui_selection_is_a_days_sources_and_downstream_without_training_or_views() -> None:
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    selected = {"/".join(key) for key in live_stack.ui_day_selection(graph)}
    assert {"raw/flights", "raw/weather", "marts/flights", "ml/flight_delay_predictions"} <= (
        selected
    )
    assert "serving/warehouse_snapshot" in selected
    assert not selected & {"/".join(key) for key in live_stack.TRAINING_ASSETS}
    assert not any(graph.get(_key(s)).group_name in live_stack.VIEW_GROUPS for s in selected)
    assert not selected & {"raw/airlines", "raw/airports", "raw/planes"}
    assert not selected & {"marts/routes", "marts/weather_delay_impact"}  # views
    # Exactly what a walk down the graph from the day's sources reaches, minus those two and
    # the views; the same as a delivered day's run (landing_zone_sensor).
    reached, todo = set(), [_key("raw/flights"), _key("raw/weather")]
    while todo:
        key = todo.pop()
        if key not in reached:
            reached.add(key)
            todo.extend(graph.get(key).child_keys)
    expected = {
        key.to_user_string()
        for key in reached
        if graph.get(key).group_name not in live_stack.VIEW_GROUPS
        and tuple(key.path) not in live_stack.TRAINING_ASSETS
        and not graph.get(key).is_virtual
    }
    assert selected == expected
    from orchestration import delivery

    delivery = delivery.delivery_selection([_key("raw/flights"), _key("raw/weather")], graph)
    assert selected == {key.to_user_string() for key in delivery}


def _key(user_string: str):
    import dagster as dg

    return dg.AssetKey(user_string.split("/"))


def test_the_launch_is_the_asset_job_with_the_day_as_partition_range() -> None:
    params = live_stack.launch_params("loc", [("raw", "flights"), ("ml", "x")], "2013-01-19")
    selector = params["selector"]
    assert selector["pipelineName"] == "__ASSET_JOB"
    assert selector["repositoryName"] == "__repository__"
    assert selector["repositoryLocationName"] == "loc"
    assert selector["assetSelection"] == [{"path": ["raw", "flights"]}, {"path": ["ml", "x"]}]
    tags = {t["key"]: t["value"] for t in params["executionMetadata"]["tags"]}
    assert tags == {
        "dagster/asset_partition_range_start": "2013-01-19",
        "dagster/asset_partition_range_end": "2013-01-19",
    }


def test_a_run_is_described_by_its_tags() -> None:
    run = {"run_id": "0123456789", "tags": {}, "assets": ["a/b", "c/d", "e/f", "g/h"]}
    assert live_report.describe_run(run) == "01234567 (manual: a/b, c/d, e/f +1)"
    run["tags"] = {
        "dagster/sensor_name": "s",
        "dagster/asset_partition_range_start": "2013-01-01",
        "dagster/asset_partition_range_end": "2013-01-03",
    }
    assert live_report.describe_run(run).endswith("[2013-01-01..2013-01-03])")


def test_the_benchmark_page_gets_the_live_section() -> None:
    from bench import report

    machine = {
        "cores_logical": 2,
        "cpus_usable": 2,
        "ram_bytes": 2**34,
        "cpu_model": "",
        "platform": "linux",
        "python": "3.11",
        "duckdb": "1.5.5",
        "dagster": "1.13",
        "dagster_dbt": "0.29",
        "load_average_at_start": [1.0, 1.0, 1.0],
    }
    results = {
        "started_at": "2026-12-07T20:00:00+00:00",
        "commit": "abc1234",
        "window": {"start": "2013-01-01", "end": "2013-01-07"},
        "incremental_day": "2013-01-08",
        "total_seconds": 60.0,
        "machine": machine,
        "targets": ["lake"],
        "scales": {},
        "lake": {"status": "not measured: test"},
        "spark": {"status": "not measured: test"},
        "live": {
            "status": "ok",
            "verdicts": [v.as_dict() for v in live_report.live_verdicts([9.0])],
        },
    }
    page = report.render(results)
    assert "## Live stack (issue #17" in page
    assert "| live latency max | 9.00 s | ≤ 45 s | **PASS** |" in page


def test_a_stopped_group_leaves_no_process_behind(tmp_path) -> None:
    """The stage ends dagster dev / make dev by their process group: children included."""
    import psutil

    group = live_stack.Group(
        ["sh", "-c", "sleep 60 & sleep 60 & wait"],
        {"PATH": "/usr/bin:/bin"},
        tmp_path,
        tmp_path / "log",
    )
    live_stack.wait_until(
        lambda: len(psutil.Process(group.process.pid).children()) == 2, bound=10, interval=0.05
    )
    children = psutil.Process(group.process.pid).children(recursive=True)
    assert len(children) == 2
    group.stop(grace=3)
    assert not group.alive()
    assert not [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
