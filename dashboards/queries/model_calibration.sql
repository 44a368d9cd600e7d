-- Calibration of each trained model version on its validation set: one row per
-- (model_version, bin), bins of predicted probability 1-10. A calibrated model has
-- observed_rate close to mean_predicted in every bin.
select
    model_version,
    bin,
    mean_predicted,
    observed_rate,
    flights
from ml.model_calibration
order by model_version, bin
