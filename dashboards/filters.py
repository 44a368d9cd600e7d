"""The sidebar filters shared by the pages: date range, carriers, origin airports.

``app.py`` draws them (``sidebar()``) on every run, before the page, so their state survives
page switches; pages read the current choice with ``current()`` and pass ``Filters.params()`` to
``data.load``, which binds them as query parameters (never pasted into SQL).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from dashboards import data, ui

DATES_KEY = "filter_dates"
CARRIERS_KEY = "filter_carriers"
ORIGINS_KEY = "filter_origins"


@dataclass(frozen=True)
class Filters:
    """The user's choice; empty carriers/origins and None dates mean "all"."""

    start_date: date | None = None
    end_date: date | None = None
    carriers: tuple[str, ...] = ()
    origins: tuple[str, ...] = ()

    @property
    def is_active(self) -> bool:
        """Whether anything is filtered out (a full date range counts as a filter too)."""
        return self != Filters()

    def params(self) -> dict[str, Any]:
        return {
            "start_date": self.start_date,
            "end_date": self.end_date,
            "carriers": list(self.carriers),
            "origins": list(self.origins),
        }

    def describe(self) -> str:
        """``"2013-03-07 to 2013-03-10 (4 days); all carriers; from EWR, JFK, LGA"``."""
        parts = []
        if self.start_date and self.end_date:
            days = (self.end_date - self.start_date).days + 1
            parts.append(
                f"{self.start_date.isoformat()} to {self.end_date.isoformat()} "
                f"({days:,} day{'s' if days != 1 else ''})"
            )
        elif self.start_date or self.end_date:
            start = self.start_date.isoformat() if self.start_date else "…"
            end = self.end_date.isoformat() if self.end_date else "…"
            parts.append(f"{start} to {end}")
        parts.append(f"carriers {', '.join(self.carriers)}" if self.carriers else "all carriers")
        parts.append(f"from {', '.join(self.origins)}" if self.origins else "from EWR, JFK, LGA")
        return "; ".join(parts)


@dataclass(frozen=True)
class FilterOptions:
    first_date: date | None
    last_date: date | None
    carriers: dict[str, str]  # code -> label, busiest first
    origins: dict[str, str]
    carrier_names: dict[str, str] = field(default_factory=dict)  # code -> name (code if none)

    def carrier_palette(self) -> dict[str, str]:
        """A colour per carrier of the snapshot, keyed by ``ui.carrier_label``, the busiest
        first (they get the most distinct colours): a carrier keeps its colour whatever the
        filters and the selection."""
        return ui.category_palette(
            [ui.carrier_label(code, self.carrier_names.get(code)) for code in self.carriers]
        )

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> FilterOptions:
        def labels(dimension: str) -> dict[str, str]:
            rows = frame[frame["dimension"] == dimension]
            return {
                str(code): str(code) if pd.isna(label) else f"{label} ({code})"
                for code, label in zip(rows["code"], rows["label"], strict=True)
            }

        def day(value: Any) -> date | None:
            return None if pd.isna(value) else pd.Timestamp(value).date()

        carriers = frame[frame["dimension"] == "carrier"]
        return cls(
            first_date=day(frame["first_flight_date"].min()) if len(frame) else None,
            last_date=day(frame["last_flight_date"].max()) if len(frame) else None,
            carriers=labels("carrier"),
            origins=labels("origin"),
            carrier_names={
                str(code): str(code) if pd.isna(name) else str(name)
                for code, name in zip(carriers["code"], carriers["label"], strict=True)
            },
        )


def _valid_range(value: Any, first: date, last: date) -> bool:
    return (
        isinstance(value, tuple | list)
        and len(value) in (1, 2)
        and all(isinstance(v, date) and first <= v <= last for v in value)
    )


def _reset_invalid_state(options: FilterOptions) -> None:
    """Bring stored choices back within what this snapshot offers (a new one may differ)."""
    state = st.session_state
    first, last = options.first_date, options.last_date
    stored = state.get(DATES_KEY)
    if first and last and (stored is None or not _valid_range(stored, first, last)):
        state[DATES_KEY] = (first, last)
    for key, offered in ((CARRIERS_KEY, options.carriers), (ORIGINS_KEY, options.origins)):
        if key in state:
            kept = [v for v in state[key] if v in offered]
            if kept != list(state[key]):
                state[key] = kept


def sidebar() -> Filters:
    """Draw the filters in the sidebar (no-op without a snapshot) and return the choice."""
    try:
        options = FilterOptions.from_frame(data.query("filter_options"))
    except data.SnapshotUnavailable:
        return Filters()
    _reset_invalid_state(options)
    with st.sidebar:
        st.subheader("Filters")
        if options.first_date and options.last_date:
            st.date_input(
                "Flight dates",
                min_value=options.first_date,
                max_value=options.last_date,
                format="YYYY-MM-DD",
                key=DATES_KEY,
            )
        st.multiselect(
            "Carriers",
            options=list(options.carriers),
            format_func=options.carriers.get,
            placeholder="All carriers",
            key=CARRIERS_KEY,
        )
        st.multiselect(
            "Origin airports",
            options=list(options.origins),
            format_func=options.origins.get,
            placeholder="EWR, JFK and LGA",
            key=ORIGINS_KEY,
        )
    return current()


def current() -> Filters:
    """The filters chosen in the sidebar (all data when nothing is chosen)."""
    state = st.session_state
    dates = tuple(state.get(DATES_KEY) or ())
    start = dates[0] if len(dates) >= 1 else None
    end = dates[1] if len(dates) == 2 else None  # one date: a range being picked
    return Filters(
        start_date=start,
        end_date=end,
        carriers=tuple(state.get(CARRIERS_KEY) or ()),
        origins=tuple(state.get(ORIGINS_KEY) or ()),
    )
