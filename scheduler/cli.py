"""`dugout scheduler` (the host as its own process), `dugout worker` (the DB queue, or with
`--celery` a Celery worker) and `dugout executor` (the operator's audited executor switch).

Add them to the main command with `main.add_command(...)`. Standalone:
`python -m scheduler.cli scheduler|worker|executor`.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import click

from app.audit import settings_audit_log
from app.config import ConfigError, Settings
from app.db import Database
from app.migrate import upgrade
from app.observability.logging import configure_logging
from app.observability.run_logs import install_run_logs
from app.pipelines.context import PipelineContext
from scheduler.config import SchedulerConfig, load_every_setting
from scheduler.dispatch import build_dispatcher
from scheduler.executors import build_executor
from scheduler.host import SchedulerHost
from scheduler.leader import host_identity
from scheduler.queue import DbQueue, QueueWorker


class _Runtime:
    """Settings, database, pipeline context and executor for a process without a web server."""

    def __init__(self) -> None:
        try:
            self.settings: Settings = load_every_setting()
            self.config = SchedulerConfig.from_settings(self.settings)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
        configure_logging(self.settings.log_level, self.settings.log_json, stream=sys.stderr)
        self.db = Database(self.settings.resolved_database_url)
        assert self.db.engine is not None and self.db.sessionmaker is not None
        self.sessions = self.db.sessionmaker
        if self.settings.is_sqlite:
            self.settings.var_dir.mkdir(parents=True, exist_ok=True)
            upgrade(self.db.engine)
        install_run_logs(self.sessions, self.settings)  # each run's lines for its page
        self._ctx: PipelineContext | None = None
        self._lock = threading.Lock()
        self.executor = build_executor(
            self.settings, self.sessions, self.context, config=self.config
        )

    def context(self) -> PipelineContext:
        """The pipeline context, built once on first use."""
        with self._lock:
            if self._ctx is None:
                from app.pipelines.build import build_context
                from scheduler.alerts import AlertBook
                from scheduler.resilience import source_breakers

                self._ctx = build_context(
                    self.settings,
                    self.sessions,
                    breakers=source_breakers(self.sessions, self.settings),
                    alerts=AlertBook(self.sessions),
                )
            return self._ctx


def _until_signalled() -> threading.Event:
    """An event set by SIGTERM or SIGINT."""
    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


@click.command("scheduler")
@click.option(
    "--identity", default=None, help="Name in the lease and the ledger (default: host:pid:random)."
)
def scheduler_command(identity: str | None) -> None:
    """Run the scheduler host in this process until SIGTERM: it leads or stands by."""
    rt = _Runtime()
    host = SchedulerHost(
        sessions=rt.sessions,
        database_url=rt.settings.resolved_database_url,
        executor=rt.executor,
        config=rt.config,
        var_dir=rt.settings.var_dir,
        identity=identity,
        audit=settings_audit_log(rt.settings, rt.sessions),
    )
    stop = _until_signalled()
    host.start()
    click.echo(f"scheduler host {host.identity} started", err=True)
    stop.wait()
    host.stop()
    rt.executor.shutdown(wait=True)
    rt.db.dispose()


@click.command("worker")
@click.option(
    "--concurrency",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Queued runs to work on at once.",
)
@click.option("--once", is_flag=True, help="Run what is due now, then exit.")
@click.option("--name", default=None, help="Worker name recorded on claimed jobs.")
@click.option(
    "--celery",
    "use_celery",
    is_flag=True,
    help="Be a Celery worker on DUGOUT_REDIS_URL (queues critical,default) instead.",
)
@click.option(
    "--queues", default="critical,default", show_default=True, help="Celery queues to consume."
)
def worker_command(
    concurrency: int, once: bool, name: str | None, use_celery: bool, queues: str
) -> None:
    """Claim runs from the database queue (each claimed once) and run them; with --celery,
    run a Celery worker instead (prefork pool of --concurrency processes)."""
    if use_celery:
        os.execv(sys.executable, celery_worker_argv(concurrency, queues, name))  # noqa: S606
    rt = _Runtime()
    worker_name = name or f"worker:{host_identity()}"
    queue = DbQueue(rt.sessions, lock_dir=rt.settings.var_dir if rt.settings.is_sqlite else None)
    dispatcher = build_dispatcher(
        rt.sessions, rt.executor, rt.config, later=queue.enqueue_order, actor=worker_name
    )
    worker = QueueWorker(
        queue, rt.executor, dispatcher, name=worker_name, poll_s=rt.config.queue_poll_s
    )
    if once:
        done = _drain(worker.run_once)
        click.echo(f"ran {done} queued jobs", err=True)
    else:
        stop = _until_signalled()
        threads = [
            threading.Thread(target=worker.run_until, args=(stop,), name=f"dugout-worker-{i}")
            for i in range(concurrency)
        ]
        for t in threads:
            t.start()
        click.echo(f"{worker_name} waiting for queued runs", err=True)
        stop.wait()
        for t in threads:
            t.join()
    rt.executor.shutdown(wait=True)
    rt.db.dispose()


def celery_worker_argv(concurrency: int, queues: str, name: str | None = None) -> list[str]:
    """The documented `celery -A scheduler.executors.celery.app worker -Q critical,default` line."""
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "scheduler.executors.celery.app",
        "worker",
        "-Q",
        queues,
        "--concurrency",
        str(concurrency),
        "--pool",
        "prefork",
        "--without-mingle",
        "--without-gossip",
        "--loglevel",
        os.environ.get("DUGOUT_LOG_LEVEL", "INFO"),
    ]
    return [*argv, "-n", name] if name else argv


@click.command("executor")
@click.argument("mode", type=click.Choice(["local", "celery", "configured"]))
@click.option("--reason", required=True, help="Why (kept in the audit log).")
def executor_command(mode: str, reason: str) -> None:
    """Switch where runs execute, in every process at once (audited): `local` when Redis is
    down, `configured` to go back to DUGOUT_EXECUTOR."""
    import getpass

    from app.accounts import CLI_ROLE
    from scheduler.breakglass import BreakGlass, BreakGlassRefused

    try:
        settings = load_every_setting()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    db = Database(settings.resolved_database_url)
    assert db.sessionmaker is not None

    def no_runs() -> Any:  # this command never runs a pipeline
        raise RuntimeError("dugout executor runs no pipeline")

    policy = BreakGlass(  # the one policy: reason, audit first, then the command
        sessions=db.sessionmaker,
        audit=settings_audit_log(settings, db.sessionmaker),
        celery_configured=settings.executor == "celery",
        executor=no_runs,
        meta=lambda: {"source_ip": "local"},
    )
    try:
        command_id = policy.submit_command(
            "executor",
            None,
            actor=f"cli:{getpass.getuser()}",
            role=CLI_ROLE,
            reason=reason,
            params={"mode": mode},
        )
    except BreakGlassRefused as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.dispose()
    click.echo(f"executor switched to {mode} (command {command_id})")


def _drain(run_once: Callable[[], bool]) -> int:
    done = 0
    while run_once():
        done += 1
    return done


@click.group()
def cli() -> None:
    """Dugout scheduler processes."""


cli.add_command(scheduler_command)
cli.add_command(worker_command)
cli.add_command(executor_command)

if __name__ == "__main__":
    cli()
