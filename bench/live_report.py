"""The live stage's arithmetic and tables (issue #17, points 1, 2, 6): pure functions on dicts.

A delivered day reaches the snapshot through however many Dagster runs the run path makes
(today a sensor run, an automation run or two, a publish run; after the redesign perhaps one).
So nothing here knows the runs by name: a day's runs are the runs created between its delivery
and the moment the snapshot showed it, and the waterfall is built from their own timestamps
(created, launched, started, each step, ended), as offsets from the delivery. That keeps the
table honest whatever the run path becomes, and lets the tests feed it fake records.

A run record (bench/live_stack.py reads them from the Dagster instance) is a dict:
``{"run_id", "status", "tags": {..}, "assets": [..], "created", "launched", "started",
"ended", "steps": {key: {"start", "end", "seconds", "status"}}}``, timestamps in epoch seconds,
any of them None when the run never got there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from bench import stats

# Issue #17's absolute targets (seconds), at scale 1 on the 2-core machine.
LIVE_P50_MAX = 30.0
LIVE_MAX_MAX = 45.0
UI_LAUNCH_P50_MAX = 20.0
FIRST_DEV_ANSWER_MAX = 60.0

SENSOR_TAG = "dagster/sensor_name"
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def runs_of_day(runs: Sequence[Mapping], delivered: float, visible: float | None) -> list[dict]:
    """The runs created after the delivery and before the snapshot showed the day, by creation.

    A day that never became visible keeps every run created after its delivery: they are what
    it waited on."""
    end = math.inf if visible is None else visible
    chosen = [dict(r) for r in runs if r.get("created") is not None]
    chosen = [r for r in chosen if delivered <= r["created"] <= end]
    return sorted(chosen, key=lambda r: r["created"])


def describe_run(run: Mapping) -> str:
    """What a run is, from its tags and selection: who launched it, which assets, which days."""
    tags = run.get("tags") or {}
    who = tags.get(SENSOR_TAG) or ("backfill" if "dagster/backfill" in tags else "manual")
    days = tags.get(PARTITION_TAG)
    start, end = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    if days is None and start:
        days = start if start == end else f"{start}..{end}"
    assets = list(run.get("assets") or [])
    shown = ", ".join(assets[:3]) + (f" +{len(assets) - 3}" if len(assets) > 3 else "")
    what = f"{shown or 'all assets'}" + (f" [{days}]" if days else "")
    return f"{run['run_id'][:8]} ({who}: {what})"


def _step_seconds(run: Mapping) -> float:
    return sum(s["seconds"] for s in (run.get("steps") or {}).values() if s.get("seconds"))


def waterfall(delivered: float, visible: float | None, runs: Sequence[Mapping]) -> list[dict]:
    """The day's segments in time order: ``{"kind", "label", "start", "end", "seconds"}``,
    start/end in seconds after the delivery.

    Kinds: ``tick`` (waiting for a sensor or automation tick to create the next run: from the
    delivery, or from the latest run that ended before it was created), ``queue`` (created →
    launched: the run queue), ``launch`` (launched → started: the run process starting and
    loading the code), ``queue+launch`` when the launch time is unknown, ``step``, ``finish``
    (last step → run end), ``visible`` (the latest step or run end before the snapshot showed
    the day → the poll that saw it)."""
    segments: list[dict] = []

    def add(kind: str, label: str, start: float | None, end: float | None) -> None:
        if start is None or end is None:
            return
        segments.append(
            {
                "kind": kind,
                "label": label,
                "start": start - delivered,
                "end": end - delivered,
                "seconds": end - start,
            }
        )

    ordered = sorted(runs, key=lambda r: r["created"])
    for index, run in enumerate(ordered):
        name = describe_run(run)
        ended_before = [
            r["ended"]
            for r in ordered[:index]
            if r.get("ended") is not None and r["ended"] <= run["created"]
        ]
        since = max(ended_before, default=delivered)
        add("tick", f"tick → {name} created", since, run["created"])
        launched, started = run.get("launched"), run.get("started")
        if launched is not None:
            add("queue", f"{name[:8]} queued", run["created"], launched)
            add("launch", f"{name[:8]} process start", launched, started)
        else:
            add("queue+launch", f"{name[:8]} queued + process start", run["created"], started)
        steps = sorted(
            ((key, s) for key, s in (run.get("steps") or {}).items() if s.get("start")),
            key=lambda item: item[1]["start"],
        )
        for key, step in steps:
            add("step", f"{name[:8]} step {key}", step["start"], step.get("end"))
        last_step_end = max((s["end"] for _, s in steps if s.get("end")), default=None)
        add("finish", f"{name[:8]} run end", last_step_end or started, run.get("ended"))
    if visible is not None:
        # The snapshot may show the day before its run ends (steps after the publish): the
        # hop starts at the latest step or run end that came before it.
        ends = [r.get("ended") for r in ordered]
        ends += [s.get("end") for r in ordered for s in (r.get("steps") or {}).values()]
        since = max((e for e in ends if e is not None and e <= visible), default=delivered)
        add("visible", "last step or run end → snapshot shows the day", since, visible)
    return sorted(segments, key=lambda s: (s["start"], s["end"]))


def day_summary(delivered: float, visible: float | None, runs: Sequence[Mapping]) -> dict:
    """The day's latency and its hops summed by kind (runs may overlap, so the sums of
    different kinds can add up to more than the latency)."""
    segments = waterfall(delivered, visible, runs)
    by_kind: dict[str, float] = {}
    for segment in segments:
        by_kind[segment["kind"]] = by_kind.get(segment["kind"], 0.0) + segment["seconds"]
    first_tick = next((s["seconds"] for s in segments if s["kind"] == "tick"), None)
    return {
        "latency_seconds": None if visible is None else visible - delivered,
        "runs": len(runs),
        "first_tick_seconds": first_tick,
        "seconds_by_kind": by_kind,
        "step_seconds": sum(_step_seconds(r) for r in runs),
    }


def _p50(values: Sequence[float]) -> float:
    """The median (linear, as stats.percentile); with an infinite value, the upper middle one,
    since interpolating towards infinity is meaningless."""
    if all(math.isfinite(v) for v in values):
        return stats.percentile(values, 50)
    return sorted(values)[len(values) // 2]


def live_verdicts(latencies: Sequence[float | None], detail: str = "") -> list[stats.Verdict]:
    """p50 and max of the days' latencies against the targets; a day that never showed up
    counts as infinitely late (a FAIL, never a pass by omission)."""
    if not latencies:
        return [
            stats.at_most("live latency p50", None, LIVE_P50_MAX, " s", "no day measured"),
            stats.at_most("live latency max", None, LIVE_MAX_MAX, " s", "no day measured"),
        ]
    values = [math.inf if v is None else v for v in latencies]
    missing = sum(v is None for v in latencies)
    note = detail + (f"; {missing} day(s) never visible" if missing else "")
    p50 = _p50(values)
    return [
        stats.at_most("live latency p50", p50, LIVE_P50_MAX, " s", note.strip("; ")),
        stats.at_most("live latency max", max(values), LIVE_MAX_MAX, " s", note.strip("; ")),
    ]


def ui_verdict(seconds: Sequence[float | None], detail: str = "") -> stats.Verdict:
    """p50 of the UI launches (launch → success); a failed launch counts as infinitely late."""
    if not seconds:
        return stats.at_most("one day from the UI, p50", None, UI_LAUNCH_P50_MAX, " s", detail)
    p50 = _p50([math.inf if v is None else v for v in seconds])
    return stats.at_most("one day from the UI, p50", p50, UI_LAUNCH_P50_MAX, " s", detail)


def first_dev_verdicts(first_dev: Mapping) -> list[stats.Verdict]:
    """Dagster UI and dashboards answering after a first `make dev` on a new data dir."""
    bound = first_dev.get("bound_seconds")
    verdicts = []
    for key, target in (
        ("webserver_seconds", "first make dev: Dagster UI answers"),
        ("dashboard_seconds", "first make dev: dashboards answer"),
    ):
        value = first_dev.get(key)
        detail = "" if value is not None else f"not reached within {bound} s"
        measured = value if value is not None else (math.inf if bound else None)
        verdicts.append(stats.at_most(target, measured, FIRST_DEV_ANSWER_MAX, " s", detail))
    return verdicts


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} s"


def _at(value: float) -> str:
    return f"+{value:.1f}"


def markdown(live: Mapping) -> list[str]:
    """The live stage's section of the results page."""
    from bench.report import verdict_table

    lines = ["", "## Live stack (issue #17, points 1, 2, 6)", ""]
    if live.get("status") and live["status"] != "ok":
        lines += [f"**{live['status']}**", ""]
    if live.get("verdicts"):
        lines += [verdict_table(live["verdicts"]), ""]
    setup = live.get("setup") or {}
    if setup:
        lines += [
            f"Data dir built up to {live.get('cutoff')} (scale {live.get('scale', 1)}, untimed "
            f"setup: seed {_s(setup.get('seed_seconds'))}, one run "
            f"{_s(setup.get('materialize_seconds'))}); `dagster dev` answered after "
            f"{_s(live.get('stack', {}).get('webserver_seconds'))}, its sensors had ticked after "
            f"{_s(live.get('stack', {}).get('sensors_ticked_seconds'))}.",
            "",
        ]
    days = live.get("days") or []
    if days:
        lines += [
            "### Delivered day → snapshot",
            "",
            "Per day: the feed's files written → the snapshot holding the day's flights and "
            "predictions. Sums by kind over the day's runs (`tick`: waiting for a sensor or "
            "automation tick; `queue`/`launch`: run queued, run process started; `steps`; "
            "`finish`: last step → run end; `visible`: the last step or run end before the "
            "snapshot showed the day → seen there, by a poll every 0.5 s).",
            "",
            "| day | file → snapshot | runs | first tick | ticks | queue + launch | steps "
            "| finish | → visible |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for day in days:
            summary = day.get("summary") or {}
            kinds = summary.get("seconds_by_kind") or {}
            queued = sum(kinds.get(k, 0.0) for k in ("queue", "launch", "queue+launch"))
            lines.append(
                f"| {day['day']} | **{_s(summary.get('latency_seconds'))}** | "
                f"{summary.get('runs', 0)} | {_s(summary.get('first_tick_seconds'))} | "
                f"{_s(kinds.get('tick'))} | {_s(queued)} | {_s(kinds.get('step'))} | "
                f"{_s(kinds.get('finish'))} | {_s(kinds.get('visible'))} |"
            )
        for day in days:
            if day.get("error"):
                lines += ["", f"**{day['day']} never reached the snapshot:** {day['error']}."]
        for day in days:
            lines += [
                "",
                f"Waterfall of {day['day']} (seconds after the delivery):",
                "",
                "| from | to | seconds | segment |",
                "|---|---|---|---|",
            ]
            for segment in day.get("waterfall") or []:
                lines.append(
                    f"| {_at(segment['start'])} | {_at(segment['end'])} | "
                    f"{segment['seconds']:.1f} | {segment['label']} |"
                )
    ui = live.get("ui_launch") or {}
    if ui:
        lines += ["", "### One day from the UI (GraphQL launch → run success)", ""]
        if ui.get("error"):
            lines += [f"**Not measured:** {ui['error']}", ""]
        launches = ui.get("launches") or []
        if launches:
            lines += [
                f"Day {ui.get('day')}, {len(ui.get('selection') or [])} assets selected "
                f"(job `__ASSET_JOB`, partition range tags = the day):",
                "",
                "| # | launch → success | run | status | steps | note |",
                "|---|---|---|---|---|---|",
            ]
            for i, launch in enumerate(launches, 1):
                lines.append(
                    f"| {i} | {_s(launch.get('seconds'))} | {(launch.get('run_id') or '–')[:8]} "
                    f"| {launch.get('status', '–')} | {_s(launch.get('step_seconds'))} | "
                    f"{launch.get('error') or ''} |"
                )
    first = live.get("first_dev") or {}
    if first:
        lines += [
            "",
            "### First `make dev` on a new data dir",
            "",
            f"`make dev FEED_CUTOFF={first.get('cutoff')}` from an empty data dir: the Dagster UI "
            f"answered after **{_s(first.get('webserver_seconds'))}**, the dashboards after "
            f"**{_s(first.get('dashboard_seconds'))}**; the serving snapshot existed after "
            f"{_s(first.get('snapshot_seconds'))} (informational; waited at most "
            f"{first.get('bound_seconds')} s).",
        ]
        if first.get("error"):
            lines += ["", f"**{first['error']}**"]
        if first.get("note"):
            lines += ["", f"No snapshot: {first['note']}."]
    return lines
