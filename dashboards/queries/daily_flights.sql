-- One row per flight date, all carriers and airports together.
-- on_time_share: share of departed flights that left less than 15 minutes late.
select
    flight_date,
    count(*) as flights,
    count(case when not is_cancelled then 1 end) as departed_flights,
    count(case when is_cancelled then 1 end) as cancelled_flights,
    count(case when is_departure_delayed_15 then 1 end) as delayed_15_flights,
    avg(
        case
            when is_departure_delayed_15 then 0.0
            when not is_departure_delayed_15 then 1.0
        end
    ) as on_time_share,
    avg(dep_delay_minutes) as avg_dep_delay_minutes
from marts.flights
group by flight_date
order by flight_date
