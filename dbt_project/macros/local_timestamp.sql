{#
    A timestamp without time zone: `minutes` after midnight of the date `date_expression`
    (minutes may exceed 1440 or be negative: the day rolls accordingly).
#}
{% macro local_timestamp(date_expression, minutes) -%}
    cast(
        {{ dbt.dateadd('minute', minutes, 'cast(' ~ date_expression ~ ' as ' ~ dbt.type_timestamp() ~ ')') }}
        as {{ dbt.type_timestamp() }}
    )
{%- endmacro %}
