"""Fixtures for scheduler integration tests on PostgreSQL: a clean scratch database and hosts
in this process (stopped at the end of each test)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pg_scheduler import PG_BIN, HostBundle, Processes, ThrowawayCluster, clean

from app.db import Database, build_engine
from app.migrate import upgrade


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """The scratch PostgreSQL database, emptied for this test."""
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
def make_host(pg_url: str, tmp_path: Path) -> Iterator[Callable[..., HostBundle]]:
    """Build (not start) hosts on the scratch database; all are stopped at the end."""
    made: list[HostBundle] = []

    def factory(identity: str, **config: Any) -> HostBundle:
        made.append(HostBundle(pg_url, tmp_path, identity, **config))
        return made[-1]

    yield factory
    for bundle in made:
        bundle.stop()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    """Spawn child processes; every one is terminated (then killed) at the end."""
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()


@pytest.fixture
def throwaway_pg() -> Iterator[ThrowawayCluster]:
    """A migrated PostgreSQL cluster of this test's own, which the test may stop and start."""
    if not (PG_BIN / "initdb").exists():
        pytest.fail(f"no PostgreSQL server binaries in {PG_BIN}")
    cluster = ThrowawayCluster()
    try:
        cluster.init()
        engine = build_engine(cluster.url)
        upgrade(engine)
        engine.dispose()
        yield cluster
    finally:
        cluster.destroy()
