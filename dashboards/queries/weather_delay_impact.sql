-- How departure delays grow with bad weather at the origin airport: one row per weather factor
-- (visibility, wind_speed, precipitation) and bucket, best weather first (bucket_order 1).
-- delayed_15_share: share of departed flights that left 15+ minutes late.
select
    weather_factor,
    bucket_order,
    bucket_label,
    flights,
    departed_flights,
    delayed_15_flights,
    delayed_15_share,
    avg_dep_delay_minutes
from marts.weather_delay_impact
order by
    case weather_factor
        when 'visibility' then 1
        when 'wind_speed' then 2
        when 'precipitation' then 3
        else 4
    end,
    weather_factor,
    bucket_order
