{#
    The date window of an incremental run: `min_date` (inclusive) and `max_date` (exclusive),
    ISO dates, for the days [min_date, max_date) (a Dagster partition's time window).
    By hand: --vars '{"min_date": "2013-01-05", "max_date": "2013-01-06"}'.
    Dagster passes the environment variables RUNWAY_DBT_MIN_DATE / RUNWAY_DBT_MAX_DATE instead:
    new --vars force dbt to re-parse the whole project (≈ 5 s per call here), while a changed
    environment variable re-parses only the files that read it (partial parsing).
    A var, even an empty one, wins over the environment. Either bound may be omitted; with neither, the window is
    everything.
#}
{% macro date_window_bound(name) -%}
    {%- set value = var(name, none) -%}
    {#- A var set to '' means "no bound" (the unit tests do that), not "ask the environment". -#}
    {%- if value is none -%}
        {%- set value = env_var('RUNWAY_DBT_' ~ (name | upper), '') -%}
    {%- endif -%}
    {%- if value is none or value == '' -%}
        {{ return(none) }}
    {%- endif -%}
    {#- Reject anything but an ISO date before it reaches SQL. -#}
    {%- set parsed = modules.datetime.date.fromisoformat(value | string) -%}
    {{ return(parsed.isoformat()) }}
{%- endmacro %}

{# A SQL condition: `column` lies in the window ('1 = 1' when no window is set). #}
{% macro date_window_filter(column) -%}
    {%- set min_date = date_window_bound('min_date') -%}
    {%- set max_date = date_window_bound('max_date') -%}
    {%- set conditions = [] -%}
    {%- if min_date is not none -%}
        {%- do conditions.append(column ~ " >= cast('" ~ min_date ~ "' as date)") -%}
    {%- endif -%}
    {%- if max_date is not none -%}
        {%- do conditions.append(column ~ " < cast('" ~ max_date ~ "' as date)") -%}
    {%- endif -%}
    {{ conditions | join(' and ') if conditions else '1 = 1' }}
{%- endmacro %}

{#
    incremental_predicates for a daily incremental model: limits the delete of delete+insert
    to the window (on top of its unique_key, the date). Empty when no window is set.
#}
{% macro date_window_predicates(column) -%}
    {%- set min_date = date_window_bound('min_date') -%}
    {%- set max_date = date_window_bound('max_date') -%}
    {%- if min_date is none and max_date is none -%}
        {{ return([]) }}
    {%- endif -%}
    {{ return([date_window_filter(column)]) }}
{%- endmacro %}
