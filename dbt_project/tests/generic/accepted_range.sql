{#
    Fails for every row whose value is outside [min_value, max_value] (bounds inclusive;
    either bound may be omitted). NULLs pass: combine with not_null when needed.
#}
{% test accepted_range(model, column_name, min_value=none, max_value=none) %}

select {{ column_name }}
from {{ model }}
where
    1 = 0
    {%- if min_value is not none %}
    or {{ column_name }} < {{ min_value }}
    {%- endif %}
    {%- if max_value is not none %}
    or {{ column_name }} > {{ max_value }}
    {%- endif %}

{% endtest %}
