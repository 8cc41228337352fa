"""The callables APScheduler stores by textual reference, and the context they run in.

A job in the SQLAlchemy job store is pickled with a `module:function` reference and plain
arguments, so a new leader (another process) can load it. The executor that runs the job sets
the dispatcher and the tick in a context variable first (APScheduler 3 passes neither).
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scheduler.dispatch import Dispatcher, DispatchOrder

TICK_JOB = "scheduler.jobs:run_scheduled_job"
ORDER_JOB = "scheduler.jobs:run_order"


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a running job needs: the dispatcher of the scheduler running it, and its tick."""

    dispatcher: Dispatcher
    tick: datetime


current_job: contextvars.ContextVar[JobContext | None] = contextvars.ContextVar(
    "dugout_scheduler_job", default=None
)


def _context() -> JobContext:
    ctx = current_job.get()
    if ctx is None:
        raise RuntimeError("scheduler job called outside a Dugout scheduler executor")
    return ctx


def run_scheduled_job(job_id: str) -> str:
    """One tick of an interval job: dispatch it with the tick as `scheduled_for`."""
    ctx = _context()
    return ctx.dispatcher.run_tick(job_id, ctx.tick).action


def run_order(order: dict[str, Any]) -> str:
    """A one-shot order (retry, deferral, chained job) scheduled for later."""
    return _context().dispatcher.dispatch(DispatchOrder.from_dict(order)).action
