{#
    Converts a local wall-clock timestamp (without time zone) observed in the IANA time zone
    `timezone_expression` (e.g. 'America/Los_Angeles', a column or a quoted literal) to the
    UTC wall-clock timestamp (without time zone). NULL when either argument is NULL.
    Dispatched: each dialect has its own time zone functions.
#}
{% macro local_to_utc(timestamp_expression, timezone_expression) -%}
    {{ return(adapter.dispatch('local_to_utc', 'runway')(timestamp_expression, timezone_expression)) }}
{%- endmacro %}

{# Postgres and friends: `ts at time zone tz` reads ts as local time in tz (timestamptz),
   `at time zone 'UTC'` turns that back into UTC wall-clock time. #}
{% macro default__local_to_utc(timestamp_expression, timezone_expression) -%}
    (({{ timestamp_expression }} at time zone {{ timezone_expression }}) at time zone 'UTC')
{%- endmacro %}

{# DuckDB (ICU, bundled with the Python package): timezone(tz, timestamp) reads the timestamp
   in tz and gives a timestamptz; timezone('UTC', timestamptz) gives UTC wall-clock time. #}
{% macro duckdb__local_to_utc(timestamp_expression, timezone_expression) -%}
    timezone('UTC', timezone({{ timezone_expression }}, {{ timestamp_expression }}))
{%- endmacro %}

{% macro spark__local_to_utc(timestamp_expression, timezone_expression) -%}
    to_utc_timestamp({{ timestamp_expression }}, {{ timezone_expression }})
{%- endmacro %}
