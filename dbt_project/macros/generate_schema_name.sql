{#
    Use a model's custom schema as is: `staging`, `intermediate`, `marts`, `ml`
    (dbt's default would prefix the target schema, giving `main_marts`).
    Nodes without a custom schema land in the target schema.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
