"""The Grafana dashboard, generated (like the alert rules) so that every query names a metric
that /metrics serves; `python -m app.observability.grafana` writes the provisioned file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from app.observability.rules import SCRAPE_JOB, error_ratio_record

DASHBOARD_PATH = Path("deploy/grafana/provisioning/dashboards/dugout.json")
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
WIDTH = 24


class Layout:
    """Places panels left to right in rows of 24 grid units."""

    def __init__(self) -> None:
        self.x = self.y = self.row_h = 0
        self.panels: list[dict[str, Any]] = []
        self.next_id = 1

    def row(self, title: str) -> None:
        """Start a titled row below everything so far."""
        self.y += self.row_h
        self.x = self.row_h = 0
        self._add({"type": "row", "title": title, "collapsed": False, "panels": []}, WIDTH, 1)
        self.y += 1
        self.x = self.row_h = 0

    def _add(self, panel: dict[str, Any], w: int, h: int) -> None:
        if self.x + w > WIDTH:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel.update(id=self.next_id, gridPos={"x": self.x, "y": self.y, "w": w, "h": h})
        self.next_id += 1
        self.x += w
        self.row_h = max(self.row_h, h)
        self.panels.append(panel)

    def panel(
        self,
        kind: str,
        title: str,
        targets: list[tuple[str, str]],
        *,
        unit: str,
        description: str,
        w: int = 8,
        h: int = 8,
        thresholds: list[tuple[float | None, str]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """A stat or timeseries panel with its unit, thresholds and queries (expr, legend)."""
        steps = [{"value": v, "color": c} for v, c in (thresholds or [(None, "green")])]
        panel: dict[str, Any] = {
            "type": kind,
            "title": title,
            "description": description,
            "datasource": DATASOURCE,
            "fieldConfig": {
                "defaults": {
                    "unit": unit,
                    "thresholds": {"mode": "absolute", "steps": steps},
                    **({"custom": {"fillOpacity": 10}} if kind == "timeseries" else {}),
                },
                "overrides": [],
            },
            "options": {"legend": {"displayMode": "list", "placement": "bottom"}}
            if kind == "timeseries"
            else {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "background"},
            "targets": [
                {
                    "refId": chr(65 + i),
                    "expr": expr,
                    "legendFormat": legend,
                    "datasource": DATASOURCE,
                }
                for i, (expr, legend) in enumerate(targets)
            ],
        }
        panel.update(extra or {})
        self._add(panel, w, h)


def _quantiles(metric: str, by: str) -> list[tuple[str, str]]:
    return [
        (
            f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket[5m])))",
            f"{{{{{by}}}}} p{int(q * 100)}",
        )
        for q in (0.5, 0.95, 0.99)
    ]


def dashboard() -> dict[str, Any]:
    """The whole dashboard as data."""
    g = Layout()
    g.row("Service level objectives")
    g.panel(
        "stat",
        "SLI over 30 days",
        [("dugout_slo_sli", "{{slo}}")],
        unit="percentunit",
        description="Share of good events over the 30-day compliance window, from the ledger.",
        thresholds=[(None, "red"), (0.95, "orange"), (0.995, "green")],
    )
    g.panel(
        "stat",
        "Error budget left",
        [("dugout_slo_error_budget_remaining", "{{slo}}")],
        unit="percentunit",
        description="Share of the 30-day error budget not yet spent; below 0 the SLO is missed.",
        thresholds=[(None, "red"), (0.25, "orange"), (0.5, "green")],
    )
    g.panel(
        "stat",
        "Alerts firing",
        [("sum by (severity) (dugout_alerts_firing)", "{{severity}}")],
        unit="short",
        description="Stored Dugout alerts now firing, by severity.",
        thresholds=[(None, "green"), (1, "red")],
    )
    g.panel(
        "timeseries",
        "Burn rate (Prometheus, 1 h)",
        [(f"{error_ratio_record('1h')} / on (slo) dugout:slo_error_budget", "{{slo}}")],
        unit="none",
        w=12,
        description="Error ratio over 1 h divided by the error budget: 1 spends the budget in "
        "exactly 30 days; the page line is 14.4.",
        thresholds=[(None, "green"), (6, "orange"), (14.4, "red")],
    )
    g.panel(
        "timeseries",
        "Burn rate by window (ledger)",
        [('dugout_slo_burn_rate{window=~"1h|6h|1d|3d"}', "{{slo}} {{window}}")],
        unit="none",
        w=12,
        description="The ledger's burn rates over the alerting windows (the same numbers "
        "the Overview page shows).",
    )
    g.row("Pipelines")
    g.panel(
        "timeseries",
        "Runs by status",
        [("sum by (status) (rate(dugout_pipeline_runs_total[5m])) * 60", "{{status}}")],
        unit="opm",
        description="Finished runs per minute, by status.",
    )
    g.panel(
        "timeseries",
        "Run duration by pipeline",
        _quantiles("dugout_pipeline_run_duration_seconds", "pipeline"),
        unit="s",
        description="p50 / p95 / p99 wall time of runs; the latency SLO is p99 < 30 s.",
    )
    g.panel(
        "timeseries",
        "Stage duration p95",
        [
            (
                "histogram_quantile(0.95, sum by (le, stage) (rate(dugout_pipeline_stage_duration_seconds_bucket[5m])))",
                "{{stage}}",
            )
        ],
        unit="s",
        description="95th percentile wall time of each stage.",
    )
    g.panel(
        "timeseries",
        "Retries and throttled runs",
        [
            (
                "sum by (pipeline) (rate(dugout_pipeline_retries_total[15m])) * 60",
                "retry {{pipeline}}",
            ),
            (
                "sum by (pipeline) (rate(dugout_scheduler_throttled_runs_total[15m])) * 60",
                "throttled {{pipeline}}",
            ),
        ],
        unit="opm",
        description="Retried runs and low-priority runs held back under load, per minute.",
    )
    g.panel(
        "timeseries",
        "Runs in progress",
        [("sum by (pipeline) (dugout_pipeline_runs_in_progress)", "{{pipeline}}")],
        unit="short",
        description="Runs started and not yet finished, across every process.",
    )
    g.panel(
        "timeseries",
        "Dispatch lag p95",
        [
            (
                "histogram_quantile(0.95, sum by (le, pipeline) (rate(dugout_scheduler_dispatch_lag_seconds_bucket[5m])))",
                "{{pipeline}}",
            )
        ],
        unit="s",
        description="Scheduled tick to run start.",
    )
    g.row("Data and sources")
    g.panel(
        "timeseries",
        "Freshness by source",
        [("dugout_source_freshness_seconds", "{{source}}")],
        unit="s",
        description="Age of the newest data per source; the freshness SLO line is 60 s "
        "while games are due.",
        thresholds=[(None, "green"), (60, "red")],
    )
    g.panel(
        "timeseries",
        "Source quota left",
        [("dugout_source_quota_remaining", "{{source}}")],
        unit="short",
        description="API requests left this period (The Odds API's x-requests-remaining).",
    )
    g.panel(
        "timeseries",
        "Source errors and quarantined rows",
        [
            (
                "sum by (source, error_type) (rate(dugout_source_errors_total[15m])) * 60",
                "{{source}} {{error_type}}",
            ),
            (
                "sum by (source) (rate(dugout_quarantined_rows_total[15m])) * 60",
                "quarantined {{source}}",
            ),
        ],
        unit="opm",
        description="Failed fetches by typed error and rows that failed validation, per minute.",
    )
    g.panel(
        "stat",
        "Sources up",
        [("dugout_source_up", "{{source}}")],
        unit="bool_yes_no",
        description="Whether the last fetch of each source worked.",
        thresholds=[(None, "red"), (1, "green")],
        w=12,
        h=5,
    )
    g.panel(
        "stat",
        "Circuit breakers open",
        [('sum by (name) (dugout_circuit_breaker_state{state="open"})', "{{name}}")],
        unit="short",
        description="Breakers open now (a job or source refused after repeated failures).",
        thresholds=[(None, "green"), (1, "red")],
        w=12,
        h=5,
    )
    g.row("Scheduler and processes")
    g.panel(
        "stat",
        "Scheduler leader",
        [("max(dugout_scheduler_leader)", "leader")],
        unit="bool_yes_no",
        description="1 while a scheduler holds an unexpired lease.",
        thresholds=[(None, "red"), (1, "green")],
        w=6,
        h=6,
    )
    g.panel(
        "timeseries",
        "Leader heartbeat age",
        [("max(dugout_scheduler_heartbeat_age_seconds)", "age")],
        unit="s",
        description="Seconds since the leader's last heartbeat; readiness fails past 30 s.",
        thresholds=[(None, "green"), (30, "red")],
        w=6,
        h=6,
    )
    g.panel(
        "stat",
        "Dugout targets up",
        [(f'sum(up{{job="{SCRAPE_JOB}"}})', "up")],
        unit="short",
        description="Scrape targets answering; 0 (or none) fires DugoutDown.",
        thresholds=[(None, "red"), (1, "green")],
        w=6,
        h=6,
    )
    g.panel(
        "timeseries",
        "Queue depth",
        [("sum by (pipeline) (dugout_job_queue_depth)", "{{pipeline}}")],
        unit="short",
        description="Runs waiting in the database queue.",
        w=6,
        h=6,
    )
    g.panel(
        "timeseries",
        "CPU per process",
        [
            ("rate(dugout_process_cpu_seconds[5m])", "pid {{pid}}"),
            (f'rate(process_cpu_seconds_total{{job="{SCRAPE_JOB}"}}[5m])', "{{instance}}"),
        ],
        unit="percentunit",
        w=12,
        description="CPU seconds per second of each server process (several workers: one series "
        "per pid; one process: the standard process metrics).",
    )
    g.panel(
        "timeseries",
        "Resident memory per process",
        [
            ("dugout_process_resident_memory_bytes", "pid {{pid}}"),
            (f'process_resident_memory_bytes{{job="{SCRAPE_JOB}"}}', "{{instance}}"),
        ],
        unit="bytes",
        w=12,
        description="Resident set size of each server process.",
    )
    g.row("Opportunities and strategies")
    g.panel(
        "timeseries",
        "Opportunities by strategy",
        [
            (
                "sum by (strategy) (rate(dugout_opportunities_detected_total[15m])) * 60",
                "{{strategy}}",
            )
        ],
        unit="opm",
        description="New opportunities stored per minute.",
    )
    g.panel(
        "timeseries",
        "Detection latency",
        [
            *_quantiles("dugout_opportunity_detection_latency_seconds", "strategy")[1:2],
            (
                "histogram_quantile(0.95, sum by (le) (rate(dugout_opportunity_detection_latency_seconds_bucket[15m])))",
                "all p95",
            ),
        ],
        unit="s",
        description="detected_at - data_available_at; the SLO is 95 % within 60 s.",
        thresholds=[(None, "green"), (60, "red")],
    )
    g.panel(
        "timeseries",
        "Strategy ROI and CLV",
        [("dugout_strategy_roi", "ROI {{strategy}}"), ("dugout_strategy_clv", "CLV {{strategy}}")],
        unit="percentunit",
        description="Profit over stake and mean closing line value of graded bets.",
    )
    g.row("Celery workers")
    g.panel(
        "timeseries",
        "Celery tasks by outcome",
        [
            (
                "sum by (queue, outcome) (rate(dugout_celery_tasks_total[5m])) * 60",
                "{{queue}} {{outcome}}",
            )
        ],
        unit="opm",
        w=12,
        description="Run tasks handled by the workers, per minute.",
    )
    g.panel(
        "timeseries",
        "Celery queue wait p95",
        [
            (
                "histogram_quantile(0.95, sum by (le, queue) (rate(dugout_celery_queue_wait_seconds_bucket[5m])))",
                "{{queue}}",
            )
        ],
        unit="s",
        w=12,
        description="Published to started, per queue.",
    )
    return {
        "title": "Dugout",
        "uid": "dugout",
        "description": "SLOs, pipelines, data freshness, scheduler, processes and strategies. "
        "Generated by app/observability/grafana.py.",
        "schemaVersion": 39,
        "version": 2,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "tags": ["dugout"],
        "templating": {"list": []},
        "panels": g.panels,
    }


def render_dashboard() -> str:
    """The provisioned file's text."""
    return json.dumps(dashboard(), indent=2) + "\n"


if __name__ == "__main__":  # pragma: no cover - a maintenance command
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else DASHBOARD_PATH
    out.write_text(render_dashboard())
    print(f"wrote {out}")
