"""The Grafana dashboard is generated, covers what an on-call engineer looks for, gives every
panel a unit, and queries only metrics that /metrics (or a Celery worker, or the rules) serve."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from app.observability.grafana import DASHBOARD_PATH, dashboard, render_dashboard
from app.observability.metrics import ProcessGauges
from app.observability.rules import rules_document
from app.pipelines.runner import run_pipeline
from app.services import pipeline_context
from scheduler.executors.celery.tasks import CeleryWorkerMetrics

REPO = Path(__file__).resolve().parents[3]
NAME = re.compile(r"\b((?:dugout|process|flask|python)[a-z0-9_:]*|up)\b(?=\s*[{\[)]|\s*$|\s)")
SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def _queries() -> list[str]:
    return [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]


def _served_names(text: str) -> set[str]:
    names = set(re.findall(r"^# TYPE (\S+) \S+$", text, re.M))
    names |= set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", text, re.M))
    return names


def _registry_names(registry: CollectorRegistry) -> set[str]:
    return {s.name for family in registry.collect() for s in family.samples} | {
        family.name for family in registry.collect()
    }


def test_committed_dashboard_is_the_generated_one() -> None:
    assert (REPO / DASHBOARD_PATH).read_text() == render_dashboard(), (
        "run `python -m app.observability.grafana`"
    )


def test_every_panel_has_a_unit_and_the_topics_are_covered() -> None:
    panels = [p for p in dashboard()["panels"] if p["type"] != "row"]
    for panel in panels:
        assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]
        assert panel["targets"] and panel["description"], panel["title"]
        assert panel["datasource"]["uid"] == "prometheus"
    titles = " ".join(p["title"].lower() for p in panels)
    for topic in (
        "sli",
        "error budget",
        "burn rate",
        "run duration",
        "freshness",
        "leader",
        "heartbeat",
        "breaker",
        "quota",
        "opportunities",
        "detection latency",
        "memory",
        "cpu",
    ):
        assert topic in titles, topic
    ids = [p["id"] for p in dashboard()["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard()["panels"]:  # inside the 24-column grid, no overlaps
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24
    cells = [
        (x, y)
        for p in dashboard()["panels"]
        for x in range(p["gridPos"]["x"], p["gridPos"]["x"] + p["gridPos"]["w"])
        for y in range(p["gridPos"]["y"], p["gridPos"]["y"] + p["gridPos"]["h"])
    ]
    assert len(cells) == len(set(cells))


def test_every_query_names_a_metric_that_is_served(app, anon) -> None:
    run_pipeline(pipeline_context(app), "full", "manual", actor="tester")  # families with samples
    served = _served_names(anon.http.get("/metrics").get_data(as_text=True))
    served |= _registry_names_of(CeleryWorkerMetrics)  # each worker's own /metrics
    served |= _registry_names_of(ProcessGauges)  # the per-process gauges of multiprocess mode
    for group in rules_document()["groups"]:
        served |= {r["record"] for r in group["rules"] if "record" in r}
    served.add("up")  # Prometheus's own, per target
    used = {name for expr in _queries() for name in NAME.findall(expr)}
    assert used, "no metric names found in the dashboard"
    for name in sorted(used):
        base = next((name[: -len(s)] for s in SUFFIXES if name.endswith(s)), name)
        assert name in served or base in served, f"{name} is queried but never served"


def _registry_names_of(kind: type) -> set[str]:
    registry = CollectorRegistry()
    kind(registry)
    return _registry_names(registry)


def test_the_dashboard_file_is_valid_json_for_the_provisioner() -> None:
    data = json.loads((REPO / DASHBOARD_PATH).read_text())
    assert data["uid"] == "dugout" and data["schemaVersion"] >= 39
    provider = (REPO / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    assert "uid: prometheus" in provider
