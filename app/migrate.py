"""Run Alembic migrations programmatically: `dugout db upgrade` and embedded start-up."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
APSCHEDULER_TABLES = frozenset({"scheduled_jobs"})  # APScheduler creates and owns its job table


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Leave APScheduler's job table and its index alone (autogenerate would drop them)."""
    if type_ == "table":
        return name not in APSCHEDULER_TABLES
    table = getattr(obj, "table", None)
    return table is None or table.name not in APSCHEDULER_TABLES


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations and `url`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema at `engine` up to `revision`."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


@functools.cache
def head_revision() -> str | None:
    """The newest migration revision shipped with this code (read once: it ships with it)."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


VERSION_TABLE = "alembic_version"
_READ_VERSION = text("SELECT version_num FROM alembic_version")  # VERSION_TABLE


def current_revision(engine: Engine) -> str | None:
    """The revision the database at `engine` is on (None when never migrated).

    Read with one plain statement: readiness asks on every /readyz probe and every health
    refresh, and Alembic's MigrationContext built a new version Table each time, whose event
    registrations stayed alive (98 objects per call, for the life of the process)."""
    with engine.connect() as conn:
        if not engine.dialect.has_table(conn, VERSION_TABLE):
            return None
        heads = list(conn.scalars(_READ_VERSION))
    if len(heads) > 1:
        raise RuntimeError(f"the database is on several migration heads: {', '.join(heads)}")
    return heads[0] if heads else None


def is_current(engine: Engine) -> bool:
    """True when the database schema matches the code's newest migration."""
    return current_revision(engine) == head_revision()
