"""Pipeline health: each asset's last materialization, row count and failing checks at publish
time; what the ingest loaded, rejected and quarantined; the runs that failed (live)."""

from __future__ import annotations

import streamlit as st

from dashboards import data, ui

st.title("Pipeline health")
st.caption(
    "As of the serving snapshot's publication: the pipeline writes the warehouse, then publishes "
    "this read-only copy. The sidebar filters do not apply here."
)

assets_col, failing_col, rejected_col, quarantined_col, failed_runs_col = st.columns(5)

st.subheader("Assets")
status = data.optional_load("asset_status")
if status is not None:
    failing = status[status["has_failed_checks"]]
    assets_col.metric("Assets", ui.fmt_count(len(status)))
    failing_col.metric(
        "Failing checks",
        ui.fmt_count(status["failed_checks"].fillna(0).sum()),
        help=f"On {len(failing)} asset(s)." if len(failing) else "Every check passed.",
    )
    if status.empty:
        st.info("No asset status in the serving snapshot.")
    else:
        if len(failing):
            st.error(
                "Failing checks: "
                + "; ".join(
                    f"`{row.asset_key}`: {ui.fmt_text(row.failed_check_names)}"
                    for row in failing.itertuples()
                ),
                icon=":material/error:",
            )
        else:
            st.success("Every asset check passed.", icon=":material/check_circle:")
        st.dataframe(
            status,
            hide_index=True,
            column_order=[
                "asset_key",
                "last_materialized_at",
                "row_count",
                "failed_checks",
                "failed_check_names",
                "last_run_id",
            ],
            column_config={
                "asset_key": st.column_config.TextColumn("Asset"),
                "last_materialized_at": st.column_config.DatetimeColumn(
                    "Last materialized (UTC)", format="YYYY-MM-DD HH:mm"
                ),
                "row_count": st.column_config.NumberColumn("Rows", format="localized"),
                "failed_checks": st.column_config.NumberColumn("Failing checks", format="%d"),
                "failed_check_names": st.column_config.TextColumn("Which"),
                "last_run_id": st.column_config.TextColumn("Run"),
            },
        )

st.subheader("Ingest")
audit = data.optional_load("load_audit_summary")
if audit is not None:
    if audit.empty:
        st.info("Nothing loaded yet according to the load audit.")
    else:
        st.dataframe(
            audit,
            hide_index=True,
            column_config={
                "entity": st.column_config.TextColumn("Entity"),
                "files": st.column_config.NumberColumn("Files", format="localized"),
                "first_partition_date": st.column_config.DateColumn("First day"),
                "last_partition_date": st.column_config.DateColumn("Last day"),
                "rows_in_file": st.column_config.NumberColumn("Rows in files", format="localized"),
                "rows_loaded": st.column_config.NumberColumn("Rows loaded", format="localized"),
                "rows_rejected": st.column_config.NumberColumn("Rejected", format="localized"),
                "files_with_rejects": st.column_config.NumberColumn(
                    "Files with rejects", format="localized"
                ),
                "file_bytes": st.column_config.NumberColumn("Bytes", format="compact"),
                "last_loaded_at": st.column_config.DatetimeColumn(
                    "Last loaded (UTC)", format="YYYY-MM-DD HH:mm"
                ),
            },
        )

st.subheader("Rejected rows")
rejected = data.optional_load("rejected_rows")
if rejected is not None:
    rejected_col.metric(
        "Rejected rows",
        ui.fmt_count(rejected["total_rejected_rows"].iloc[0] if len(rejected) else 0),
        help="Rows of landing files that did not match the declared schema (kept, not loaded).",
    )
    if rejected.empty:
        st.success("No rejected rows.", icon=":material/check_circle:")
    else:
        total = int(rejected["total_rejected_rows"].iloc[0])
        if total > len(rejected):
            st.caption(f"The newest {len(rejected):,} of {total:,}.")
        st.dataframe(
            rejected.drop(columns=["total_rejected_rows"]),
            hide_index=True,
            column_config={
                "rejected_at": st.column_config.DatetimeColumn(
                    "Rejected at (UTC)", format="YYYY-MM-DD HH:mm"
                ),
            },
        )

st.subheader("Quarantined files")
quarantined = data.optional_load("quarantined_files")
if quarantined is not None:
    quarantined_col.metric(
        "Quarantined files",
        ui.fmt_count(len(quarantined)),
        help="Landing files set aside whole (for instance, a header that does not match).",
    )
    if quarantined.empty:
        st.success("No quarantined files.", icon=":material/check_circle:")
    else:
        st.dataframe(
            quarantined,
            hide_index=True,
            column_config={
                "quarantined_at": st.column_config.DatetimeColumn(
                    "Quarantined at (UTC)", format="YYYY-MM-DD HH:mm"
                ),
            },
        )

st.subheader("Failed runs")
failures = data.run_failures()
failed_runs_col.metric(
    "Failed runs",
    ui.fmt_count(0 if failures is None else len(failures)),
    help="Runs that failed, recorded by the run_failure_alerts sensor as they happen.",
)
if failures is None or failures.empty:
    st.success("No failed runs recorded.", icon=":material/check_circle:")
else:
    newest = failures.iloc[0]
    what = newest.assets if not ui.is_missing(newest.assets) else str(newest.error).splitlines()[0]
    st.warning(
        f"{len(failures):,} failed run(s). The latest, `{newest.job_name}` at "
        f"{newest.failed_at:%Y-%m-%d %H:%M} UTC: {what}.",
        icon=":material/warning:",
    )
    st.dataframe(
        failures,
        hide_index=True,
        column_config={
            "failed_at": st.column_config.DatetimeColumn(
                "Failed at (UTC)", format="YYYY-MM-DD HH:mm"
            ),
            "job_name": st.column_config.TextColumn("Job"),
            "assets": st.column_config.TextColumn("Assets"),
            "partitions": st.column_config.TextColumn("Days"),
            "failed_steps": st.column_config.TextColumn("Failed steps"),
            "error": st.column_config.TextColumn("Error", width="large"),
            "run_id": st.column_config.TextColumn("Run"),
        },
    )
