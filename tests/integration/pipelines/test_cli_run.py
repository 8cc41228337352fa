"""`dugout run`: the break-glass CLI path runs a pipeline, audits it, prints a summary, and
exits non-zero when the run fails (here: The Odds API, on the local feed server, is down)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from app.cli import main
from app.db import Database
from app.models import AuditRecord, PipelineRun
from tests.integration.sources.feed_server import ODDS_PATH, SCHEDULE_PATH, FeedServer


@pytest.fixture
def feed() -> Iterator[FeedServer]:
    server = FeedServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def cli(database_url, tmp_path, monkeypatch, feed):
    """Invoke `dugout` on this test's database, with the real sources on the feed server."""
    monkeypatch.setenv("DUGOUT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DUGOUT_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("DUGOUT_ODDS_API_KEY", "cli-key-0123456789")
    monkeypatch.setenv("DUGOUT_ODDS_API_BASE_URL", feed.base_url)
    monkeypatch.setenv("DUGOUT_STATSAPI_BASE_URL", feed.base_url)
    monkeypatch.setenv("DUGOUT_SOURCE_TIMEOUT_S", "1")
    if database_url:
        monkeypatch.setenv("DUGOUT_DATABASE_URL", database_url)
    else:
        monkeypatch.delenv("DUGOUT_DATABASE_URL", raising=False)
    return lambda *args: CliRunner().invoke(main, list(args))


def _db(database_url, tmp_path) -> Database:
    return Database(database_url or f"sqlite:///{tmp_path / 'var' / 'dugout.sqlite3'}")


def test_run_prints_a_summary_and_audits_the_run(cli, database_url, tmp_path) -> None:
    result = cli("run", "collection", "--source", "demo", "--reason", "checking the feed")

    assert result.exit_code == 0, result.output
    assert "collection: SUCCEEDED" in result.output and "collect" in result.output
    db = _db(database_url, tmp_path)
    with db.session() as s:
        run = s.scalars(select(PipelineRun)).one()
        audits = s.scalars(select(AuditRecord).where(AuditRecord.action == "run_now")).all()
    assert (run.trigger, run.status) == ("cli", "succeeded") and run.actor.startswith("cli:")
    assert [a.outcome for a in audits] == ["requested", "succeeded"]
    assert all(a.reason == "checking the feed" for a in audits)


def test_run_exits_non_zero_when_every_source_fails(cli, feed, database_url, tmp_path) -> None:
    feed.serve_json(ODDS_PATH, {"message": "down"}, status=503)
    feed.serve_json(SCHEDULE_PATH, {"message": "down"}, status=503)

    result = cli("run", "collection", "--source", "odds_api")

    assert result.exit_code == 1, result.output
    assert "FAILED" in result.output
    db = _db(database_url, tmp_path)
    with db.session() as s:
        run = s.scalars(select(PipelineRun)).one()
        outcomes = s.scalars(
            select(AuditRecord.outcome).where(AuditRecord.action == "run_now")
        ).all()
    assert run.status == "failed" and run.error_type == "AllSourcesFailed"
    assert "odds_api" in run.error_message and "mlb_statsapi" in run.error_message
    assert outcomes == ["requested", "failed"]


def test_run_summary_names_skipped_stages_in_words(cli) -> None:
    """Christmas Day has no MLB slate: the market is closed, two stages skip."""
    result = cli("run", "full", "--source", "demo", "--date", "2026-12-25", "--top", "0")

    assert result.exit_code == 0, result.output
    assert "full: SUCCEEDED (2 stages skipped: market closed)" in result.output
    assert "upstream stage analyze skipped" in result.output
    assert "{" not in result.output  # no dict, and no JSON log line among the summary
