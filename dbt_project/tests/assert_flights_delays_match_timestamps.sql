-- The local timestamps agree with the delays the source reports: actual minus scheduled
-- departure is dep_delay, actual minus scheduled arrival is arr_delay. A wrong day roll-over
-- (past midnight, 2400, overnight arrival) shows up here as a 1440-minute gap.
select
    flight_id,
    scheduled_departure_at,
    departed_at,
    dep_delay_minutes,
    scheduled_arrival_at,
    arrived_at,
    arr_delay_minutes
from {{ ref('flights') }}
where
    (
        departed_at is not null
        and dep_delay_minutes is not null
        and {{ dbt.datediff('scheduled_departure_at', 'departed_at', 'minute') }}
        <> dep_delay_minutes
    )
    or (
        arrived_at is not null
        and arr_delay_minutes is not null
        and {{ dbt.datediff('scheduled_arrival_at', 'arrived_at', 'minute') }}
        <> arr_delay_minutes
    )
