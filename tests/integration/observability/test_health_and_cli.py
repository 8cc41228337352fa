"""Readiness extras (scheduler leader, Redis), and `dugout status` / `live` / `slo` exit codes."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from click.testing import CliRunner

from app.cli_live import live_cmd
from app.cli_status import slo_group, status_cmd
from app.db import utcnow
from app.models import Alert, SchedulerLease
from app.observability.readiness import check_redis
from scheduler import stop_scheduler


def test_readyz_follows_the_scheduler_leader(make_obs_app) -> None:
    app = make_obs_app(scheduler_enabled=True)  # create_app starts this process's host
    client = app.test_client()
    try:
        deadline = time.monotonic() + 20
        while (r := client.get("/readyz")).status_code != 200:  # the host's thread takes the lease
            assert time.monotonic() < deadline, r.json
            time.sleep(0.05)
        (check,) = [c for c in r.json["checks"] if c["name"] == "scheduler"]
        assert check["detail"].startswith("leader ")
    finally:
        stop_scheduler(app)  # steps down: the lease is released
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json["failing"] == ["scheduler"]
    with app.extensions["dugout.db"].session() as s:
        lease = s.get(SchedulerLease, "scheduler")
        lease.holder, lease.heartbeat_at = "host:gone", utcnow() - timedelta(minutes=5)
        lease.expires_at = utcnow() + timedelta(seconds=20)
    r = client.get("/readyz")
    assert r.status_code == 503 and "stale" in r.json["checks"][-1]["detail"]


def test_redis_check() -> None:
    ok = check_redis("redis://127.0.0.1:6379/0")  # the real Redis; missing, it fails the run
    assert ok.ok and ok.detail == "+PONG"
    down = check_redis("redis://127.0.0.1:1/0", timeout_s=0.5)
    assert not down.ok and down.name == "redis"


def test_readyz_stops_needing_redis_once_an_operator_switches_to_local(make_obs_app) -> None:
    from scheduler.executors import ExecutorSwitch

    app = make_obs_app(executor="celery", redis_url="redis://127.0.0.1:1/0")  # Redis down
    client = app.test_client()
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json["failing"] == ["redis"]
    db = app.extensions["dugout.db"]
    with db.sessionmaker.begin() as session:
        ExecutorSwitch(db.sessionmaker).set(session, "local")
    r = client.get("/readyz")
    assert r.status_code == 200, r.json
    (check,) = [c for c in r.json["checks"] if c["name"] == "redis"]
    assert check["ok"] and "locally" in check["detail"]


@pytest.fixture
def cli_env(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("DUGOUT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DUGOUT_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("DUGOUT_SCHEDULER_ENABLED", "false")
    if database_url:
        monkeypatch.setenv("DUGOUT_DATABASE_URL", database_url)
    else:
        monkeypatch.delenv("DUGOUT_DATABASE_URL", raising=False)


def test_status_exit_codes(cli_env, app, db, monkeypatch) -> None:
    runner = CliRunner()
    healthy = runner.invoke(status_cmd, [])
    assert healthy.exit_code == 0, healthy.output
    assert "Dugout HEALTHY" in healthy.output and "Pipeline reliability" in healthy.output
    with db.session() as s:
        s.add(
            Alert(
                key="slo:pipeline_latency:page",
                severity="page",
                title="slow runs",
                status="firing",
                fired_at=utcnow(),
                last_seen_at=utcnow(),
            )
        )
    degraded = runner.invoke(status_cmd, ["--json"])
    assert degraded.exit_code == 1 and '"status": "degraded"' in degraded.output
    monkeypatch.setenv("DUGOUT_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    down = runner.invoke(status_cmd, [])
    assert down.exit_code == 2 and "Dugout DOWN" in down.output


def test_live_once_and_slo_commands(cli_env, app) -> None:
    runner = CliRunner()
    live = runner.invoke(live_cmd, ["--iterations", "1"])
    assert live.exit_code == 0 and "Last runs" in live.output
    report = runner.invoke(slo_group, ["report"])
    assert report.exit_code == 0 and "Data freshness" in report.output
    evaluated = runner.invoke(slo_group, ["evaluate"])
    assert evaluated.exit_code == 0 and "0 changed, 0 still firing" in evaluated.output
