"""The executors wing: how a pipeline run is carried out.

`base` holds the TaskExecutor interface (and RunRequest, RunHandle, its errors), `local` the
in-process thread pools, `celery/` the Celery executor, its app and its worker task, `routed` the
operator's switch between them, and `factory.build_executor` the one place that picks.
"""

from __future__ import annotations

from scheduler.executors.base import (
    PRIORITIES,
    ExecutorClosed,
    RunAbandoned,
    RunHandle,
    RunInterrupted,
    RunRequest,
    TaskExecutor,
)
from scheduler.executors.factory import build_executor
from scheduler.executors.local import LocalExecutor
from scheduler.executors.routed import (
    EXECUTOR_MODES,
    EXECUTOR_SWITCH,
    ExecutorSwitch,
    RoutedExecutor,
)

__all__ = [
    "EXECUTOR_MODES",
    "EXECUTOR_SWITCH",
    "PRIORITIES",
    "ExecutorClosed",
    "ExecutorSwitch",
    "LocalExecutor",
    "RoutedExecutor",
    "RunAbandoned",
    "RunHandle",
    "RunInterrupted",
    "RunRequest",
    "TaskExecutor",
    "build_executor",
]
