"""The one executor factory: DUGOUT_EXECUTOR's choice, built once per app or process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.pipelines.context import PipelineContext
from scheduler.config import SchedulerConfig
from scheduler.executors.base import TaskExecutor
from scheduler.executors.local import LocalExecutor
from scheduler.executors.routed import ExecutorSwitch, RoutedExecutor


def build_executor(
    settings: Any,
    sessions: sessionmaker[Session],
    context: PipelineContext | Callable[[], PipelineContext],
    *,
    config: SchedulerConfig | None = None,
) -> TaskExecutor:
    """The executor DUGOUT_EXECUTOR asks for: the local pool (sized by the scheduler config),
    or Celery with the local pool standing by for an operator's switch (`dugout executor local`).
    """
    config = config or SchedulerConfig.from_settings(settings)
    local = LocalExecutor(
        context, max_workers=config.run_threads, critical_workers=config.critical_threads
    )
    if settings.executor != "celery":
        return local
    from scheduler.executors.celery.app import make_celery
    from scheduler.executors.celery.executor import CeleryExecutor

    celery = CeleryExecutor(make_celery(settings), sessions)
    return RoutedExecutor({"local": local, "celery": celery}, "celery", ExecutorSwitch(sessions))
