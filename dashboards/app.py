"""Runway dashboards: the Streamlit entrypoint (`streamlit run dashboards/app.py`).

One file per page in `dashboards/views/`; pages only lay out and get their data from
`dashboards.data`, which reads only the serving snapshot. The sidebar filters are drawn here,
before the page, so that they keep their state when the user switches pages.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboards import data, filters, ui

PAGES_DIR = Path(__file__).resolve().parent / "views"

st.set_page_config(page_title="Runway · NYC flights 2013", page_icon="✈️", layout="wide")

pages = {
    "Flights": [
        st.Page(
            PAGES_DIR / "overview.py", title="Overview", icon=":material/dashboard:", default=True
        ),
        st.Page(PAGES_DIR / "carriers.py", title="Carriers", icon=":material/flight:"),
        st.Page(
            PAGES_DIR / "airports_routes.py",
            title="Airports & routes",
            icon=":material/travel_explore:",
        ),
        st.Page(PAGES_DIR / "weather.py", title="Weather", icon=":material/thunderstorm:"),
    ],
    "Model": [
        st.Page(
            PAGES_DIR / "delay_model.py", title="Delay model", icon=":material/model_training:"
        ),
    ],
    "Operations": [
        st.Page(
            PAGES_DIR / "pipeline_health.py",
            title="Pipeline health",
            icon=":material/monitor_heart:",
        ),
    ],
}
page = st.navigation(pages)
# The browser tab names the page, so that several open tabs can be told apart.
st.set_page_config(page_title=f"{page.title} · Runway")


def _lake_caption() -> None:
    try:
        lake = data.lake_version()
    except data.SnapshotUnavailable:
        st.caption("The lake cannot be read yet.")
        return
    st.caption(
        f"Lake commit {lake.snapshot_id}, {ui.fmt_timestamp(lake.committed_at)} UTC",
        help="RUNWAY_TARGET=lake: these pages read the DuckLake directly, as of its latest "
        "commit when the page ran; the pipeline's asset status comes from the serving snapshot.",
    )


with st.sidebar:
    version = data.snapshot_version()
    if data.reads_lake():
        _lake_caption()
    elif version is None:
        st.caption("No serving snapshot yet.")
    else:
        st.caption(
            f"Snapshot published {ui.fmt_timestamp(version.published_at)} UTC",
            help="The read-only copy of the warehouse these pages read; the pipeline replaces "
            "it after each run. Flight figures are as of the last flight date in it.",
        )
filters.sidebar()


@st.fragment(run_every=5)
def _rerun_when_published() -> None:
    """With nothing published yet (a first `make dev` builds it in a run), look every 5 s and
    show the data as soon as the snapshot appears, without the user reloading the page."""
    if data.snapshot_version() is not None:
        st.rerun()


if version is None and not data.reads_lake():
    _rerun_when_published()

page.run()
