-- Predicted vs actual share of flights departing 15+ minutes late, one row per flight date.
-- Uses each flight's most recent prediction and only departed flights (those with a label), so
-- both shares are over the same flights.
with latest_predictions as (
    select
        flight_id,
        predicted_delay_probability,
        row_number() over (
            partition by flight_id
            order by scored_at desc, model_version desc
        ) as recency
    from ml.flight_delay_predictions
)

select
    f.flight_date,
    count(*) as departed_flights,
    avg(p.predicted_delay_probability) as predicted_late_share,
    avg(case when f.is_departure_delayed_15 then 1.0 else 0.0 end) as actual_late_share
from latest_predictions as p
inner join marts.flights as f on p.flight_id = f.flight_id
where p.recency = 1 and f.is_departure_delayed_15 is not null
group by f.flight_date
order by f.flight_date
