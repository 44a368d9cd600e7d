-- on_time_share is a share of departed flights: it must lie in [0, 1] (NULL only when no
-- flight departed that day).
select
    flight_date,
    carrier_code,
    departed_flights,
    on_time_share
from {{ ref('daily_carrier_performance') }}
where
    on_time_share < 0
    or on_time_share > 1
    or (on_time_share is null and departed_flights > 0)
