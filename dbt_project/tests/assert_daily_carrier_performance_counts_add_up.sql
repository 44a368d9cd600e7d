-- Every scheduled flight either departed or was cancelled, and delayed flights departed.
select
    flight_date,
    carrier_code,
    flights,
    cancelled_flights,
    departed_flights,
    delayed_15_flights
from {{ ref('daily_carrier_performance') }}
where
    flights <> cancelled_flights + departed_flights
    or delayed_15_flights > departed_flights
