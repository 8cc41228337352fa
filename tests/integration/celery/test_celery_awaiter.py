"""The host awaiting a Celery run reads the ledger for runs declared lost. A redelivery closes
the lost attempt and opens its retry in two commits; between them the ledger shows an
interrupted run with no retry, and the awaiter must not take that for the end of the run while
the redelivery holds the run's lock."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from celery_support import FAST_CELERY
from prometheus_client import CollectorRegistry

from app import create_app
from app.pipelines.ledger import Interruption, record_failed_run
from scheduler import get_executor, stop_scheduler
from scheduler.executors.celery.executor import CeleryExecutor, opening_of
from scheduler.executors.celery.tasks import RunLock

pytestmark = pytest.mark.postgres


def test_an_interrupted_run_whose_redelivery_holds_its_lock_is_still_awaited(
    pg_url: str, redis_url: str, tmp_path: Path
) -> None:
    app = create_app(
        {
            "var_dir": str(tmp_path / "var"),
            "database_url": pg_url,
            "testing": True,
            "log_level": "WARNING",
            "scheduler_enabled": False,
            "executor": "celery",
            "redis_url": redis_url,
            "metrics_registry": CollectorRegistry(),
            "slo_evaluate_interval_s": 0,
            **{f"celery_{k}": v for k, v in FAST_CELERY.items()},
        }
    )
    client = redis.Redis.from_url(redis_url)
    try:
        executor = get_executor(app).executors["celery"]
        assert isinstance(executor, CeleryExecutor)
        # no worker runs: the task waits in Redis while this host awaits its result
        handle = executor.submit_pipeline("collection", trigger="manual", actor="t")
        watcher = executor.watcher
        request = watcher._waiting[str(handle.run_id)].request
        # a redelivery took the run's lock and closed the lost attempt, its retry not open yet
        lock = RunLock(client, handle.run_id, ttl_s=60)
        assert lock.acquire()
        record_failed_run(
            executor.sessions,
            opening_of(request),
            Interruption("WorkerLost", "redelivered"),
            executor.clock(),
            status="interrupted",
        )
        watcher._settle_lost([str(handle.run_id)])
        assert not handle.done(), "the awaiter gave up on a run a redelivery is retrying"

        lock.release()  # nobody retries it after all: now it was lost
        watcher._settle_lost([str(handle.run_id)])
        result = handle.result(timeout=30)
        assert result.status == "interrupted" and result.run_id == handle.run_id
    finally:
        stop_scheduler(app)
        client.close()
