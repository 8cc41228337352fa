"""Per-app shared services: the pipeline context every trigger (scheduler, button, API) uses."""

from __future__ import annotations

import threading

from flask import Flask

from app.config import Settings
from app.db import get_db
from app.extensions import OBSERVERS, PIPELINE_CONTEXT, SETTINGS
from app.observability.observer import register_observer
from app.pipelines.context import PipelineContext

__all__ = ["pipeline_context", "register_observer"]

_lock = threading.Lock()


def pipeline_context(app: Flask) -> PipelineContext:
    """The app's one PipelineContext, built on first use from its settings and database."""
    ctx = PIPELINE_CONTEXT.find(app)
    if ctx is not None:
        return ctx
    with _lock:
        ctx = PIPELINE_CONTEXT.find(app)
        if ctx is None:
            from app.pipelines.build import build_context
            from scheduler.alerts import AlertBook
            from scheduler.resilience import source_breakers

            settings: Settings = SETTINGS.of(app)
            db = get_db(app)
            assert db.sessionmaker is not None
            ctx = build_context(
                settings,
                db.sessionmaker,
                observers=OBSERVERS.setdefault(app, []),
                breakers=source_breakers(db.sessionmaker, settings),
                alerts=AlertBook(db.sessionmaker),
            )
            PIPELINE_CONTEXT.put(app, ctx)
    return ctx
