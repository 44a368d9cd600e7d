{#
    'YYYY-MM-DD' text from integer year, month and day expressions, portably
    (no make_date / date_from_parts, no strftime). Cast it to date for a DATE.
#}
{% macro iso_date_string(year, month, day) -%}
    {{ dbt.concat([
        "cast(" ~ year ~ " as " ~ dbt.type_string() ~ ")",
        "'-'",
        "lpad(cast(" ~ month ~ " as " ~ dbt.type_string() ~ "), 2, '0')",
        "'-'",
        "lpad(cast(" ~ day ~ " as " ~ dbt.type_string() ~ "), 2, '0')",
    ]) }}
{%- endmacro %}
