"""Fixtures for scheduler unit tests: a migrated SQLite file per test and hand-moved clocks."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from scheduler_fakes import FakeClock, FakeMonotonic
from sqlalchemy.orm import Session, sessionmaker

from app.db import Database
from app.migrate import upgrade


@pytest.fixture(scope="session")
def _template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "dugout.sqlite3"
    db = Database(f"sqlite:///{path}")
    assert db.engine is not None
    upgrade(db.engine)
    db.dispose()
    return path


@pytest.fixture
def var_dir(tmp_path: Path) -> Path:
    path = tmp_path / "var"
    path.mkdir()
    return path


@pytest.fixture
def database(var_dir: Path, _template_db: Path) -> Iterator[Database]:
    """A migrated SQLite database of this test's own."""
    path = var_dir / "dugout.sqlite3"
    shutil.copy(_template_db, path)
    db = Database(f"sqlite:///{path}")
    yield db
    db.dispose()


@pytest.fixture
def sessions(database: Database) -> sessionmaker[Session]:
    assert database.sessionmaker is not None
    return database.sessionmaker


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def monotonic() -> FakeMonotonic:
    return FakeMonotonic()
