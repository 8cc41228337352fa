"""Fixtures: the app over SQLite and PostgreSQL, clients logged in by role, thread hygiene."""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from app import create_app
from app.db import Base, Database, build_engine
from app.migrate import upgrade

PG_ADMIN_URL = os.environ.get("DUGOUT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
PASSWORD = "correct-horse-battery"


def _service_missing(name: str, exc: Exception) -> None:
    """A missing service fails the run with its name; it is never skipped."""
    pytest.fail(f"{name} is not reachable: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A scratch PostgreSQL database for this test session, migrated, dropped at the end."""
    name = f"dugout_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        _service_missing("PostgreSQL at 127.0.0.1:5432", exc)
    admin.execute(f'CREATE DATABASE "{name}"')
    url = re.sub(r"/[^/]*$", f"/{name}", PG_ADMIN_URL).replace(
        "postgresql://", "postgresql+psycopg://"
    )
    engine = build_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Each database-backed test runs on SQLite and on PostgreSQL."""
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL for this test's backend ('' means the embedded SQLite file under var_dir)."""
    if backend == "sqlite":
        return ""
    url: str = request.getfixturevalue("pg_database")
    _truncate_all(url)
    return url


def _truncate_all(url: str) -> None:
    from sqlalchemy.exc import OperationalError

    engine = build_engine(url)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    for attempt in range(10):
        try:
            with engine.begin() as conn:
                # the audit table refuses TRUNCATE (a trigger); the test superuser sets it aside
                conn.execute(text("SET LOCAL session_replication_role = replica"))
                conn.execute(text(f"TRUNCATE {names} CASCADE"))
                # APScheduler's job store: one-shot orders left by an earlier test must not run
                conn.execute(text("DROP TABLE IF EXISTS scheduled_jobs"))
            break
        except OperationalError as exc:
            # a process an earlier test started may still be ending (its last statements can
            # deadlock with TRUNCATE's locks); PostgreSQL aborts one side, so try again
            if "deadlock detected" not in str(exc) or attempt == 9:
                raise
    engine.dispose()


@pytest.fixture
def make_app(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Build an app on this test's database with extra settings; its rollup keeper stops
    when the test ends, so no test's keeper touches the next test's database."""
    built: list[Flask] = []

    def factory(**overrides: Any) -> Flask:
        config = {
            "var_dir": str(tmp_path / "var"),
            "database_url": database_url,
            "testing": True,
            "log_level": "WARNING",
            "scheduler_enabled": False,
            **overrides,
        }
        app = create_app(config)
        built.append(app)
        return app

    yield factory
    for app in built:
        executor = app.extensions.get("dugout.executor")  # a run-now's local executor
        if executor is not None:
            executor.shutdown(wait=True)  # its runs end here, not in the next test
        keeper = app.extensions.get("dugout.rollups")
        if keeper is not None:
            keeper.stop(timeout=300.0)  # a refresh in progress finishes on a loaded machine


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The app with default test settings."""
    return make_app()


@pytest.fixture
def db(app: Flask) -> Database:
    """The app's database handle."""
    return app.extensions["dugout.db"]  # type: ignore[no-any-return]


class Client:
    """A test client that logs in through the real form and sends the CSRF header like Dash."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.username: str | None = None
        self.http: FlaskClient = app.test_client()

    def csrf(self) -> str:
        cookie = self.http.get_cookie("_csrf_token")
        if cookie is None:
            self.http.get("/login")
            cookie = self.http.get_cookie("_csrf_token")
        assert cookie is not None, "no CSRF cookie was set"
        return cookie.value

    def login(self, username: str, password: str = PASSWORD) -> Any:
        token = self.csrf()
        return self.http.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": token, "next": "/"},
        )

    def post_json(self, path: str, body: Any, **headers: str) -> Any:
        return self.http.post(path, json=body, headers={"X-CSRFToken": self.csrf(), **headers})

    def callback(self, output: str, inputs: list[dict[str, Any]], **extra: Any) -> Any:
        """POST /_dash-update-component the way Dash's renderer does."""
        body = {
            "output": output,
            "outputs": _outputs(output),
            "inputs": inputs,
            "changedPropIds": [f"{i['id']}.{i['property']}" for i in inputs],
            **extra,
        }
        return self.post_json("/_dash-update-component", body)

    def page(self, path: str) -> Any:
        """The response to Dash Pages' own callback that renders the layout of `path`."""
        return self.callback(
            ".._pages_content.children..._pages_store.data..",
            [
                {"id": "_pages_location", "property": "pathname", "value": path},
                {"id": "_pages_location", "property": "search", "value": ""},
            ],
        )


def _outputs(output: str) -> Any:
    parts = [p for p in output.strip(".").split("...") if p]
    outs = [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1]} for p in parts]
    return outs if output.startswith("..") else outs[0]


@pytest.fixture
def make_user(db: Database) -> Callable[..., str]:
    """Create a user with a role; returns the username."""
    from app.accounts import add_user

    def factory(role: str = "viewer", username: str | None = None) -> str:
        name = username or f"{role}-{uuid.uuid4().hex[:6]}"
        with db.session() as session:
            add_user(session, name, PASSWORD, role)
        return name

    return factory


@pytest.fixture
def login_as(app: Flask, make_user: Callable[..., str]) -> Callable[[str], Client]:
    """A client logged in as a fresh user of `role`."""

    def factory(role: str) -> Client:
        client = Client(app)
        client.username = make_user(role)
        response = client.login(client.username)
        assert response.status_code == 302, response.data
        return client

    return factory


@pytest.fixture
def anon(app: Flask) -> Client:
    """A client that has not logged in."""
    return Client(app)


@pytest.fixture(autouse=True)
def rollup_keepers_stopped(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every rollup keeper a test starts stops when the test ends, whoever built its app
    (make_app or a direct create_app): a keeper left running refreshes every minute, with the
    real clock, whatever database it points at, so later tests on the shared PostgreSQL
    database would find rollup rows their own writes never caused."""
    from app.rollups.keeper import RollupKeeper

    started: list[RollupKeeper] = []
    original = RollupKeeper.start

    def start(self: RollupKeeper) -> None:
        started.append(self)
        original(self)

    monkeypatch.setattr(RollupKeeper, "start", start)
    yield
    for keeper in started:
        keeper.stop(timeout=300.0)  # a refresh in progress finishes on a loaded machine


@pytest.fixture(autouse=True)
def threads_not_lingering() -> Iterator[None]:
    """Fail a test that leaves non-daemon threads running (after Celery's fixture of that name)."""
    before = set(threading.enumerate())
    yield
    lingering = [
        t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon
    ]
    assert not lingering, f"threads left running: {[t.name for t in lingering]}"
