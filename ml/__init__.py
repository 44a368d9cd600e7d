"""Framework-free ML for Runway: will a scheduled flight leave 15+ minutes late?

- `ml.features`: feature lists, label, polars -> pandas conversion
- `ml.split`: time-based train/validation split
- `ml.config`: `TrainConfig` (split, hyperparameters, evaluation, seed; imports nothing heavy)
- `ml.train`: `build_pipeline`, `train_and_evaluate` -> `TrainingResult`
- `ml.evaluate`: calibration table, permutation importance (on the validation set)
- `ml.plots`: ROC, calibration and importance figures (matplotlib, no pyplot)
- `ml.registry`: MLflow experiment, logging, registration, champion alias, `load_champion`
- `ml.predict`: `score` -> flight_id, flight_date, predicted_delay_probability

No Dagster or orchestration imports: functions take frames, paths and URIs as arguments.
"""
