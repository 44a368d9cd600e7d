-- Our time zone conversion agrees with the source: the scheduled departure, read in the origin
-- airport's time zone, is the UTC time the source delivers (time_hour + minute), also across
-- the daylight saving time changes.
select
    flight_id,
    scheduled_departure_at,
    origin_timezone_name,
    scheduled_departure_utc_at
from {{ ref('int_flights_enriched') }}
where
    origin_timezone_name is null
    or {{ local_to_utc('scheduled_departure_at', 'origin_timezone_name') }}
    <> scheduled_departure_utc_at
