{#
    The departure-delay bucket of a flight, for dashboards:
    'cancelled' (never departed), 'on time' (< 15 min late, early included),
    '15-59 min' and '60+ min'; NULL when departed but the delay is unknown.
#}
{% macro delay_bucket(dep_delay_minutes, is_cancelled) -%}
    case
        when {{ is_cancelled }} then 'cancelled'
        when {{ dep_delay_minutes }} is null then null
        when {{ dep_delay_minutes }} < 15 then 'on time'
        when {{ dep_delay_minutes }} < 60 then '15-59 min'
        else '60+ min'
    end
{%- endmacro %}
