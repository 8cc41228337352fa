"""Figure builders: plain data in, a titled figure out (a plotly Figure, or its plain data for the
charts with many points); an empty state says why."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeAlias

import plotly.graph_objects as go
import plotly.io as pio
from dash import dcc, html

# Okabe-Ito: distinguishable with the common forms of colour blindness.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
STATUS_COLOURS = {
    "succeeded": "#009E73",
    "failed": "#D55E00",
    "partial": "#E69F00",
    "skipped": "#999999",
    "running": "#0072B2",
}


# One colour per strategy on every chart, so each legend entry is the colour drawn (solid
# colours, no translucent overlays that blend into colours no legend shows).
STRATEGY_ORDER = ("ev", "arbitrage", "steam", "stale_line", "reverse_line_movement", "sharp_action")


def strategy_colour(name: str) -> str:
    """The fixed colour of a strategy (unknown names take the last palette colours)."""
    if name in STRATEGY_ORDER:
        return PALETTE[STRATEGY_ORDER.index(name)]
    return PALETTE[len(STRATEGY_ORDER) + sum(map(ord, name)) % (len(PALETTE) - len(STRATEGY_ORDER))]


# Every chart's toolbar: no logo; on touch screens the stylesheet hides it (it covered titles).
GRAPH_CONFIG: Any = {"displaylogo": False}


def figure_store(graph_id: str) -> str:
    """The id of the store a chart's server callback writes its figure to: the page's
    `keep_view` hands it to the graph with the user's zoom kept (see assets/charts.js)."""
    return f"{graph_id}-figure"


def chart(graph_id: str, figure: Any = None, **graph: Any) -> html.Div:
    """A chart that keeps its zoom and pan across refreshes: the graph and the store its
    figure arrives in (the page registers `app.dashboard.keep_view(graph_id)`)."""
    return html.Div(
        [
            dcc.Graph(id=graph_id, config=graph.pop("config", GRAPH_CONFIG), **graph),
            dcc.Store(id=figure_store(graph_id), data=figure),
        ]
    )


# The template as plain data, expanded once: a figure built with validation off takes it as is
# (validating and deep-copying "plotly_white" for every chart was most of a callback's time).
# Only the trace types our charts draw keep their defaults: the other twenty-odd were copied
# and sent with every figure for nothing.
_WHITE = pio.templates["plotly_white"].to_plotly_json()
TRACE_TYPES = ("scatter", "bar", "histogram")
_TEMPLATE = {
    "layout": _WHITE["layout"],
    "data": {kind: _WHITE["data"][kind] for kind in TRACE_TYPES if kind in _WHITE["data"]},
}


def _layout(
    title: str, x_title: str, y_title: str, uirevision: str | None = None
) -> dict[str, Any]:
    """A chart's layout: its title, axes, legend and the `uirevision` that keeps zoom, pan and
    hidden traces across every refresh that keeps it (default: the title, so another window or
    selection starts afresh)."""
    return {
        "title": {"text": title, "x": 0.01, "font": {"size": 15}},
        "uirevision": uirevision or title,
        "template": _TEMPLATE,
        "margin": {"l": 55, "r": 15, "t": 45, "b": 45},
        "height": 320,
        "colorway": PALETTE,
        "xaxis": {"title": {"text": x_title}},
        "yaxis": {"title": {"text": y_title}},
        # below the axis title (two-line date ticks push that title down)
        "legend": {"orientation": "h", "yanchor": "top", "y": -0.3},
    }


def _base(title: str, x_title: str, y_title: str, uirevision: str | None = None) -> go.Figure:
    """A titled figure with no traces yet (see _layout), validation off."""
    return go.Figure(layout=_layout(title, x_title, y_title, uirevision), _validate=False)


# What a dcc.Graph's figure (or its store) takes: a plotly Figure, or the same as plain data.
Figure: TypeAlias = go.Figure | dict[str, Any]


def _assembled(layout: dict[str, Any], traces: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A figure as the plain data Dash sends, built in one step: no go.Figure, which deep-copies
    every point when it is built and again when it is serialised (over a year of days that was
    most of a chart's cost, even with validation off)."""
    return {"data": list(traces), "layout": layout}


def _rule(axis: str, at: float, line: dict[str, Any]) -> dict[str, Any]:
    """A line across the plot at `at` on `axis` ('x': vertical, 'y': horizontal), as
    add_vline / add_hline draw it, without their walk over every trace's points."""
    across = "y" if axis == "x" else "x"
    return {
        "type": "line",
        f"{axis}ref": axis,
        f"{axis}0": at,
        f"{axis}1": at,
        f"{across}ref": f"{across} domain",
        f"{across}0": 0,
        f"{across}1": 1,
        "line": line,
    }


def _day(t: datetime) -> str:
    """A day's point on a date axis as text ('2026-07-04'): cheaper to send than a datetime."""
    return t.isoformat()[:10]  # a tenth of strftime's cost, thousands of points a chart


WINDOW_UID = "window"  # the invisible trace that spans a time chart's window


def _over(fig: go.Figure, span: tuple[datetime, datetime] | None) -> go.Figure:
    """Show the whole selected window on the time axis, not just the part that has data: an
    invisible trace spans it and the axis autoranges. (A fixed `xaxis.range` moves with every
    refresh, and Plotly lets a figure's own change beat the user's zoom despite uirevision.)"""
    if span is not None:
        fig.add_trace(
            go.Scatter(
                x=[span[0], span[1]],
                y=[0, 0],
                mode="markers",
                marker={"opacity": 0},
                showlegend=False,
                hoverinfo="skip",
                uid=WINDOW_UID,
                name="window",
            )
        )
        fig.update_xaxes(type="date")
    return fig


def empty_figure(title: str, reason: str) -> go.Figure:
    """A figure with no data and a sentence saying why."""
    fig = _base(title, "", "")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.add_annotation(
        text=reason,
        showarrow=False,
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        font={"size": 13, "color": "#555"},
    )
    return fig


PERCENTILES = ("p50", "p95", "p99")


def latency_figure(
    points: Sequence[Any],
    title: str = "Run duration",
    span: tuple[datetime, datetime] | None = None,
    percentile: str = "p95",
    uirevision: str | None = None,
) -> go.Figure:
    """One percentile of run duration over time, one line (and legend entry) per pipeline,
    from 0, over `span` (the selected window) when given. Each trace keeps its pipeline as
    `uid`, so a pipeline hidden from the legend stays hidden across refreshes."""
    percentile = percentile if percentile in PERCENTILES else "p95"
    if not points:
        return empty_figure(title, "No finished runs in this window.")
    fig = _base(title, "time (UTC)", f"{percentile} duration (s)", uirevision)
    by_pipeline: dict[str, list[Any]] = {}
    for p in points:
        by_pipeline.setdefault(p.pipeline, []).append(p)
    for i, (pipeline, pts) in enumerate(sorted(by_pipeline.items())):
        pts = sorted(pts, key=lambda p: p.bucket)
        fig.add_trace(
            go.Scatter(
                x=[p.bucket for p in pts],
                y=[getattr(p, f"{percentile}_ms") / 1000 for p in pts],
                name=pipeline,
                uid=pipeline,
                mode="lines" if len(pts) > 2 else "lines+markers",  # a lone bucket shows
                line={"color": PALETTE[i % len(PALETTE)]},
                hovertemplate=f"{pipeline} {percentile} %{{y:.3f}} s<extra></extra>",
            )
        )
    fig.update_yaxes(rangemode="tozero")
    return _over(fig, span)


def success_figure(
    points: Sequence[Any],
    title: str = "Success rate",
    span: tuple[datetime, datetime] | None = None,
    uirevision: str | None = None,
) -> go.Figure:
    """Share of finished runs that succeeded, per pipeline, over time (over `span` if given)."""
    if not points:
        return empty_figure(title, "No finished runs in this window.")
    fig = _base(title, "time (UTC)", "succeeded (%)", uirevision)
    by_pipeline: dict[str, list[Any]] = {}
    for p in points:
        by_pipeline.setdefault(p.pipeline, []).append(p)
    for pipeline, pts in sorted(by_pipeline.items()):
        pts = sorted(pts, key=lambda p: p.bucket)
        fig.add_trace(
            go.Scatter(
                x=[p.bucket for p in pts],
                y=[100 * p.succeeded / p.runs if p.runs else None for p in pts],
                name=pipeline,
                uid=pipeline,
                mode="lines+markers",
            )
        )
    fig.update_yaxes(range=[0, 101])
    return _over(fig, span)


def stage_offsets(stages: Sequence[Mapping[str, Any]]) -> list[tuple[float, float]]:
    """(start, width) of each stage in ms since the run's first stage: from the stored start
    times, but never overlapping the stage before, and as wide as its measured duration, so a
    run recorded under a frozen clock (seeded history: every stage at one instant) still reads
    as its real 21 / 55 / 4 / 1 ms."""
    if not stages:
        return []
    first = min(s["started_at"] for s in stages)
    spans: list[tuple[float, float]] = []
    cursor = 0.0
    for s in stages:
        stored = (s["started_at"] - first).total_seconds() * 1000
        width = s.get("duration_ms")
        if width is None:
            width = (s["finished_at"] - s["started_at"]).total_seconds() * 1000
        start = max(stored, cursor)
        spans.append((start, max(float(width), 0.0)))
        cursor = start + max(float(width), 0.0)
    return spans


def stage_gantt(stages: Sequence[Mapping[str, Any]], title: str = "Stage timeline") -> go.Figure:
    """Each stage as a bar from its start for its duration (ms since the run's first stage),
    coloured and labelled by status."""
    if not stages:
        return empty_figure(title, "This run has no stages recorded.")
    fig = _base(title, "ms since the run started", "stage")
    for s, (start, width) in zip(stages, stage_offsets(stages), strict=True):
        fig.add_trace(
            go.Bar(
                base=[start],
                x=[max(width, 0.05)],  # a skipped stage stays visible as a sliver
                y=[s["stage"]],
                orientation="h",
                marker={"color": STATUS_COLOURS.get(s["status"], "#777")},
                name=f"{s['stage']} ({s['status']})",
                text=[f"{s['status']} {width:.0f} ms"],
                textposition="auto",
                hovertext=f"{s['stage']}: {s['status']}, {width:.1f} ms, "
                f"in {s['records_in']} / out {s['records_out']}",
            )
        )
    fig.update_xaxes(type="linear", rangemode="tozero")
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(showlegend=False, barmode="overlay", height=80 + 40 * len(stages))
    return fig


def histogram(
    values: Sequence[float],
    title: str,
    x_title: str,
    reason: str,
    slo_line: float | None = None,
    slo_label: str = "",
) -> Figure:
    """A histogram of values, with an optional vertical SLO line."""
    if not values:
        return empty_figure(title, reason)
    layout = _layout(title, x_title, "count")
    layout["showlegend"] = False
    if slo_line is not None:
        layout["shapes"] = [_rule("x", slo_line, {"color": PALETTE[3], "dash": "dash"})]
        layout["annotations"] = [
            {
                "text": slo_label,
                "x": slo_line,
                "xref": "x",
                "xanchor": "left",
                "y": 1,
                "yref": "y domain",
                "yanchor": "top",
                "showarrow": False,
            }
        ]
    trace = {
        "type": "histogram",
        "x": list(values),
        "nbinsx": 40,
        "marker": {"color": PALETTE[0]},
        "name": x_title,
    }
    return _assembled(layout, [trace])


def cumulative_units_figure(
    series: Mapping[str, Sequence[tuple[datetime, float]]], title: str = "Cumulative units"
) -> Figure:
    """Units won over time per strategy."""
    if not series:
        return empty_figure(title, "No graded bets yet: units appear once games are final.")
    layout = _layout(title, "date (UTC)", "units")
    layout["shapes"] = [_rule("y", 0, {"color": "#999", "width": 1})]
    traces = [
        {
            "type": "scatter",
            "x": [_day(p[0]) for p in pts],
            "y": [p[1] for p in pts],
            "name": strategy,
            "mode": "lines+markers",  # a strategy graded on one day is still a visible point
            "line": {"shape": "hv", "color": strategy_colour(strategy)},  # units move per day
            "marker": {"color": strategy_colour(strategy)},
            "hovertemplate": "%{x|%Y-%m-%d}: %{y:.2f} units<extra>" + strategy + "</extra>",
        }
        for strategy, pts in sorted(series.items())
    ]
    return _assembled(layout, traces)


def clv_figure(
    counts: Mapping[str, Sequence[int]],
    edges: Sequence[tuple[float | None, float | None]],
    title: str = "CLV distribution",
) -> Figure:
    """Graded bets per closing-line-value bin per strategy (bars over CLV in %); `edges` are
    each bin's [lo, hi) as fractions, None for an open tail."""
    if not any(sum(c) for c in counts.values()):
        return empty_figure(title, "No closing lines captured yet.")
    widths = [hi - lo for lo, hi in edges if lo is not None and hi is not None]
    width = (widths[0] if widths else 0.01) * 100
    centres: list[float] = []
    labels: list[str] = []
    for lo, hi in edges:
        if lo is None and hi is not None:
            centres.append(round(hi * 100 - width / 2, 6))
            labels.append(f"below {hi * 100:.1f} %")
        elif hi is None and lo is not None:
            centres.append(round(lo * 100 + width / 2, 6))
            labels.append(f"{lo * 100:.1f} % and above")
        elif lo is not None and hi is not None:
            centres.append(round((lo + hi) * 50, 6))
            labels.append(f"{lo * 100:.1f} to {hi * 100:.1f} %")
    layout = _layout(title, "CLV (%)", "graded bets")
    layout["shapes"] = [_rule("x", 0, {"color": "#999", "width": 1})]
    # side by side within each bin: solid colours, each the one its legend shows
    layout.update(barmode="group", bargap=0.15)
    traces = [
        {
            "type": "bar",
            "x": centres,
            "y": list(bins),
            "name": strategy,
            "marker": {"color": strategy_colour(strategy)},
            "customdata": labels,
            "hovertemplate": "%{customdata}: %{y} bets<extra>" + strategy + "</extra>",
        }
        for strategy, bins in sorted(counts.items())
    ]
    return _assembled(layout, traces)


def clv_over_time_figure(
    series: Mapping[str, Sequence[tuple[datetime, float, int]]],
    title: str = "Average CLV by day",
) -> Figure:
    """Per strategy, the day's average price CLV (%) of the bets graded that day."""
    if not series:
        return empty_figure(title, "No closing lines captured in this window.")
    layout = _layout(title, "date (UTC)", "average CLV (%)")
    layout["shapes"] = [_rule("y", 0, {"color": "#999", "width": 1})]
    traces = [
        {
            "type": "scatter",
            "x": [_day(p[0]) for p in pts],
            "y": [p[1] * 100 for p in pts],
            "customdata": [p[2] for p in pts],
            "name": strategy,
            "mode": "lines+markers",
            "line": {"color": strategy_colour(strategy)},
            "marker": {"color": strategy_colour(strategy)},
            "hovertemplate": "%{x|%Y-%m-%d}: %{y:+.2f}% over %{customdata} bets<extra>"
            + strategy
            + "</extra>",
        }
        for strategy, pts in sorted(series.items())
    ]
    return _assembled(layout, traces)


def freshness_figure(
    rows: Sequence[Mapping[str, Any]], limit_s: float = 60.0, title: str = "Data freshness"
) -> go.Figure:
    """Age of each source's newest data against the freshness target."""
    rows = [r for r in rows if r.get("age_s") is not None]
    if not rows:
        return empty_figure(title, "No source has delivered data yet.")
    fig = _base(title, "age of newest data (s)", "source")
    fig.add_trace(
        go.Bar(
            x=[r["age_s"] for r in rows],
            y=[r["source"] for r in rows],
            orientation="h",
            marker={"color": [PALETTE[2] if r["age_s"] <= limit_s else PALETTE[3] for r in rows]},
            text=[f"{r['age_s']:.0f} s" for r in rows],
            textposition="auto",
        )
    )
    fig.add_vline(
        x=limit_s,
        line={"color": PALETTE[3], "dash": "dash"},
        annotation_text=f"{limit_s:.0f} s target",
    )
    fig.update_layout(showlegend=False, height=220)
    return fig
