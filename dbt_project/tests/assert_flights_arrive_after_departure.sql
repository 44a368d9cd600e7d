-- Business rule: a flight arrives after it departs. Compared in UTC (origin and destination
-- are in different time zones), so it holds only once overnight arrivals roll to the next day
-- and both local times are converted with the right time zone. Flights without an arrival
-- or with a destination of unknown time zone are not checked.
select
    flight_id,
    departed_at,
    arrived_at,
    departed_utc_at,
    arrived_utc_at
from {{ ref('flights') }}
where
    arrived_utc_at is not null
    and departed_utc_at is not null
    and arrived_utc_at <= departed_utc_at
