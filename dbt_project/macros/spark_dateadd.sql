{#
    Overrides dbt-spark's spark__dateadd (dbt.dateadd on Spark; the root project comes first in
    dispatch to the `dbt` namespace). Its version pastes the interval unparenthesised into
    `interval * 60`, so dbt.dateadd('minute', 'a + b', x) computes a + b * 60, and it goes
    through unix seconds in the session time zone. timestampadd (Spark 3.3+) adds calendar
    units to the timestamp directly; the result is a TIMESTAMP, as dbt-spark's.
#}
{% macro spark__dateadd(datepart, interval, from_date_or_timestamp) -%}
    {%- set units = {
        'year': 'YEAR', 'quarter': 'QUARTER', 'month': 'MONTH', 'week': 'WEEK', 'day': 'DAY',
        'hour': 'HOUR', 'minute': 'MINUTE', 'second': 'SECOND',
        'millisecond': 'MILLISECOND', 'microsecond': 'MICROSECOND',
    } -%}
    {%- if datepart | lower not in units -%}
        {{ exceptions.raise_compiler_error("dateadd: unsupported datepart '" ~ datepart ~ "' on Spark") }}
    {%- endif -%}
    timestampadd(
        {{ units[datepart | lower] }},
        cast(({{ interval }}) as bigint),
        cast({{ from_date_or_timestamp }} as timestamp)
    )
{%- endmacro %}
