"""Per-app shared services: the pipeline context every trigger (scheduler, button, API) uses."""

from __future__ import annotations

import threading

from flask import Flask

from app.config import Settings
from app.db import get_db
from app.observability.observer import register_observer
from app.pipelines.context import PipelineContext

__all__ = ["pipeline_context", "register_observer"]

_lock = threading.Lock()


def pipeline_context(app: Flask) -> PipelineContext:
    """The app's one PipelineContext, built on first use from its settings and database."""
    ctx = app.extensions.get("dugout.pipeline_ctx")
    if ctx is not None:
        return ctx  # type: ignore[no-any-return]
    with _lock:
        ctx = app.extensions.get("dugout.pipeline_ctx")
        if ctx is None:
            from app.pipelines.build import build_context
            from scheduler.alerts import AlertBook
            from scheduler.resilience import source_breakers

            settings: Settings = app.extensions["dugout.settings"]
            db = get_db(app)
            assert db.sessionmaker is not None
            ctx = build_context(
                settings,
                db.sessionmaker,
                observers=app.extensions.setdefault("dugout.observers", []),
                breakers=source_breakers(db.sessionmaker, settings),
                alerts=AlertBook(db.sessionmaker),
            )
            app.extensions["dugout.pipeline_ctx"] = ctx
    return ctx  # type: ignore[no-any-return]
