"""Dugout: the Flask server with Dash pages on it. `create_app` only wires things together."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from app.config import Settings, ensure_secret_key, load_settings
from app.extensions import AUDIT, METRICS, READINESS, ROLLUPS, RUN_LOGS, SETTINGS


def create_app(config: Mapping[str, Any] | Settings | None = None) -> Flask:
    """Build the server: settings, logging, database, the rollup keeper, observability, auth,
    health, the Dash pages, then (when enabled) this process's scheduler host."""
    from app import api, api_control, auth, health
    from app.audit import settings_audit_log
    from app.audit_checkpoints import checkpoint_gauge
    from app.dashboard import init_dash
    from app.db import Database
    from app.deployment import allow_hosts, private_sqlite_files, trust_proxies
    from app.migrate import head_revision, upgrade
    from app.observability import init_observability
    from app.observability.logging import configure_logging
    from app.observability.run_logs import install_run_logs
    from app.page_weight import init_page_weight
    from app.request_limits import init_request_limits
    from app.requestctx import init_request_context
    from app.rollups.keeper import RollupKeeper
    from app.security_headers import init_security_headers

    settings = config if isinstance(config, Settings) else load_settings(config)
    configure_logging(settings.log_level, settings.log_json)
    server = Flask(__name__)
    server.config["SECRET_KEY"] = ensure_secret_key(settings)
    server.config["TESTING"] = settings.testing
    SETTINGS.put(server, settings)
    allow_hosts(server, settings.allowed_host_list)  # first: a wrong Host gets nothing else

    if settings.is_sqlite and not settings.database_url:  # ours: private from the first byte
        private_sqlite_files(settings.sqlite_path)
    db = Database()
    db.init_app(server, settings)
    if settings.is_sqlite:  # the embedded default migrates itself; PostgreSQL uses `db upgrade`
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        assert db.engine is not None
        upgrade(db.engine)
    assert db.sessionmaker is not None
    RUN_LOGS.put(server, install_run_logs(db.sessionmaker, settings))
    head_revision()  # the migration scripts read once now, not by the first health check
    if settings.rollup_keeper:  # rollups current from start-up on: the first reader pays nothing
        assert db.sessionmaker is not None
        ROLLUPS.put(server, RollupKeeper(db.sessionmaker)).start()

    init_request_context(server)  # first: every later hook and refusal carries the request id
    init_page_weight(server)  # compresses what every later hook answered; bundles cached a year
    init_observability(server, settings)  # before auth, so refusals are counted and traced
    READINESS.setdefault(server, []).extend(readiness_checks(settings, db))
    server.register_blueprint(api.bp)
    server.register_blueprint(api_control.bp)  # break-glass over the API
    gauge = checkpoint_gauge(METRICS.of(server).registry)
    audit = settings_audit_log(settings, db.sessionmaker, observers=[gauge])  # type: ignore[arg-type]
    AUDIT.put(server, audit)
    auth.init_auth(server, settings, db)
    server.register_blueprint(health.bp)
    dash_app = init_dash(server)
    init_security_headers(server, dash_app.csp_hashes)
    init_request_limits(server, dash_app, settings.max_content_length)
    trust_proxies(server, settings.trusted_proxies)  # outermost: every layer sees the client
    # Warm the Dash app once (plotly/dash#3971: first requests in a fresh worker can race).
    server.test_client().get("/healthz")
    if settings.scheduler_enabled:  # last: the host may lead at once and run pipelines
        from scheduler import init_scheduler

        init_scheduler(server)
    return server


def readiness_checks(settings: Settings, db: Any) -> list[Any]:
    """Readiness beyond the database: a scheduler leader with a fresh heartbeat, and Redis
    while runs execute on Celery (the scheduler's executor switch says where they do)."""
    from app.observability import setting
    from app.observability.readiness import readiness_extras

    celery = settings.executor == "celery"
    mode = None
    if celery:
        from scheduler.executors import ExecutorSwitch

        switch = ExecutorSwitch(db.sessionmaker, ttl_s=0.0)  # fresh: readiness hits the DB anyway

        def mode() -> str:
            return switch.override() or "celery"

    return readiness_extras(
        db.sessionmaker,
        scheduler=bool(settings.scheduler_enabled),
        redis_url=settings.redis_url if celery else None,
        executor_mode=mode,
        stale_after_s=float(setting(settings, "scheduler_stale_after_s")),
    )
