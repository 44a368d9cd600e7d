-- Validation metrics of the latest trained model next to its two baselines: one row per metric.
-- Columns candidate / base_rate / logistic_regression are the values of ml.model_metrics.model.
-- is_champion: whether this version is the champion (it scored the current predictions).
with latest_training as (
    select model_version
    from ml.model_metrics
    order by trained_at desc, model_version desc
    limit 1
),

champion as (
    select model_version
    from ml.flight_delay_predictions
    order by scored_at desc, model_version desc
    limit 1
)

select
    m.model_version,
    max(m.trained_at) as trained_at,
    m.metric,
    max(case when m.model = 'candidate' then m.value end) as candidate,
    max(case when m.model = 'base_rate' then m.value end) as base_rate,
    max(case when m.model = 'logistic_regression' then m.value end) as logistic_regression,
    coalesce(m.model_version = (select model_version from champion), false) as is_champion
from ml.model_metrics as m
where m.model_version = (select model_version from latest_training)
group by m.model_version, m.metric
order by
    case m.metric
        when 'roc_auc' then 1
        when 'pr_auc' then 2
        when 'log_loss' then 3
        when 'brier' then 4
        else 5
    end,
    m.metric
