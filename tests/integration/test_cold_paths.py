"""A freshly started process pays its one-time reads at start-up, not in the first request: the
migration head the health checks compare with is read by the factory (about 300 ms of loading
every migration script on this machine)."""

from __future__ import annotations

from app.migrate import head_revision


def test_the_first_health_check_finds_the_migration_head_already_read(make_app) -> None:
    head_revision.cache_clear()  # as in a new process
    make_app()
    assert head_revision.cache_info().currsize == 1


def test_the_keeper_compiles_the_overviews_statements_before_the_first_reader(
    make_app,
) -> None:
    import threading
    import time

    from sqlalchemy import event
    from sqlalchemy.engine.default import CACHE_MISS

    from app.observability.slo import slo_reports
    from app.queries.run_charts import WINDOWS, latency_series, success_series
    from app.queries.runs import pipeline_summaries, recent_runs
    from app.queries.sources import source_freshness

    app = make_app()
    keeper = app.extensions["dugout.rollups"]
    deadline = time.monotonic() + 120  # a condition, not a duration: the keeper's first pass
    while not keeper.warmed and keeper.last_error is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert keeper.warmed, keeper.last_error
    db = app.extensions["dugout.db"]
    # what this thread's reads compile (the keeper's and the evaluator's threads go on beside
    # them: the size of the engine's statement cache would count their statements too)
    reader = threading.get_ident()
    misses: list[str] = []

    def watch(_conn, _cursor, statement, _params, context, _many) -> None:
        if threading.get_ident() == reader and context.cache_hit == CACHE_MISS:
            misses.append(statement)

    event.listen(db.engine, "before_cursor_execute", watch)
    # at the keeper's own moment: which partial hours a window starts with (and so the shape of
    # some statements) depends on the minute, and a boundary can fall between two instants
    now = keeper.warmed_at
    assert now is not None
    with db.session() as session:  # what the overview's two callbacks read first
        slo_reports(session, now)
        pipeline_summaries(session, now - WINDOWS["24h"], now)
        latency_series(session, now, "24h")
        success_series(session, now, "24h")
        recent_runs(session, limit=15)
        source_freshness(session, now)
    event.remove(db.engine, "before_cursor_execute", watch)
    assert misses == []  # the first reader compiles nothing
