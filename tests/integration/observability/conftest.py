"""Apps with observability tuned for tests: in-memory spans, no caching of ledger gauges."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@pytest.fixture
def spans() -> InMemorySpanExporter:
    """Finished spans of this test's app."""
    return InMemorySpanExporter()


@pytest.fixture
def make_obs_app(
    make_app: Callable[..., Flask], spans: InMemorySpanExporter
) -> Callable[..., Flask]:
    """make_app with spans kept in memory and gauges read fresh on every scrape."""

    def factory(**overrides: Any) -> Flask:
        overrides.setdefault("span_exporter", spans)
        overrides.setdefault("metrics_ledger_ttl_s", 0.0)
        overrides.setdefault("slo_evaluate_interval_s", 0.0)
        return make_app(**overrides)

    return factory


@pytest.fixture
def app(make_obs_app: Callable[..., Flask]) -> Flask:
    """Here `app` (and so `db`, `login_as`, `anon`) is the app with observability on."""
    return make_obs_app()


def sample(app: Flask, name: str, **labels: str) -> float:
    """One sample from the app's own (fresh per app) registry; 0 when absent."""
    value = app.extensions["dugout.metrics"].registry.get_sample_value(name, labels)
    return 0.0 if value is None else float(value)
