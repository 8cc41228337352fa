"""What `create_app` keeps on the Flask app, typed: one slot per thing, one key per slot.

Flask's `app.extensions` is a dict of Any; reading it by string keys in many modules loses
the types and lets a typo fail at run time. Every reader and writer goes through a slot here
instead: `SETTINGS.of(app)` is a `Settings`, `SCHEDULER.find(app)` a host or None. The app
context's app is used when no app is passed. The keys stay the same strings, so tests that
set `app.extensions["dugout.clock"]` (an injected clock) keep working."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from flask import Flask, current_app

if TYPE_CHECKING:  # types only: this module imports nothing it describes
    from dash import Dash
    from flask_wtf.csrf import CSRFProtect
    from prometheus_client import Counter

    from app.audit import AuditLog
    from app.config import Settings
    from app.db import Database
    from app.denied_audit import DeniedAuditLimiter
    from app.observability import Observability
    from app.observability.metrics import DugoutMetrics
    from app.observability.run_logs import RunLogHandler
    from app.observability.web import CallbackNames
    from app.pipelines.context import PipelineContext
    from app.rollups.keeper import RollupKeeper
    from app.throttle import LoginThrottle
    from scheduler.executors.base import TaskExecutor

T = TypeVar("T")


class Slot(Generic[T]):
    """One typed entry of `app.extensions`."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def of(self, app: Flask | None = None) -> T:
        """The value; a KeyError naming the key when create_app did not set it."""
        return (app or current_app).extensions[self.key]  # type: ignore[no-any-return]

    def find(self, app: Flask | None = None) -> T | None:
        """The value, or None when it was never set (an optional part: a scheduler host)."""
        return (app or current_app).extensions.get(self.key)

    def put(self, app: Flask, value: T) -> T:
        """Set the value (create_app and the init functions it calls)."""
        app.extensions[self.key] = value
        return value

    def pop(self, app: Flask) -> T | None:
        """Remove and return the value (None when unset): a stopped or forked-away part."""
        return app.extensions.pop(self.key, None)

    def setdefault(self, app: Flask, value: T) -> T:
        """The value, set to `value` first when missing (a list others append to)."""
        return app.extensions.setdefault(self.key, value)  # type: ignore[no-any-return]


SETTINGS: Slot[Settings] = Slot("dugout.settings")
DB: Slot[Database] = Slot("dugout.db")
AUDIT: Slot[AuditLog] = Slot("dugout.audit")
CLOCK: Slot[Callable[[], datetime]] = Slot("dugout.clock")  # set by tests: the page's "now"
RUN_LOGS: Slot[RunLogHandler] = Slot("dugout.run_logs")
ROLLUPS: Slot[RollupKeeper] = Slot("dugout.rollups")
READINESS: Slot[list[Any]] = Slot("dugout.readiness")  # extra readiness checks
METRICS: Slot[DugoutMetrics] = Slot("dugout.metrics")
OBSERVABILITY: Slot[Observability] = Slot("dugout.observability")
OBSERVERS: Slot[list[Any]] = Slot("dugout.observers")  # run observers, in order
PROCESS_METRICS: Slot[Any] = Slot("dugout.process_metrics")
HTTP_METRICS: Slot[Any] = Slot("dugout.http_metrics")
TRACER_PROVIDER: Slot[Any] = Slot("dugout.tracer_provider")
LOGIN_THROTTLE: Slot[LoginThrottle] = Slot("dugout.login_throttle")
DENIED_AUDIT: Slot[DeniedAuditLimiter] = Slot("dugout.denied_audit")
DENIED_UNCOUNTED: Slot[Counter] = Slot("dugout.denied_uncounted")
CSRF: Slot[CSRFProtect] = Slot("dugout.csrf")
DASH: Slot[Dash] = Slot("dugout.dash")
CALLBACK_NAMES: Slot[CallbackNames] = Slot("dugout.callback_names")
PIPELINE_CONTEXT: Slot[PipelineContext] = Slot("dugout.pipeline_ctx")
SCHEDULER: Slot[Any] = Slot("dugout.scheduler")  # scheduler.host.SchedulerHost (a layer up)
EXECUTOR: Slot[TaskExecutor] = Slot("dugout.executor")  # a run-now's executor, built lazily
