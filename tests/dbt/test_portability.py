"""The dbt project stays portable to DuckLake and Spark (issue #9).

First the checker (sql_portability.py) on tiny strings: each DuckDB idiom is caught at its
line:column, while comments, string literals and dialect implementations of dispatched macros
are left alone. Then the real project: zero findings, and the per-target config (profiles.yml,
dbt_project.yml) gives each engine its strategy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from dbt_cli import DBT_PROJECT_DIR, ParseRun
from jinja2.nativetypes import NativeEnvironment
from sql_portability import check_project, check_sql, check_yaml

# (idiom in context, rule it breaks, the text reported)
IDIOMS = [
    ('select "carrier" from t', "double-quoted identifier", '"carrier"'),
    ("select dep_delay::integer from t", ":: cast", "::integer"),
    ("select cast(x as varchar) from t", "DuckDB-only type", "varchar"),
    ("select cast(x as hugeint) from t", "DuckDB-only type", "hugeint"),
    ("select strftime(d, '%Y') from t", "strftime/strptime", "strftime("),
    ("select epoch(ts) from t", "epoch", "epoch("),
    ("select * from read_csv('f.csv')", "file reader", "read_csv("),
    ("select * from 'flights.parquet'", "file reader", "from '"),
    ("select * exclude (a) from t", "star modifier", "* exclude"),
    ("select * replace (a + 1 as a) from t", "star modifier", "* replace"),
    ("select list_sum(xs) from t", "list/struct function", "list_sum("),
    ("select struct_pack(a := 1)", "list/struct function", "struct_pack("),
    ("select string_agg(a, ',') from t", "list/struct function", "string_agg("),
    ("select * from t qualify row_number() over () = 1", "qualify", "qualify"),
    ("select date_diff('day', a, b) from t", "date_diff", "date_diff("),
    ("select datediff(b, a) from t", "date_diff", "datediff("),
    ("select a + interval 1 day from t", "date_add", "interval"),
    ("select date_trunc('month', d) from t", "date_trunc/date_part", "date_trunc("),
    ("select dayofweek(d) from t", "day of week", "dayofweek("),
    ("select extract(dow from d) from t", "day of week", "extract(dow"),
    ("select timezone('UTC', ts) from t", "time zone", "timezone("),
    ("select ts at time zone 'UTC' from t", "time zone", "at time zone"),
    ("select * from t where name ilike 'a%'", "ilike", "ilike"),
    ("select regexp_replace(a, 'x', 'y') from t", "regexp", "regexp_replace("),
    ("select hash(a) from t", "hash", "hash("),
    ("select a // 2 from t", "integer division //", "//"),
    (
        "select a, count(*) from t group by all",
        "by all / distinct on / union by name",
        "group by all",
    ),
    ("select distinct on (a) a, b from t", "by all / distinct on / union by name", "distinct on ("),
    ("select arg_max(a, b) from t", "arg_max/arg_min", "arg_max("),
    ("select * from generate_series(1, 3)", "generate_series", "generate_series("),
    ("select now() from t", "now()", "now()"),
    ("unpivot t on a, b into name k value v", "pivot", "unpivot"),
]


@pytest.mark.parametrize(("sql", "rule", "text"), IDIOMS, ids=[i[1] + ": " + i[2] for i in IDIOMS])
def test_each_idiom_is_caught(sql: str, rule: str, text: str) -> None:
    findings = check_sql("-- first line\n" + sql, "m.sql")
    assert [(f.rule, f.text) for f in findings] == [(rule, text)]
    (finding,) = findings
    assert (finding.line, finding.column) == (2, sql.index(text) + 1)
    assert str(finding).startswith(f"m.sql:2:{sql.index(text) + 1}: {rule}: `{text}` -> ")
    assert finding.fix


@pytest.mark.parametrize(
    "sql",
    [
        'select a from t  -- "quoted" strftime( in a line comment',
        'select a /* "quoted" :: epoch( * exclude */ from t',
        '{# a "quoted" word and strftime( in a Jinja comment #}\nselect a from t',
        "select 'say \"hi\" :: strftime( -- not a comment' as greeting from t",
        "select 'it''s \"fine\"' as a from t",
        # Jinja code is not SQL: its own double-quoted strings are Python-ish literals.
        '{{ config(materialized="table", unique_key="flight_date") }}\nselect a from t',
        '{{ dbt.concat(["\'-\'", "cast(a as " ~ dbt.type_string() ~ ")"]) }}',
        # Words that merely contain an idiom's name.
        "select listed, epoch_name, hashed, qualify_flag, date_diffs from t",
        "select cast(a as varchar(20)) from t",
    ],
)
def test_comments_strings_and_jinja_are_not_flagged(sql: str) -> None:
    assert check_sql(sql) == []


def test_sql_inside_jinja_strings_is_checked() -> None:
    """A SQL fragment built in Jinja reaches the engine too."""
    sql = 'select\n    {{ dbt.concat(["a::integer", "\'-\'"]) }} as k\nfrom t'
    (finding,) = check_sql(sql)
    column = sql.splitlines()[1].index("::") + 1
    assert (finding.rule, finding.line, finding.column) == (":: cast", 2, column)


MACROS = """
{% macro dow(d) -%}
    {{ return(adapter.dispatch('dow', 'runway')(d)) }}
{%- endmacro %}

{% macro default__dow(d) -%}
    extract(dow from {{ d }})
{%- endmacro %}

{% macro duckdb__dow(d) -%}
    dayofweek({{ d }})::integer
{%- endmacro %}

{% macro spark__dow(d) -%}
    (dayofweek({{ d }}) - 1)
{%- endmacro %}

{% macro plain(d) -%}
    dayofweek({{ d }})
{%- endmacro %}
"""


def test_dialect_implementations_are_exempt() -> None:
    findings = check_sql(MACROS, "macros/dow.sql")
    # Only the undispatched macro: duckdb__/spark__ are where idioms belong, and the default
    # never runs on our targets because both of them exist.
    assert [(f.line, f.text) for f in findings] == [(19, "dayofweek(")]


def test_default_implementation_is_checked_without_both_dialects() -> None:
    """Without a spark__ version, Spark runs the default: it must be portable."""
    without_spark = MACROS.replace("spark__dow", "postgres__dow")
    findings = check_sql(without_spark, "macros/dow.sql")
    assert [(f.line, f.text) for f in findings] == [(7, "extract(dow"), (19, "dayofweek(")]
    # A spark__ version elsewhere in the project counts.
    assert len(check_sql(without_spark, "macros/dow.sql", {"spark__dow"})) == 1


def test_contract_types_in_yaml() -> None:
    text = (
        "models:\n  - name: m\n    columns:\n"
        "      - name: a\n        data_type: varchar\n"
        "      - name: b\n        data_type: string\n"
        "      - name: c\n        data_type: bigint\n"
        '      - name: d\n        data_type: "varchar"  # quoted\n'
    )
    findings = check_yaml(text, "m.yml")
    assert [(f.line, f.column, f.rule) for f in findings] == [
        (5, 9, "contract data_type"),
        (11, 9, "contract data_type"),
    ]
    sources = "sources:\n  - name: s\n    meta:\n      external_location: \"read_csv('x')\"\n"
    assert [f.rule for f in check_yaml(sources)] == ["external_location"]


def test_the_project_is_portable() -> None:
    findings = check_project(DBT_PROJECT_DIR)
    assert not findings, "non-portable SQL:\n" + "\n".join(map(str, findings))


def test_the_project_check_reads_every_layer(tmp_path: Path) -> None:
    """The zero above is not vacuous: an idiom in any layer's copy is found where it is."""
    project = tmp_path / "dbt_project"
    for name in ("models", "macros", "tests"):
        shutil.copytree(DBT_PROJECT_DIR / name, project / name)
    bad = {
        project / "models/marts/routes.sql": 'select "origin" from x\n',
        project / "macros/delay_bucket.sql": "{% macro m() %}strftime(d, '%Y'){% endmacro %}\n",
        project / "tests/assert_on_time_share_between_0_and_1.sql": "select 1 qualify true\n",
    }
    for path, line in bad.items():
        path.write_text(path.read_text() + line)
    flights_yml = project / "models/marts/flights.yml"
    flights_yml.write_text(
        flights_yml.read_text().replace("data_type: string", "data_type: varchar", 1)
    )
    found = {(f.path, f.rule) for f in check_project(project)}
    assert found == {
        ("dbt_project/models/marts/routes.sql", "double-quoted identifier"),
        ("dbt_project/macros/delay_bucket.sql", "strftime/strptime"),
        ("dbt_project/tests/assert_on_time_share_between_0_and_1.sql", "qualify"),
        ("dbt_project/models/marts/flights.yml", "contract data_type"),
    }


# --- per-target configuration ----------------------------------------------------------------

DAILY_MODELS = {
    ("marts", "flights"),
    ("marts", "daily_carrier_performance"),
    ("ml", "flight_features"),
}


def _render(value, target_type: str):
    """dbt renders config strings natively (a list stays a list, none stays None)."""
    if not isinstance(value, str):
        return value
    return NativeEnvironment().from_string(value).render(target={"type": target_type})


def _model_config(project: dict, layer: str, model: str, key: str):
    """The config value a model gets from dbt_project.yml (the most specific level wins)."""
    runway = project["models"]["runway"]
    value = runway.get(key)
    value = runway[layer].get(key, value)
    return runway[layer].get(model, {}).get(key, value)


@pytest.mark.parametrize(
    ("target_type", "strategy", "file_format", "partition_by"),
    [
        ("duckdb", "delete+insert", None, None),
        ("spark", "insert_overwrite", "parquet", ["flight_date"]),
    ],
)
def test_incremental_config_per_target(
    target_type: str, strategy: str, file_format: str | None, partition_by: list | None
) -> None:
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    for layer, model in DAILY_MODELS:
        config = {
            key: _render(_model_config(project, layer, model, "+" + key), target_type)
            for key in ("incremental_strategy", "file_format", "partition_by")
        }
        assert config == {
            "incremental_strategy": strategy,
            "file_format": file_format,
            "partition_by": partition_by,
        }, model
    # Only the daily models are partitioned (the others are full-refresh tables).
    assert _render(_model_config(project, "marts", "routes", "+partition_by"), "spark") is None


def test_duckdb_parse_gets_no_spark_config(dbt_parse: ParseRun) -> None:
    """Real dbt on the default target: the Spark-only configs render to nothing."""
    assert dbt_parse.run.returncode == 0, dbt_parse.run.output[-3000:]
    models = {
        (n["schema"], n["name"]): n["config"]
        for n in dbt_parse.run.manifest()["nodes"].values()
        if n["resource_type"] == "model"
    }
    for key in DAILY_MODELS:
        assert models[key]["incremental_strategy"] == "delete+insert"
        assert models[key].get("partition_by") is None
        assert models[key].get("file_format") is None


def test_profile_targets() -> None:
    profile = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())["runway"]
    assert profile["target"] == "{{ env_var('RUNWAY_TARGET', 'duckdb') }}"
    outputs = profile["outputs"]
    assert set(outputs) == {"duckdb", "lake", "spark"}
    # The file target's path expression is what the prepared manifest's partial parse keys on.
    assert outputs["duckdb"]["path"] == (
        "{{ env_var('RUNWAY_WAREHOUSE', env_var('RUNWAY_DATA_DIR', '../data')"
        " ~ '/warehouse.duckdb') }}"
    )
    lake = outputs["lake"]
    assert lake["type"] == "duckdb" and lake["database"] == "lake"
    (attach,) = lake["attach"]
    assert attach["alias"] == "lake" and attach["path"].startswith("ducklake:postgres:")
    assert "RUNWAY_LAKE_CATALOG" in attach["path"]
    assert "RUNWAY_LAKE_DATA_PATH" in attach["options"]["data_path"]
    assert lake["config_options"]["allow_unsigned_extensions"] is False
    spark = outputs["spark"]
    assert (spark["type"], spark["method"]) == ("spark", "session")
