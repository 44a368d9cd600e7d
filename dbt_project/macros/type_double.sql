{#
    A 64-bit floating point type. dbt.type_float() is 32-bit FLOAT on DuckDB and Spark,
    so dispatch: DOUBLE where the dialect has it, dbt.type_float() elsewhere
    (Postgres, Snowflake and BigQuery floats are already 64-bit).
#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'runway')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    {{ return(dbt.type_float()) }}
{%- endmacro %}

{% macro duckdb__type_double() -%}
    {{ return('double') }}
{%- endmacro %}

{% macro spark__type_double() -%}
    {{ return('double') }}
{%- endmacro %}
