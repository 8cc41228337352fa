"""Migrations: the models and the Alembic history agree, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.db import Base
from app.migrate import current_revision, head_revision, include_object


def test_schema_at_head_matches_models(db) -> None:
    assert current_revision(db.engine) == head_revision()
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object}
        )
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], f"models differ from migrations: {diff}"


def test_readyz_names_migrations_when_behind(app, db) -> None:
    from sqlalchemy import text

    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'old'"))
    try:
        r = app.test_client().get("/readyz")
        assert r.status_code == 503 and r.json["failing"] == ["migrations"]
    finally:
        with db.engine.begin() as conn:
            conn.execute(
                text("UPDATE alembic_version SET version_num = :v"), {"v": head_revision()}
            )
    assert app.test_client().get("/readyz").status_code == 200


def test_readyz_names_the_database_when_unreachable(tmp_path) -> None:
    from app import create_app

    app = create_app(
        {
            "var_dir": str(tmp_path),
            "log_level": "WARNING",
            "database_url": "postgresql+psycopg://postgres@127.0.0.1:1/nowhere",
        }
    )
    try:
        r = app.test_client().get("/readyz")
        assert r.status_code == 503 and r.json["failing"] == ["database"]
        assert "database" in r.json["checks"][0]["name"] and r.json["checks"][0]["detail"]
        assert app.test_client().get("/healthz").status_code == 200
    finally:
        from scheduler import stop_scheduler

        stop_scheduler(app, timeout_s=5)  # its host keeps trying to lead otherwise


def test_postgres_sessions_idle_in_a_transaction_are_ended_by_the_server(
    pg_database, monkeypatch
) -> None:
    """A frozen process cannot hold row locks for ever: every pooled PostgreSQL connection
    carries idle_in_transaction_session_timeout (DUGOUT_DB_IDLE_IN_TRANSACTION_TIMEOUT_S)."""
    from sqlalchemy import text

    from app.db import build_engine

    monkeypatch.setenv("DUGOUT_DB_IDLE_IN_TRANSACTION_TIMEOUT_S", "2.5")
    engine = build_engine(pg_database)
    with engine.connect() as conn:
        shown = conn.execute(text("SHOW idle_in_transaction_session_timeout")).scalar()
    engine.dispose()
    assert shown == "2500ms"
    monkeypatch.delenv("DUGOUT_DB_IDLE_IN_TRANSACTION_TIMEOUT_S")
    engine = build_engine(pg_database)
    with engine.connect() as conn:
        assert conn.execute(text("SHOW idle_in_transaction_session_timeout")).scalar() == "1min"
    engine.dispose()


def test_the_revision_check_keeps_nothing_alive_between_calls(backend, request, tmp_path) -> None:
    """Readiness reads the revision on every probe: across many reads, the objects alive stay
    as they were (Alembic's MigrationContext left ~98 behind per call, for good), and a
    database never migrated answers None. A bare engine, no app: its keeper's thread would
    allocate beside the count."""
    import gc

    from app.db import build_engine
    from app.migrate import upgrade

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrated.db'}"
        engine = build_engine(url)
        upgrade(engine)
    else:
        engine = build_engine(request.getfixturevalue("pg_database"))
    empty = build_engine(f"sqlite:///{tmp_path / 'never-migrated.db'}")
    try:
        for _ in range(3):  # the statement's first compile and the pool's connection
            assert current_revision(engine) == head_revision()
        gc.collect()
        alive = len(gc.get_objects())
        for _ in range(300):
            assert current_revision(engine) == head_revision()
        gc.collect()
        # under one per call: what the process's other threads allocate meanwhile stays well
        # below it (a run of the suite saw 100), the leak was 29,400
        assert len(gc.get_objects()) - alive < 300
        assert current_revision(empty) is None
    finally:
        engine.dispose()
        empty.dispose()
