"""Fault benchmark: each fault injected by pid into real Dugout processes, then the ledger read
at rest (scheduler/tally.py): ticks observed, runs per tick, executions, lost, doubled, stuck,
and the recovery time from the fault to the tick it hit (or the next one) succeeding.

Prints figures; asserts nothing. Needs PostgreSQL (DUGOUT_TEST_PG) and Redis
(DUGOUT_TEST_REDIS_URL, default db 5: it is flushed); the outage scenario starts a PostgreSQL
cluster of its own (PostgreSQL 15 server binaries in /usr/lib/postgresql/15/bin).
Run: .venv/bin/python bench/faults.py [--only NAME ...] [--after TICKS]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "tests" / "integration"
sys.path[:0] = [str(ROOT), str(HARNESS / "scheduler"), str(HARNESS / "celery")]

from celery_support import celery_env  # noqa: E402
from pg_scheduler import (  # noqa: E402
    Processes,
    ThrowawayCluster,
    clean,
    free_port,
    holder_pid,
    lease,
    process_env,
    runs,
    spawn_scheduler,
    stages_of,
)

from app.db import Database, build_engine, utcnow  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.models import PipelineRun  # noqa: E402
from scheduler.cli import celery_worker_argv  # noqa: E402
from scheduler.schedule import JobSpec, seed_schedule  # noqa: E402
from scheduler.tally import Summary, summarize, tally_ticks  # noqa: E402

PG_ADMIN = os.environ.get("DUGOUT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("DUGOUT_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
LIVENESS = {"DUGOUT_SCHEDULER_RUN_HEARTBEAT_S": "0.5", "DUGOUT_SCHEDULER_RUN_LOST_AFTER_S": "4"}
INTERVAL_S = 2
SCHEDULE = (
    JobSpec("collection", "collection", INTERVAL_S, "critical"),
    JobSpec("analysis", "analysis", 0),
)


def wait(predicate: Callable[[], Any], timeout_s: float, step_s: float = 0.05) -> Any:
    """Poll until `predicate` is truthy; raise after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout_s} s")
        time.sleep(step_s)


@dataclass
class Outcome:
    """One scenario's figures: collection ticks expected (first to last at the interval) and
    seen, executions, and over collection and its chained analysis lost, doubled, stuck."""

    name: str
    expected: int
    collection: Summary
    everything: Summary
    recovery_s: float


def read_ledger(sessions: Any) -> tuple[int, Summary, Summary]:
    """(collection ticks expected, collection summary, collection + analysis summary)."""
    with sessions() as s:
        ticks = tally_ticks(s, pipelines=("collection", "analysis"))
    collection = [t for t in ticks if t.pipeline == "collection"]
    expected = 0
    if collection:
        span = (collection[-1].tick - collection[0].tick).total_seconds()
        expected = int(span // INTERVAL_S) + 1
    return expected, summarize(collection), summarize(ticks)


class Scenario:
    """One fault on a fresh ledger: processes started, the fault injected, the ledger read."""

    def __init__(self, url: str, var: Path, after: int) -> None:
        self.url = url
        self.var = var
        self.after = after
        self.db = Database(url)
        assert self.db.sessionmaker is not None
        self.sessions = self.db.sessionmaker
        var.mkdir(parents=True, exist_ok=True)
        self.procs = Processes(var)
        self.ledger: tuple[int, Summary, Summary] | None = None  # read at rest
        self.workers: list[Any] = []  # Celery workers: stopped after the schedulers
        seed_schedule(self.sessions, SCHEDULE)

    def fetching(self) -> PipelineRun | None:
        """A collection run whose collect stage is running (its source is fetching)."""
        for run in runs(self.sessions, "collection"):
            if run.status == "running" and ("collect", "running") in stages_of(
                self.sessions, run.id
            ):
                return run
        return None

    def recovered(self, since: datetime) -> float:
        """Wait for a collection run that started after `since` to succeed; then `after` more
        ticks. Returns the seconds from now to that first success."""
        started = time.monotonic()

        def good() -> list[PipelineRun]:
            return [
                r
                for r in runs(self.sessions, "collection")
                if r.status in ("succeeded", "partial") and r.started_at and r.started_at > since
            ]

        wait(good, 180, 0.05)
        took = time.monotonic() - started
        wait(lambda: len(good()) >= self.after, 60 + self.after * INTERVAL_S * 4, 0.2)
        return took

    def read_at_rest(self) -> tuple[int, Summary, Summary]:
        """Stop the schedulers, let the Celery workers finish what they hold, stop them, then
        read the ledger (once)."""
        if self.ledger is None:
            for proc in self.procs.procs:
                if proc not in self.workers and proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(60)
            if self.workers:
                wait(lambda: not self.unfinished(), 60, 0.2)
            self.procs.stop_all()
            self.ledger = read_ledger(self.sessions)
        return self.ledger

    def unfinished(self) -> list[PipelineRun]:
        return [r for r in runs(self.sessions) if r.status in ("queued", "running")]

    def close(self) -> None:
        self.procs.stop_all()
        self.db.dispose()


def worker(sc: Scenario, name: str, **env_extra: Any) -> Any:
    env = celery_env(sc.url, sc.var, REDIS_URL, metrics_port=free_port())
    env.update(LIVENESS)
    env.update({k: str(v) for k, v in env_extra.items()})
    argv = celery_worker_argv(1, "critical,default", f"{name}@%h")
    proc = sc.procs.spawn(
        name, [sys.executable, str(HARNESS / "celery" / "celery_worker_main.py"), *argv[3:]], env
    )
    sc.workers.append(proc)
    return proc


def celery_scheduler(sc: Scenario, **extra: str) -> None:
    env = celery_env(sc.url, sc.var, REDIS_URL)
    env.update({**LIVENESS, **extra})
    sc.procs.spawn("scheduler", [sys.executable, "-m", "scheduler.cli", "scheduler"], env)


def leader_sigkill(sc: Scenario) -> float:
    env = {**process_env(sc.url, sc.var), "DUGOUT_TEST_FETCH_DELAY_S": "1"}
    for name in ("s1", "s2"):
        spawn_scheduler(sc.procs, name, env)
    holder = wait(lambda: lease(sc.sessions)[0], 90)
    wait(sc.fetching, 90)
    os.kill(holder_pid(holder), signal.SIGKILL)
    return sc.recovered(utcnow())


def leader_sigstop(sc: Scenario) -> float:
    env = {
        **process_env(sc.url, sc.var, lease_ttl_s=2.0, idle_session_timeout_s=2.0),
        "DUGOUT_TEST_FETCH_DELAY_S": "1",
    }
    for name in ("s1", "s2"):
        spawn_scheduler(sc.procs, name, env)
    holder = wait(lambda: lease(sc.sessions)[0], 90)
    wait(sc.fetching, 90)
    frozen = holder_pid(holder)
    stopped = utcnow()
    os.kill(frozen, signal.SIGSTOP)
    try:
        took = sc.recovered(stopped)
    finally:
        os.kill(frozen, signal.SIGCONT)
    wait(lambda: "steps down" in sc.procs.log("s1") + sc.procs.log("s2"), 60)
    return took


def _celery_kill(sc: Scenario, whole: bool) -> float:
    redis.Redis.from_url(REDIS_URL).flushdb()
    first = worker(sc, "w1", DUGOUT_TEST_FETCH_DELAY_S=1.5)
    celery_scheduler(sc)
    wait(sc.fetching, 120)
    killed = utcnow()
    if whole:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        worker(sc, "w2")
    else:
        child = Path(f"/proc/{first.pid}/task/{first.pid}/children").read_text().split()[0]
        os.kill(int(child), signal.SIGKILL)
    return sc.recovered(killed)


def celery_worker_sigkill(sc: Scenario) -> float:
    return _celery_kill(sc, whole=True)


def celery_pool_child_sigkill(sc: Scenario) -> float:
    return _celery_kill(sc, whole=False)


def celery_killed_before_open(sc: Scenario) -> float:
    redis.Redis.from_url(REDIS_URL).flushdb()
    held = sc.var / "held"
    held.mkdir(parents=True, exist_ok=True)
    slow = {"DUGOUT_CELERY_VISIBILITY_TIMEOUT_S": "25", "DUGOUT_CELERY_EXPIRES_S": "120"}
    first = worker(sc, "w1", DUGOUT_TEST_HOLD_BEFORE_OPEN=held, **slow)
    celery_scheduler(sc, **slow)
    wait(lambda: next(held.glob("held-*"), None), 120)
    killed = utcnow()
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    worker(sc, "w2", **slow)
    took = sc.recovered(killed)
    # the message comes back after the 25 s visibility timeout: keep the ledger open past it
    run_id = next(held.glob("held-*")).read_text().strip()
    wait(lambda: sc.procs.log("w2").count(run_id) >= 1, 120, 0.5)
    return took


def serve_sigterm(sc: Scenario) -> float:
    env = process_env(sc.url, sc.var)
    env.update(
        {
            "DUGOUT_BIND": f"127.0.0.1:{free_port()}",
            "DUGOUT_WORKERS": "2",
            "DUGOUT_THREADS": "2",
            "DUGOUT_GRACEFUL_TIMEOUT": "3",
            "DUGOUT_ADMIN_PASSWORD": "correct-horse-battery",
            "DUGOUT_TEST_FETCH_DELAY_S": "30",
            "DUGOUT_SLO_EVALUATE_INTERVAL_S": "0",
        }
    )
    serve = sc.procs.spawn(
        "serve", [sys.executable, str(HARNESS / "celery" / "serve_main.py")], env
    )
    wait(lambda: lease(sc.sessions)[0], 90)
    wait(sc.fetching, 90)
    sc.procs.spawn(
        "standby",
        [sys.executable, "-m", "scheduler.cli", "scheduler"],
        {**env, "DUGOUT_TEST_FETCH_DELAY_S": "0"},
    )
    termed = utcnow()
    serve.send_signal(signal.SIGTERM)
    return sc.recovered(termed)


def database_outage(sc: Scenario, outage_s: float = 12.0) -> float:
    """Two hosts on their own cluster; PostgreSQL down `outage_s`; recovery: from the restart
    to the outbox replayed and a tick succeeding in the main database."""
    cluster = ThrowawayCluster()
    cluster.init()
    engine = build_engine(cluster.url)
    upgrade(engine)
    engine.dispose()
    inner = Scenario(cluster.url, sc.var / "outage", sc.after)
    try:
        env = {
            **process_env(cluster.url, inner.var, outbox_replay_s=0.5),
            "DUGOUT_TEST_FETCH_DELAY_S": "0",
        }
        for name in ("s1", "s2"):
            spawn_scheduler(inner.procs, name, env)
        wait(lambda: len(runs(inner.sessions, "collection")) >= 3, 90)
        inner.db.dispose()
        cluster.stop("fast")
        time.sleep(outage_s)  # the fault's length is the scenario, not a wait for a condition
        cluster.start()
        back = utcnow()
        started = time.monotonic()
        wait(lambda: not list(inner.var.glob("outbox-*")), 120, 0.1)
        took = max(inner.recovered(back), time.monotonic() - started)
        sc.ledger = inner.read_at_rest()
        return took
    finally:
        inner.close()
        cluster.destroy()


SCENARIOS: dict[str, Callable[[Scenario], float]] = {
    "leader SIGKILL mid-run": leader_sigkill,
    "leader SIGSTOP mid-run, SIGCONT": leader_sigstop,
    "Celery worker SIGKILL mid-run": celery_worker_sigkill,
    "Celery pool child SIGKILL mid-run": celery_pool_child_sigkill,
    "Celery worker killed before its row": celery_killed_before_open,
    "SIGTERM dugout serve mid-run": serve_sigterm,
    "PostgreSQL down 12 s, two hosts": database_outage,
}


@contextmanager
def scratch_database() -> Iterator[str]:
    name = f"dugout_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(PG_ADMIN, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    url = re.sub(r"/[^/]*$", f"/{name}", PG_ADMIN).replace("postgresql://", "postgresql+psycopg://")
    engine = build_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="run the scenarios whose name has this word")
    parser.add_argument("--after", type=int, default=4, help="ticks to run after recovery")
    args = parser.parse_args()
    # SIGTERM ends the bench through its finally blocks, which stop every process it started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    chosen = {
        k: v
        for k, v in SCENARIOS.items()
        if not args.only or any(w.lower() in k.lower() for w in args.only)
    }
    outcomes: list[Outcome] = []
    with scratch_database() as url, TemporaryDirectory() as tmp:
        for i, (name, inject) in enumerate(chosen.items()):
            clean(url)
            sc = Scenario(url, Path(tmp) / f"s{i}", args.after)
            try:
                took = inject(sc)
                expected, collection, everything = sc.read_at_rest()
                outcomes.append(Outcome(name, expected, collection, everything, took))
            except Exception as exc:  # a scenario that did not recover is a figure too
                print(f"{name}: did not recover: {type(exc).__name__}: {exc}", flush=True)
                kept = Path(tempfile.mkdtemp(prefix="dugout-faults-"))
                shutil.copytree(sc.var, kept, dirs_exist_ok=True)
                print(f"  its process logs: {kept}", flush=True)
            finally:
                sc.close()
            print(f"  done: {name}", flush=True)
    print(
        f"\nfaults on {os.cpu_count()} cores; collection every {INTERVAL_S} s, analysis chained; "
        "ticks: collection ticks expected / with a row / executed; lost, doubled, stuck: "
        "ticks of collection and analysis"
    )
    print(
        f"{'fault':38} {'expected':>8} {'ticks':>5} {'executed':>8} {'runs/tick':>9} "
        f"{'lost':>4} {'doubled':>7} {'stuck':>5} {'recovery':>9}"
    )
    for o in outcomes:
        c, e = o.collection, o.everything
        print(
            f"{o.name:38} {o.expected:8d} {c.ticks:5d} {c.executions:8d} {c.runs_per_tick:9.2f} "
            f"{e.lost:4d} {e.doubled:7d} {e.stuck:5d} {o.recovery_s:8.1f}s"
        )


if __name__ == "__main__":
    main()
