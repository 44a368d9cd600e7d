{#
    Day of week of a date as an integer, 0 = Sunday ... 6 = Saturday, on every adapter.
#}
{% macro day_of_week(date_expression) -%}
    {{ return(adapter.dispatch('day_of_week', 'runway')(date_expression)) }}
{%- endmacro %}

{% macro default__day_of_week(date_expression) -%}
    extract(dow from {{ date_expression }})
{%- endmacro %}

{% macro duckdb__day_of_week(date_expression) -%}
    dayofweek({{ date_expression }})
{%- endmacro %}

{# Spark's dayofweek is 1 = Sunday ... 7 = Saturday. #}
{% macro spark__day_of_week(date_expression) -%}
    (dayofweek({{ date_expression }}) - 1)
{%- endmacro %}
