-- Daily on-time share per carrier: one row per (flight_date, carrier_code).
select
    flight_date,
    carrier_code,
    carrier_name,
    flights,
    departed_flights,
    delayed_15_flights,
    on_time_share,
    avg_dep_delay_minutes
from marts.daily_carrier_performance
order by flight_date, carrier_code
