-- Permutation importance of each feature (drop in validation ROC AUC when the feature is
-- shuffled) per trained model version: one row per (model_version, feature), most important first.
select
    model_version,
    feature,
    importance_mean,
    importance_std,
    row_number() over (
        partition by model_version
        order by importance_mean desc, feature
    ) as importance_rank
from ml.feature_importance
order by model_version, importance_rank
