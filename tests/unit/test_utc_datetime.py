"""UTCDateTime on SQLite: its one-step conversions store and read what SQLAlchemy's own two steps
(the type's conversion, then SQLite DATETIME's) would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select, text
from sqlalchemy.dialects import sqlite

from app.db import UTCDateTime

DIALECT = sqlite.dialect()
MOMENTS = [
    datetime(2026, 12, 6, 2, 4, 37, tzinfo=UTC),  # no microseconds: still six digits stored
    datetime(2026, 12, 6, 2, 4, 37, 12, tzinfo=UTC),
    datetime(2026, 12, 6, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(999, 1, 1, tzinfo=UTC),  # a year of three digits is padded to four
    datetime(2026, 3, 8, 1, 30, tzinfo=timezone(timedelta(hours=-5))),  # another zone: as UTC
    datetime(2026, 7, 4, 19, 5, 1, 250000, tzinfo=timezone(timedelta(hours=9, minutes=30))),
]


def _two_steps(value: datetime) -> str:
    """What the type's process_bind_param followed by SQLite DATETIME's processor give."""
    naive = UTCDateTime().process_bind_param(value, DIALECT)
    return sqlite.DATETIME().bind_processor(DIALECT)(naive)


@pytest.mark.parametrize("moment", MOMENTS, ids=str)
def test_a_bound_moment_is_the_text_sqlalchemy_would_store(moment: datetime) -> None:
    process = UTCDateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
    assert process(moment) == _two_steps(moment)
    assert process(None) is None


def test_a_naive_moment_is_refused() -> None:
    process = UTCDateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
    with pytest.raises(ValueError, match="naive datetime"):
        process(datetime(2026, 12, 6, 2, 4, 37))


def test_stored_moments_read_back_aware_and_sort_as_text() -> None:
    """Through a real SQLite database: written by the fast path, read back equal and aware,
    compared in SQL as the text they are; text SQLite wrote itself reads as UTC too."""
    engine = create_engine("sqlite://")
    table = Table(
        "moments", MetaData(), Column("id", Integer, primary_key=True), Column("at", UTCDateTime)
    )
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": i, "at": m} for i, m in enumerate(MOMENTS)])
        conn.execute(text("INSERT INTO moments (id, at) VALUES (99, '2026-12-06 02:04:37')"))
        conn.execute(insert(table), [{"id": 100, "at": None}])
        stored = dict(conn.execute(text("SELECT id, at FROM moments")).all())
        read = dict(conn.execute(select(table.c.id, table.c.at)).all())
        later = conn.scalars(
            select(table.c.id).where(table.c.at > MOMENTS[0]).order_by(table.c.at)
        ).all()
    for i, moment in enumerate(MOMENTS):
        assert stored[i] == _two_steps(moment)
        assert read[i] == moment and read[i].tzinfo is UTC
    assert read[99] == datetime(2026, 12, 6, 2, 4, 37, tzinfo=UTC)
    assert read[100] is None
    expected = sorted(
        (i for i, m in enumerate(MOMENTS) if m > MOMENTS[0]), key=lambda i: MOMENTS[i]
    )
    assert later == expected
