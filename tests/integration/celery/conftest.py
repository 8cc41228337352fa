"""Fixtures for Celery tests: a scratch PostgreSQL database, Redis DB 5 flushed per test, real
`celery worker` processes (the documented line, with the demo source's simulated I/O wait)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery_support import HERE, REDIS_URL, celery_env
from pg_scheduler import Processes, clean, free_port

from app.db import Database
from scheduler.cli import celery_worker_argv


@pytest.fixture
def redis_url() -> str:
    """Redis DB 5, emptied; a Redis that does not answer fails the test."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {REDIS_URL} is not reachable: {exc}", pytrace=False)
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def pg_url(pg_database: str) -> str:
    clean(pg_database)
    return pg_database


@pytest.fixture
def db(pg_url: str) -> Iterator[Database]:
    database = Database(pg_url)
    yield database
    database.dispose()


@pytest.fixture
def sessions(db: Database) -> Any:
    return db.sessionmaker


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()


@pytest.fixture
def start_worker(
    processes: Processes, pg_url: str, redis_url: str, tmp_path: Path
) -> Callable[..., tuple[Any, int]]:
    """Start a Celery worker process; returns (process, metrics port)."""

    def start(name: str, concurrency: int = 1, **env_extra: Any) -> tuple[Any, int]:
        port = free_port()
        env = celery_env(pg_url, tmp_path / "var", redis_url, metrics_port=port)
        env.update({k: str(v) for k, v in env_extra.items()})
        argv = celery_worker_argv(concurrency, "critical,default", f"{name}@%h")
        args = [sys.executable, str(HERE / "celery_worker_main.py"), *argv[3:]]
        return processes.spawn(name, args, env), port

    return start
