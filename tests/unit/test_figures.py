"""Figure builders on crafted data: the right traces, axes and empty states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import plotly.graph_objects as go

from app.queries.run_charts import LatencyPoint, RatePoint
from app.rollups.run_buckets import percentile as _pick
from components.figures import (
    clv_figure,
    cumulative_units_figure,
    freshness_figure,
    histogram,
    latency_figure,
    stage_gantt,
    success_figure,
)

T0 = datetime(2026, 7, 4, 17, tzinfo=UTC)


def _annotation(fig) -> str:
    return fig.layout.annotations[0].text if fig.layout.annotations else ""


def test_latency_is_one_legend_entry_per_pipeline_for_the_chosen_percentile() -> None:
    pts = [
        LatencyPoint(p, T0 + timedelta(minutes=i), 10, 1000.0 * i, 2000.0, 3000.0)
        for p in ("collection", "analysis")
        for i in range(3)
    ]
    fig = latency_figure(pts, percentile="p99")
    assert [t.name for t in fig.data] == ["analysis", "collection"]
    assert [t.uid for t in fig.data] == ["analysis", "collection"]  # hidden ones stay hidden
    assert list(fig.data[1].y) == [3.0, 3.0, 3.0]
    assert fig.layout.yaxis.title.text == "p99 duration (s)"
    assert fig.layout.yaxis.rangemode == "tozero"  # durations from 0
    assert list(latency_figure(pts, percentile="p50").data[1].y) == [0.0, 1.0, 2.0]
    assert len(latency_figure(pts, percentile="p42").data) == 2  # unknown: p95


def test_charts_keep_zoom_across_refreshes_until_the_window_changes() -> None:
    pts = [LatencyPoint("collection", T0, 10, 1.0, 2.0, 3.0)]
    first = latency_figure(pts, "Run duration p95 (24h)", uirevision="latency:24h")
    again = latency_figure(pts + pts, "Run duration p99 (24h)", uirevision="latency:24h")
    other = latency_figure(pts, "Run duration p95 (7d)", uirevision="latency:7d")
    assert first.layout.uirevision == again.layout.uirevision != other.layout.uirevision
    assert success_figure([RatePoint("collection", T0, 1, 1)], "Success").layout.uirevision


def test_time_charts_span_the_selected_window_and_mark_a_lone_bucket() -> None:
    span = (T0 - timedelta(hours=24), T0)
    lone = [LatencyPoint("collection", T0 - timedelta(minutes=5), 1, 20.0, 20.0, 20.0)]
    latency = latency_figure(lone, span=span)
    success = success_figure([RatePoint("collection", T0, 1, 1)], span=span)
    for fig in (latency, success):
        assert fig.layout.xaxis.type == "date"
        (anchor,) = [t for t in fig.data if t.uid == "window"]
        assert tuple(anchor.x) == span and anchor.showlegend is False  # the whole 24 h
        assert fig.layout.xaxis.range is None  # autorange: a user's zoom is kept on refresh
    assert all("markers" in t.mode for t in latency.data)  # a single point is drawn
    busy = [
        LatencyPoint("collection", T0 - timedelta(minutes=i), 1, 5.0, 6.0, 7.0) for i in range(9)
    ]
    assert {t.mode for t in latency_figure(busy).data} == {"lines"}
    assert latency_figure(busy).layout.xaxis.range is None  # no window given: fit the data


def test_empty_states_say_why() -> None:
    assert "No finished runs" in _annotation(latency_figure([]))
    assert "No graded bets" in _annotation(cumulative_units_figure({}))
    assert "No closing lines" in _annotation(clv_figure({}, []))
    assert "No closing lines" in _annotation(clv_figure({"ev": [0, 0]}, [(None, 0), (0, None)]))
    assert "No source" in _annotation(freshness_figure([{"source": "demo", "age_s": None}]))
    assert "nothing here" in _annotation(histogram([], "t", "x", "nothing here"))


def test_success_rate_in_percent() -> None:
    fig = success_figure(
        [RatePoint("full", T0, 4, 3), RatePoint("full", T0 + timedelta(hours=1), 2, 2)]
    )
    assert list(fig.data[0].y) == [75.0, 100.0]


def test_gantt_bars_span_each_stage() -> None:
    stages = [
        {
            "stage": "collect",
            "status": "succeeded",
            "started_at": T0,
            "finished_at": T0 + timedelta(milliseconds=250),
            "records_in": 5,
            "records_out": 4,
        },
        {
            "stage": "analyze",
            "status": "failed",
            "started_at": T0 + timedelta(seconds=1),
            "finished_at": T0 + timedelta(seconds=3),
            "records_in": 4,
            "records_out": 0,
        },
    ]
    fig = stage_gantt(stages)
    assert [t.y[0] for t in fig.data] == ["collect", "analyze"]
    assert [t.x[0] for t in fig.data] == [250.0, 2000.0]
    assert [t.base[0] for t in fig.data] == [0.0, 1000.0]  # ms since the run started
    assert fig.data[1].marker.color == "#D55E00"  # failed stands out


def test_gantt_of_a_frozen_clock_run_draws_each_stage_for_its_duration() -> None:
    """Seeded history: every stage starts and ends at one instant, durations were measured."""
    stages = [
        {
            "stage": name,
            "status": "succeeded",
            "started_at": T0,
            "finished_at": T0,
            "duration_ms": ms,
            "records_in": 0,
            "records_out": 0,
        }
        for name, ms in (("collect", 21.0), ("analyze", 55.0), ("recommend", 4.0), ("grade", 1.0))
    ]
    fig = stage_gantt(stages)
    assert [t.x[0] for t in fig.data] == [21.0, 55.0, 4.0, 1.0]
    assert [t.base[0] for t in fig.data] == [0.0, 21.0, 76.0, 80.0]  # one after the other


def test_histogram_draws_the_slo_line() -> None:
    fig = go.Figure(  # plain data: read through plotly's own figure
        histogram(
            [1.0, 2.0, 70.0], "Detection latency", "s", "none", slo_line=60.0, slo_label="60 s SLO"
        )
    )
    assert fig.layout.shapes[0].x0 == 60.0 and list(fig.data[0].x) == [1.0, 2.0, 70.0]


def test_cumulative_units_and_clv_in_percent() -> None:
    fig = go.Figure(cumulative_units_figure({"ev": [(T0, 1.5), (T0 + timedelta(days=1), 0.5)]}))
    assert fig.data[0].x == ("2026-07-04", "2026-07-05")  # days as text
    assert list(fig.data[0].y) == [1.5, 0.5]
    edges = [(None, -0.1), (-0.1, -0.05), (-0.05, 0.0), (0.0, 0.05), (0.05, 0.1), (0.1, None)]
    clv = go.Figure(clv_figure({"ev": [1, 0, 2, 3, 0, 4], "steam": [0, 0, 0, 1, 0, 0]}, edges))
    assert [t.name for t in clv.data] == ["ev", "steam"]
    assert list(clv.data[0].x) == [-12.5, -7.5, -2.5, 2.5, 7.5, 12.5]  # tails one bin out
    assert list(clv.data[0].y) == [1, 0, 2, 3, 0, 4]
    assert clv.data[0].customdata[0] == "below -10.0 %"
    assert clv.layout.xaxis.title.text == "CLV (%)" and clv.layout.barmode == "group"
    # solid colours, one per strategy, the same on every chart: the legend shows what is drawn
    assert clv.data[0].marker.color != clv.data[1].marker.color
    assert clv.data[0].opacity is None and fig.data[0].line.color == clv.data[0].marker.color


def test_percentile_pick_matches_linear_interpolation() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert _pick(values, 0.5) == 25.0 and _pick(values, 0.0) == 10.0 and _pick(values, 1.0) == 40.0
