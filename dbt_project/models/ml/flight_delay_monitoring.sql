{{ config(tags=['monitoring']) }}
{#
    How the delay model does, day by day: predictions (ml.flight_delay_predictions, written by
    the Python scoring asset) against what happened (marts.flights). One row per (flight_date,
    model_version). The quality figures use departed flights only (those with a label):
    - predicted_late_share / actual_late_share: mean predicted probability / observed share of
      15+ min departure delays;
    - brier_score: mean squared error of the probability against the 0/1 outcome;
    - roc_auc: probability that a random late flight is scored above a random on-time one,
      from the Mann-Whitney rank sum (ties get their average rank); NULL when the day has
      only late or only on-time flights.
#}
with

predictions as (

    select * from {{ source('ml_outputs', 'flight_delay_predictions') }}

),

flights as (

    select * from {{ ref('flights') }}

),

scored as (

    select
        predictions.flight_date,
        predictions.model_version,
        predictions.flight_id,
        cast(predictions.predicted_delay_probability as {{ type_double() }}) as probability,
        flights.is_departure_delayed_15

    from predictions
    left join flights
        on predictions.flight_id = flights.flight_id

),

labelled as (

    select
        flight_date,
        model_version,
        probability,
        case when is_departure_delayed_15 then 1 else 0 end as is_late

    from scored
    where is_departure_delayed_15 is not null

),

ranked as (

    select
        labelled.*,
        -- average rank of the probability within the day (ties share their mean rank)
        rank() over (
            partition by flight_date, model_version order by probability
        )
        + (
            count(*) over (partition by flight_date, model_version, probability) - 1
        ) / 2.0 as probability_rank

    from labelled

),

outcomes as (

    select
        flight_date,
        model_version,
        count(*) as departed_flights,
        sum(is_late) as late_flights,
        avg(probability) as predicted_late_share,
        avg(cast(is_late as {{ type_double() }})) as actual_late_share,
        avg((probability - is_late) * (probability - is_late)) as brier_score,
        sum(case when is_late = 1 then probability_rank else 0 end) as late_rank_sum

    from ranked
    group by flight_date, model_version

),

volumes as (

    select
        flight_date,
        model_version,
        count(*) as scored_flights

    from scored
    group by flight_date, model_version

),

final as (

    select
        volumes.flight_date,
        cast(volumes.model_version as {{ dbt.type_string() }}) as model_version,
        cast(volumes.scored_flights as {{ dbt.type_bigint() }}) as scored_flights,
        cast(coalesce(outcomes.departed_flights, 0) as {{ dbt.type_bigint() }})
            as departed_flights,
        cast(outcomes.predicted_late_share as {{ type_double() }}) as predicted_late_share,
        cast(outcomes.actual_late_share as {{ type_double() }}) as actual_late_share,
        cast(
            case
                when outcomes.late_flights > 0
                    and outcomes.late_flights < outcomes.departed_flights
                    then (
                        outcomes.late_rank_sum
                        - outcomes.late_flights * (outcomes.late_flights + 1) / 2.0
                    )
                    / (
                        cast(outcomes.late_flights as {{ type_double() }})
                        * (outcomes.departed_flights - outcomes.late_flights)
                    )
            end as {{ type_double() }}
        ) as roc_auc,
        cast(outcomes.brier_score as {{ type_double() }}) as brier_score

    from volumes
    left join outcomes
        on
            volumes.flight_date = outcomes.flight_date
            and volumes.model_version = outcomes.model_version

)

select * from final
