"""Static check: the dbt project's SQL stays portable across DuckDB, DuckLake and Spark.

The same models run on three targets (`RUNWAY_TARGET`: duckdb, lake, spark). DuckDB accepts
many idioms that Spark rejects, or worse, accepts with another meaning: on Spark `"col"` is a
string literal, so `where "carrier" = 'AA'` compares two constants and silently returns no rows.
This checker finds such idioms in the project's SQL (models, macros, tests, analyses, snapshots)
and in the column types of its YAML contracts, and says what to write instead.

How a file is read, so that only SQL that reaches the engine is judged:
- Jinja comments, SQL comments (`--`, `/* */`) and the contents of SQL string literals are
  blanked (a quoted word in a comment is not an error);
- Jinja expressions and statements are blanked too, except the contents of their string
  literals, which are SQL fragments (`"cast(" ~ x ~ " as "`) and are checked like SQL;
- dialect implementations of a dispatched macro (`duckdb__x`, `spark__x`, ...) are exempt:
  that is where dialect idioms belong. `default__x` is exempt only when both `duckdb__x` and
  `spark__x` exist (otherwise the default runs on one of our targets).

Blanking keeps every character's offset (newlines stay), so findings carry the real
line:column of the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SQL_DIRS = ("models", "macros", "tests", "analyses", "snapshots")
YAML_DIRS = ("models", "snapshots", "seeds")

CROSS_DB = "dbt's cross-database macros"


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: re.Pattern[str]
    fix: str


def _rule(name: str, pattern: str, fix: str) -> Rule:
    return Rule(name, re.compile(pattern, re.IGNORECASE), fix)


RULES: tuple[Rule, ...] = (
    _rule(
        "double-quoted identifier",
        r'"[^"\n]*"?',
        'Spark reads "x" as a string literal (wrong data, no error): write the identifier '
        "unquoted, or {{ adapter.quote('x') }} when it must be quoted",
    ),
    _rule(
        ":: cast",
        r"::\s*[a-z_]\w*",
        "cast(x as {{ dbt.type_int() }}) / {{ dbt.cast('x', dbt.type_string()) }} "
        "(Spark 3 has no ::)",
    ),
    _rule(
        "DuckDB-only type",
        r"\bvarchar\b(?!\s*\()|\b(?:u?hugeint|ubigint|uinteger|usmallint|utinyint|timestamptz)\b",
        "{{ dbt.type_string() }} / {{ dbt.type_bigint() }} / {{ dbt.type_timestamp() }} "
        "(Spark needs varchar(n) and has no unsigned or tz-aware types)",
    ),
    _rule(
        "strftime/strptime",
        r"\bstr[fp]time\s*\(",
        "{{ dbt.date_trunc(...) }}, {{ iso_date_string(y, m, d) }} or a macro dispatched "
        "to duckdb__/spark__ (Spark's date_format takes Java patterns, not %Y-%m-%d)",
    ),
    _rule(
        "epoch",
        r"\bepoch(?:_ms|_us|_ns)?\s*\(|\bto_timestamp\s*\(",
        "{{ dbt.datediff(\"cast('1970-01-01' as timestamp)\", 'ts', 'second') }} or a "
        "dispatched macro (Spark: unix_timestamp; to_timestamp means different things)",
    ),
    _rule(
        "file reader",
        r"\b(?:read_csv(?:_auto)?|read_parquet|read_json(?:_auto|_objects)?|read_ndjson"
        r"|parquet_scan|read_text|read_blob|glob)\s*\(|\bfrom\s+'",
        "{{ source('...', '...') }}: the Dagster ingest assets load files into raw tables",
    ),
    _rule(
        "star modifier",
        r"\*\s*(?:exclude|replace|rename)\b|\bcolumns\s*\(",
        "list the columns explicitly (Spark has no SELECT * EXCLUDE/REPLACE/COLUMNS())",
    ),
    _rule(
        "list/struct function",
        r"\b(?:list|struct|map)_\w+\s*\(|\blist\s*\(|\bunnest\s*\(|\bstring_agg\s*\("
        r"|\bgroup_concat\s*\(|\b(?:string|str)_split(?:_regex)?\s*\(",
        "{{ dbt.listagg(...) }}, {{ dbt.array_agg(...) }}, {{ dbt.array_construct(...) }}, "
        "{{ dbt.split_part(...) }} or a dispatched macro",
    ),
    _rule(
        "qualify",
        r"\bqualify\b",
        "compute the window function in a CTE and filter it with where (Spark 3 has no QUALIFY)",
    ),
    _rule(
        "date_diff",
        r"\b(?:date_diff|datediff|date_sub|datesub)\s*\(",
        "{{ dbt.datediff('start', 'end', 'day') }}: DuckDB's date_diff(part, start, end) and "
        "Spark's datediff(end, start) (days only) take their arguments in other orders",
    ),
    _rule(
        "date_add",
        r"\b(?:date_add|dateadd)\s*\(|\binterval\b",
        "{{ dbt.dateadd('minute', 'n', 'ts') }} (Spark's date_add(date, days) only adds days)",
    ),
    _rule(
        "date_trunc/date_part",
        r"\b(?:date_trunc|datetrunc|date_part|datepart)\s*\(",
        "{{ dbt.date_trunc('day', 'ts') }}, or extract(part from x)",
    ),
    _rule(
        "day of week",
        r"\b(?:dayofweek|isodow|dayname|weekday)\s*\(|\bextract\s*\(\s*(?:dow|isodow|dayofweek)\b",
        "{{ day_of_week('d') }} (Runway, dispatched): DuckDB counts 0 = Sunday, "
        "Spark's dayofweek and extract(dow) 1 = Sunday",
    ),
    _rule(
        "time zone",
        r"\btimezone\s*\(|\bat\s+time\s+zone\b|\b(?:to|from)_utc_timestamp\s*\(",
        "{{ local_to_utc('ts', 'tz') }} (Runway, dispatched)",
    ),
    _rule(
        "ilike",
        r"\bilike\b",
        "lower(x) like lower('pattern')",
    ),
    _rule(
        "regexp",
        r"\bregexp_(?:matches|replace|full_match|split_to_array)\s*\(|\brlike\b",
        "a dispatched macro: DuckDB's regexp_replace replaces the first match unless given "
        "'g', Spark's every match; regexp_matches is DuckDB-only",
    ),
    _rule(
        "hash",
        r"\bhash\s*\(",
        "{{ dbt.hash('x') }} (hash() gives different numbers on each engine)",
    ),
    _rule(
        "integer division //",
        r"//",
        "cast(floor(a / b) as {{ dbt.type_int() }})",
    ),
    _rule(
        "by all / distinct on / union by name",
        r"\b(?:group|order)\s+by\s+all\b|\bdistinct\s+on\s*\(|\bunion\s+(?:all\s+)?by\s+name\b",
        "list the columns; for DISTINCT ON, row_number() in a CTE",
    ),
    _rule(
        "pivot",
        r"\b(?:un)?pivot\b",
        "aggregates over case when (the PIVOT syntaxes differ)",
    ),
    _rule(
        "arg_max/arg_min",
        r"\barg_?(?:max|min)\s*\(",
        "max_by/min_by (DuckDB and Spark) or row_number() in a CTE",
    ),
    _rule(
        "generate_series",
        r"\bgenerate_series\s*\(",
        "{{ dbt.generate_series(n) }}",
    ),
    _rule(
        "now()",
        r"\bnow\s*\(\s*\)|\bget_current_timestamp\s*\(",
        "{{ dbt.current_timestamp() }}",
    ),
)

# Column types of YAML contracts (`data_type:`): the contract check casts NULL to each type on
# the target, so a DuckDB-only spelling fails the build on Spark.
YAML_TYPE_RULE = Rule(
    "contract data_type",
    re.compile(
        r"^\s*data_type:\s*[\"']?(varchar|text|u?hugeint|ubigint|uinteger|usmallint|utinyint"
        r"|timestamptz|timestamp with time zone|blob)[\"']?\s*(?:#.*)?$",
        re.IGNORECASE | re.MULTILINE,
    ),
    "data_type: string (DuckDB reads it as VARCHAR, Spark as STRING; Spark needs varchar(n))",
)
YAML_EXTERNAL_RULE = Rule(
    "external_location",
    re.compile(r"^\s*external_location:", re.IGNORECASE | re.MULTILINE),
    "a raw table loaded by Dagster: dbt-duckdb's external_location (read_csv/read_parquet) "
    "exists on DuckDB only",
)


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    column: int
    rule: str
    text: str
    fix: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.rule}: `{self.text}` -> {self.fix}"


# --- blanking ---------------------------------------------------------------------------------


def _blank(text: str) -> str:
    """Spaces for every character but newlines (offsets and line numbers are kept)."""
    return re.sub(r"[^\n]", " ", text)


def _end_of(text: str, start: int, closing: str) -> int:
    """Index just past ``closing`` found from ``start`` (end of text when it never comes)."""
    found = text.find(closing, start)
    return len(text) if found < 0 else found + len(closing)


def _sql_string_end(text: str, start: int) -> int:
    """``text[start]`` opens a SQL string: index just past its closing quote ('' escapes)."""
    i = start + 1
    while i < len(text):
        if text[i] == "'":
            if i + 1 < len(text) and text[i + 1] == "'":
                i += 2
                continue
            return i + 1
        i += 1
    return len(text)


def _mask_jinja_tag(text: str, start: int, closing: str) -> tuple[str, int]:
    """Blank a `{{ }}`/`{% %}` tag from ``start``, keeping its string literals' SQL checked."""
    out: list[str] = []
    i = start
    while i < len(text):
        if text.startswith(closing, i):
            out.append(" " * len(closing))
            return "".join(out), i + len(closing)
        ch = text[i]
        if ch in "'\"":
            j = i + 1
            while j < len(text) and text[j] != ch and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            content = text[i + 1 : min(j, len(text))]
            out.append(" " + mask_sql(content, jinja=False))
            if j < len(text) and text[j] == ch:
                out.append(" ")
                j += 1
            i = j
            continue
        out.append("\n" if ch == "\n" else " ")
        i += 1
    return "".join(out), len(text)


def mask_sql(text: str, jinja: bool = True) -> str:
    """``text`` with comments, string contents and Jinja code blanked (same length)."""
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        two = text[i : i + 2]
        if jinja and two == "{#":
            end = _end_of(text, i + 2, "#}")
            out.append(_blank(text[i:end]))
            i = end
        elif jinja and two in ("{{", "{%"):
            masked, end = _mask_jinja_tag(text, i + 2, "}}" if two == "{{" else "%}")
            out.append("  " + masked)
            i = end
        elif two == "--":
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(_blank(text[i:end]))
            i = end
        elif two == "/*":
            end = _end_of(text, i + 2, "*/")
            out.append(_blank(text[i:end]))
            i = end
        elif text[i] == "'":
            end = _sql_string_end(text, i)
            closed = end <= n and text[end - 1] == "'" and end - 1 > i
            inner = text[i + 1 : end - 1] if closed else text[i + 1 : end]
            out.append("'" + _blank(inner) + ("'" if closed else ""))
            i = end
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


# --- exempt regions: dialect implementations of dispatched macros --------------------------------

_MACRO_START = re.compile(r"\{%-?\s*macro\s+(\w+)\s*\(")
_MACRO_END = re.compile(r"\{%-?\s*endmacro\b[^%]*-?%\}")


def _macro_spans(text: str) -> list[tuple[str, int, int]]:
    """(name, start, end) of each `{% macro %}` ... `{% endmacro %}` block."""
    spans = []
    for match in _MACRO_START.finditer(text):
        end = _MACRO_END.search(text, match.end())
        spans.append((match.group(1), match.start(), end.end() if end else len(text)))
    return spans


def exempt_spans(text: str, project_macro_names: Iterable[str] = ()) -> list[tuple[int, int]]:
    """Offsets of dialect implementations (`duckdb__x`, `spark__x`, ...) in ``text``.

    ``default__x`` counts as a dialect implementation only when ``duckdb__x`` and ``spark__x``
    both exist (in this file or among ``project_macro_names``): then it never runs on ours.
    """
    no_comments = re.sub(r"\{#.*?#\}", lambda m: _blank(m.group(0)), text, flags=re.DOTALL)
    spans = _macro_spans(no_comments)
    names = set(project_macro_names) | {name for name, _, _ in spans}
    exempt = []
    for name, start, end in spans:
        prefix, sep, base = name.partition("__")
        if not sep or not prefix or not base:
            continue
        if prefix != "default" or {f"duckdb__{base}", f"spark__{base}"} <= names:
            exempt.append((start, end))
    return exempt


# --- checking ---------------------------------------------------------------------------------


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def check_sql(
    text: str, path: str = "<sql>", project_macro_names: Iterable[str] = ()
) -> list[Finding]:
    """Non-portable idioms in one SQL/Jinja file's text."""
    masked = mask_sql(text)
    exempt = exempt_spans(text, project_macro_names)
    findings = []
    for rule in RULES:
        for match in rule.pattern.finditer(masked):
            if any(start <= match.start() < end for start, end in exempt):
                continue
            line, column = _line_col(text, match.start())
            snippet = text[match.start() : match.end()].strip()
            findings.append(Finding(path, line, column, rule.name, snippet, rule.fix))
    return sorted(findings, key=lambda f: (f.line, f.column, f.rule))


def check_yaml(text: str, path: str = "<yaml>") -> list[Finding]:
    """Non-portable contract types and DuckDB-only source locations in one YAML file."""
    findings = []
    for rule in (YAML_TYPE_RULE, YAML_EXTERNAL_RULE):
        for match in rule.pattern.finditer(text):
            offset = match.start() + len(match.group(0)) - len(match.group(0).lstrip())
            line, column = _line_col(text, offset)
            findings.append(
                Finding(path, line, column, rule.name, match.group(0).strip(), rule.fix)
            )
    return sorted(findings, key=lambda f: (f.line, f.column))


def _files(project_dir: Path, dirs: tuple[str, ...], suffixes: tuple[str, ...]) -> list[Path]:
    return sorted(
        path
        for d in dirs
        if (project_dir / d).is_dir()
        for path in (project_dir / d).rglob("*")
        if path.suffix in suffixes and path.is_file()
    )


def check_project(project_dir: Path) -> list[Finding]:
    """Every finding in the dbt project at ``project_dir`` (paths relative to its parent)."""
    sql_files = _files(project_dir, SQL_DIRS, (".sql",))
    macro_names = {name for path in sql_files for name, _, _ in _macro_spans(path.read_text())}
    findings: list[Finding] = []
    for path in sql_files:
        rel = str(path.relative_to(project_dir.parent))
        findings += check_sql(path.read_text(), rel, macro_names)
    for path in _files(project_dir, YAML_DIRS, (".yml", ".yaml")):
        findings += check_yaml(path.read_text(), str(path.relative_to(project_dir.parent)))
    return findings


def main() -> int:
    project_dir = Path(__file__).resolve().parents[2] / "dbt_project"
    findings = check_project(project_dir)
    for finding in findings:
        print(finding)
    print(f"{len(findings)} non-portable idiom(s)")
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
