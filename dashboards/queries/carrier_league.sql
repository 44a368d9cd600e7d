-- Carrier league table over the whole snapshot: one row per carrier, best on-time share first.
-- Shares are recombined from the daily counts (not averaged over days); the average departure
-- delay is the daily averages weighted by departed flights.
with per_carrier as (
    select
        carrier_code,
        carrier_name,
        cast(sum(flights) as bigint) as flights,
        cast(sum(departed_flights) as bigint) as departed_flights,
        cast(sum(cancelled_flights) as bigint) as cancelled_flights,
        cast(sum(delayed_15_flights) as bigint) as delayed_15_flights,
        sum(avg_dep_delay_minutes * departed_flights)
        / nullif(
            sum(case when avg_dep_delay_minutes is not null then departed_flights end), 0
        ) as avg_dep_delay_minutes
    from marts.daily_carrier_performance
    group by carrier_code, carrier_name
),

shares as (
    select
        *,
        1.0 * (departed_flights - delayed_15_flights)
        / nullif(departed_flights, 0) as on_time_share,
        1.0 * cancelled_flights / nullif(flights, 0) as cancelled_share
    from per_carrier
)

select
    row_number() over (
        order by on_time_share desc nulls last, carrier_code
    ) as league_rank,
    carrier_code,
    carrier_name,
    flights,
    departed_flights,
    cancelled_flights,
    delayed_15_flights,
    on_time_share,
    cancelled_share,
    avg_dep_delay_minutes
from shares
order by league_rank
