"""What the scheduler looks like from any worker: leader, jobs, breakers, kill switch, queue."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db import get_db, utcnow
from app.extensions import SCHEDULER, SETTINGS
from app.models import (
    CircuitBreaker,
    JobSchedule,
    QueuedJob,
    SchedulerCommand,
    SchedulerLease,
)
from app.queries.runs import LastTick, last_scheduled_runs
from scheduler.control import KILL_SWITCH, KillSwitch
from scheduler.executors import EXECUTOR_SWITCH
from scheduler.leader import LEASE_NAME


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def scheduler_status(app: Flask, now: datetime | None = None) -> dict[str, Any]:
    """Everything the admin panel and `dugout status` show about scheduling, as plain data."""
    sessions = get_db(app).sessionmaker
    assert sessions is not None
    settings = SETTINGS.find(app)
    return scheduler_picture(
        sessions,
        configured_executor=getattr(settings, "executor", None) or "local",
        host=SCHEDULER.find(app),
        now=now,
    )


def scheduler_picture(
    sessions: sessionmaker[Session],
    *,
    configured_executor: str = "local",
    host: Any = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The scheduler as plain data from the database alone (a terminal has no app)."""
    now = now or utcnow()
    with sessions() as session:
        lease = session.get(SchedulerLease, LEASE_NAME)
        jobs = session.scalars(select(JobSchedule).order_by(JobSchedule.job_id)).all()
        breakers = session.scalars(
            select(CircuitBreaker)
            .where(CircuitBreaker.name.not_in((KILL_SWITCH, EXECUTOR_SWITCH)))
            .order_by(CircuitBreaker.name)
        ).all()
        switch = session.get(CircuitBreaker, EXECUTOR_SWITCH)
        queued = (
            session.scalar(
                select(func.count()).select_from(QueuedJob).where(QueuedJob.status == "queued")
            )
            or 0
        )
        pending = (
            session.scalar(
                select(func.count())
                .select_from(SchedulerCommand)
                .where(SchedulerCommand.status == "pending")
            )
            or 0
        )
        last = last_scheduled_runs(session, (j.pipeline for j in jobs))
        states = {b.name: b.state for b in breakers}
        alive = bool(lease and lease.holder and lease.expires_at and lease.expires_at > now)
        return {
            "leader": {
                "holder": lease.holder if lease else None,
                "epoch": lease.epoch if lease else 0,
                "heartbeat_at": _iso(lease.heartbeat_at) if lease else None,
                "alive": alive,
            },
            "this_host": host.status() if host is not None else None,
            "jobs": [
                {
                    "job_id": j.job_id,
                    "pipeline": j.pipeline,
                    "interval_s": j.interval_s,
                    "priority": j.priority,
                    "enabled": j.enabled,
                    "breaker": states.get(j.job_id, "closed"),
                    **_timing(j, last.get(j.pipeline), now),
                }
                for j in jobs
            ],
            "breakers": [
                {
                    "name": b.name,
                    "state": b.state,
                    "consecutive_failures": b.consecutive_failures,
                    "opened_at": _iso(b.opened_at),
                }
                for b in breakers
            ],
            "kill_switch": _kill(KillSwitch(sessions).state()),
            "executor": _executor(configured_executor, switch),
            "queue_depth": int(queued),
            "pending_commands": int(pending),
        }


def breaker_list(status: dict[str, Any]) -> list[dict[str, Any]]:
    """Every breaker of a scheduler picture: each job's (closed until it first trips) and every
    one that has tripped (sources' included), by name."""
    tripped = {b["name"]: b for b in status["breakers"]}
    closed = {"state": "closed", "consecutive_failures": 0, "opened_at": None}
    names = sorted({j["job_id"] for j in status["jobs"]} | set(tripped))
    return [tripped.get(name) or {"name": name, **closed} for name in names]


def _timing(job: JobSchedule, last: LastTick | None, now: datetime) -> dict[str, Any]:
    """Last status and start of the job's pipeline, and when its next tick is due."""
    next_at: datetime | None = None
    if job.enabled and job.interval_s > 0:  # interval 0: chained after its upstream
        due = now
        if last is not None and last.scheduled_for is not None:
            due = last.scheduled_for + timedelta(seconds=job.interval_s)
        next_at = max(due, now)
    return {
        "last_status": last.status if last else None,
        "last_reason": last.reason if last else "",
        "last_run_id": str(last.run_id) if last else None,
        "last_scheduled_for": _iso(last.scheduled_for) if last else None,
        "next_run_at": _iso(next_at),
    }


def _executor(configured: str, switch: CircuitBreaker | None) -> dict[str, Any]:
    """Where runs go: the configured executor and the operator's override, if any."""
    override = switch.state if switch is not None and switch.state != "configured" else None
    return {
        "configured": configured,
        "override": override,
        "mode": override or configured,
        "since": _iso(switch.opened_at) if override and switch is not None else None,
    }


def _kill(state: Any) -> dict[str, Any]:
    return {
        "engaged": state.engaged,
        "since": _iso(state.since),
        "by": state.by,
        "reason": state.reason,
    }


def kill_state(app: Flask) -> dict[str, Any]:
    """The kill switch as plain data (engaged, since, by, reason) for the banner."""
    sessions = get_db(app).sessionmaker
    assert sessions is not None
    return _kill(KillSwitch(sessions).state())
