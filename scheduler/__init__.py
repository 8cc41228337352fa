"""The scheduler host: APScheduler under one elected leader, commands, resilience, fallbacks.

`init_scheduler(app)` starts this process's host; call it from `create_app` when
`settings.scheduler_enabled`. Under gunicorn keep `preload_app = False`: each worker then
builds its app, and so its host, after the fork. Should a process with a host fork anyway, the
child drops the parent's host without touching its connections and starts its own.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import uuid
import weakref

from flask import Flask

from app.extensions import AUDIT, DB, EXECUTOR, METRICS, SCHEDULER, SETTINGS
from scheduler.breakglass import (
    AuditUnavailable,
    BreakGlassRefused,
    KillSwitchEngaged,
    PermissionDenied,
    command_state,
    get_executor,
    kill_switch_state,
    run_now,
    submit_command,
    wait_for_command,
)
from scheduler.config import SchedulerConfig
from scheduler.executors import LocalExecutor, RunHandle, TaskExecutor
from scheduler.host import SchedulerHost
from scheduler.status import scheduler_status

__all__ = [
    "AuditUnavailable",
    "BreakGlassRefused",
    "KillSwitchEngaged",
    "LocalExecutor",
    "PermissionDenied",
    "RunHandle",
    "SchedulerConfig",
    "SchedulerHost",
    "TaskExecutor",
    "command_state",
    "get_executor",
    "init_scheduler",
    "kill_switch_state",
    "run_now",
    "scheduler_status",
    "stop_scheduler",
    "submit_command",
    "wait_for_command",
]

log = logging.getLogger("dugout.scheduler")
_apps: weakref.WeakSet[Flask] = weakref.WeakSet()  # apps with a host in this process
_process_hooks: list[bool] = []  # non-empty once the fork and exit hooks are installed


def init_scheduler(app: Flask) -> None:
    """Start this process's scheduler host for `app` (idempotent); it leads or stands by."""
    if SCHEDULER.find(app) is not None:
        return
    settings = SETTINGS.of(app)
    sessions = DB.of(app).sessionmaker
    assert sessions is not None, "Database not configured"
    host = SchedulerHost(
        sessions=sessions,
        database_url=settings.resolved_database_url,
        executor=get_executor(app),
        config=SchedulerConfig.from_settings(settings),
        var_dir=settings.var_dir,
        metrics=lambda: METRICS.find(app),
        audit=AUDIT.find(app),
    )
    SCHEDULER.put(app, host)
    if not _process_hooks:
        os.register_at_fork(after_in_child=_after_fork_in_child)
        atexit.register(_stop_all)
        _process_hooks.append(True)
    _apps.add(app)
    host.start()
    log.info("scheduler host started", extra={"holder": host.identity})


def stop_scheduler(app: Flask, timeout_s: float = 30.0) -> list[uuid.UUID]:
    """Stop within `timeout_s`: refuse new runs, step down (the lease goes to another host),
    give runs in flight the rest of the time, then record the unfinished ones as interrupted
    and re-queue them through the command table. Returns the re-queued run ids."""
    deadline = time.monotonic() + timeout_s
    host = SCHEDULER.pop(app)
    executor = EXECUTOR.pop(app)
    _apps.discard(app)
    stopper = None
    if host is not None:  # stepping down waits for its jobs, which wait for their runs
        stopper = threading.Thread(target=host.stop, args=(timeout_s,), name="dugout-step-down")
        stopper.start()
    left = executor.drain(deadline - time.monotonic() - 1.0) if executor is not None else []
    if stopper is not None:
        stopper.join(max(0.1, deadline - time.monotonic()))
    if not left:
        return []
    from scheduler.commands import requeue_interrupted
    from scheduler.leader import host_identity

    sessions = DB.of(app).sessionmaker
    assert sessions is not None, "Database not configured"
    requeue_interrupted(
        sessions,
        left,
        actor=f"shutdown:{host.identity if host is not None else host_identity()}"[:64],
        reason=f"the server process stopped before the run ended (grace {timeout_s:.0f} s)",
    )
    return [r.run_id for r in left]


def _after_fork_in_child() -> None:
    """In a forked child: forget the parent's host and executor (their threads do not exist
    here and their connections belong to the parent, so never close them), then start anew."""
    for app in list(_apps):
        if SCHEDULER.pop(app) is None:
            continue
        EXECUTOR.pop(app)
        _apps.discard(app)
        init_scheduler(app)


def _stop_all() -> None:
    for app in list(_apps):
        host = SCHEDULER.find(app)
        if host is not None:
            host.stop(timeout_s=10.0)
