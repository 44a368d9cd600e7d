"""Delay model: the champion, the latest model's metrics against its baselines, and predicted vs
actual delays per day."""

from __future__ import annotations

import streamlit as st

from dashboards import data, ui

BASELINES = {"base_rate": "Base rate", "logistic_regression": "Logistic regression"}

st.title("Delay model")
st.caption(
    "Probability that a flight departs 15+ minutes late, from what is known before departure."
)

champion = data.load("champion_model").iloc[0]
metrics = data.load("model_metrics")
if metrics.empty and ui.is_missing(champion["champion_version"]):
    st.info("No trained model in the serving snapshot yet. Run `make run` to train one.")
    st.stop()

champion_col, scored_col, trained_col = st.columns(3)
champion_col.metric(
    "Champion model version",
    ui.fmt_text(champion["champion_version"]),
    help="Registered version of `flight_delay` (alias `champion`) that scored the predictions.",
)
scored_col.metric(
    "Flights scored",
    ui.fmt_count(champion["scored_flights"]),
    help=f"Scored at {ui.fmt_timestamp(champion['scored_at'])} UTC.",
)
trained_col.metric(
    "Latest trained version",
    ui.fmt_text(champion["latest_trained_version"]),
    help=f"Trained at {ui.fmt_timestamp(champion['trained_at'])} UTC.",
)

st.subheader("Metrics vs baselines")
if metrics.empty:
    st.info("No model metrics in the serving snapshot.")
else:
    version = str(metrics["model_version"].iloc[0])
    if not ui.is_missing(champion["champion_version"]) and not metrics["is_champion"].iloc[0]:
        st.warning(
            f"Version {version} was trained last but did not replace champion "
            f"v{champion['champion_version']}; these are version {version}'s validation metrics."
        )
    st.caption(
        "On the validation days. roc_auc and pr_auc: higher is better; "
        "log_loss and brier: lower is better."
    )
    models = {"candidate": f"Model v{version}", **BASELINES}
    st.dataframe(
        metrics,
        hide_index=True,
        column_order=["metric", *models],
        column_config={
            "metric": st.column_config.TextColumn("Metric"),
            **{
                column: st.column_config.NumberColumn(label, format="%.4f")
                for column, label in models.items()
            },
        },
    )
    st.altair_chart(
        ui.grouped_bars(metrics, category="metric", columns=models, value_title="Value"),
        width="stretch",
    )

st.subheader("Predicted vs actual late share per day")
st.caption(
    "Departed flights only; predicted = mean predicted probability, actual = share that left "
    "15+ minutes late."
)
daily = data.load("predictions_vs_actuals")
if daily.empty:
    st.info("No scored flights in the serving snapshot yet.")
else:
    st.altair_chart(
        ui.comparison_series(
            daily,
            columns={
                "predicted_late_share": "Predicted",
                "actual_late_share": "Actual",
            },
            y_title="Late share",
            y_format=".0%",
        ),
        width="stretch",
    )
