{#
    Minutes after local midnight of an HHMM clock-time integer: 517 -> 317, 2400 -> 1440
    (2400 is midnight at the end of the day, so it lands on the next day once added to a
    date). NULL stays NULL. Portable: floor, cast and % only.
#}
{% macro hhmm_to_minutes(hhmm) -%}
    (cast(floor({{ hhmm }} / 100) as {{ dbt.type_int() }}) * 60 + {{ hhmm }} % 100)
{%- endmacro %}
