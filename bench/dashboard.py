"""Dashboard benchmark: a year of history in PostgreSQL, every page callback timed on the server.

Seeds the default schedule (collection every minute, analysis and recommendations chained after
it, grading every 15 minutes) for a year with set-based SQL, stores its rollups as a writer does
after a batch (`refresh_all`), starts the app as a fresh process would, then POSTs each page's
callbacks to /_dash-update-component through the Flask test client for the 24 h and the 1 y
window: the first call of each, then `--repeat` warm ones. Prints figures; asserts nothing about
time.

Run: .venv/bin/python bench/dashboard.py [--reuse] [--days 365] [--repeat 20] [--only bets,odds]
(`--only pipelines.load_grid` times the grid's windows alone)
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app
from app.accounts import add_user
from app.db import Base, Database, utcnow
from app.gunicorn_config import settle_heap
from app.migrate import upgrade
from app.models import (
    RollupBetTotal,
    RollupGradeDay,
    RollupGradeDayBlock,
    RollupGradeSplit,
    RollupGradeSplitBlock,
    RollupGridSlot,
    RollupRunBucket,
    RollupRunDay,
    RollupSloHour,
)
from app.observability.slo import slo_reports
from app.rollups.keeper import refresh_all

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PASSWORD = "correct-horse-battery"
STRATEGIES = ("ev", "arbitrage", "steam", "stale_line", "reverse_line_movement", "sharp_action")
BOOKS = ("draftkings", "fanduel", "betmgm", "caesars", "pinnacle", "bovada")
SOURCES = ("odds_api", "mlb_statsapi")

# One statement per table; :start and :end bound the scheduled ticks seeded. Random draws are
# shaped so the data looks like a working system: mostly successes, a tail of slow runs, some
# failures, partials and skips, and data ages with a few stale fetches.
SEED_SQL = [
    # collection every minute: log-normal duration around 1.5 s, 1% ten times slower
    """
    INSERT INTO pipeline_runs (id, pipeline, trigger, scheduled_for, status, actor, correlation_id,
        attempt, params, summary, created_at, started_at, finished_at, duration_ms,
        error_type, error_message)
    SELECT gen_random_uuid(), 'collection', trig, t, st, CASE WHEN trig = 'manual' THEN 'ops' END,
        md5(random()::text), 1, '{}', '{}', t + jit, t + jit, t + jit + make_interval(secs => d / 1000),
        d, CASE WHEN st IN ('failed', 'partial') THEN 'SourceRateLimited' END,
        CASE WHEN st IN ('failed', 'partial') THEN 'odds_api answered 429; retry after 30 s' END
    FROM (
        SELECT t, make_interval(secs => random() * 2) AS jit,
            CASE WHEN u < 0.012 THEN 'failed' WHEN u < 0.020 THEN 'partial'
                 WHEN u < 0.025 THEN 'skipped' ELSE 'succeeded' END AS st,
            CASE WHEN random() < 0.002 THEN 'manual' ELSE 'schedule' END AS trig,
            exp(ln(1500) + 0.45 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))
                * CASE WHEN random() < 0.01 THEN 10 ELSE 1 END AS d
        FROM (SELECT t, random() AS u
              FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '1 minute',
                                   interval '1 minute') AS t) ticks
    ) r
    """,
    # analysis then recommendations, chained after each successful collection
    """
    INSERT INTO pipeline_runs (id, pipeline, trigger, scheduled_for, status, correlation_id,
        attempt, params, summary, created_at, started_at, finished_at, duration_ms)
    SELECT gen_random_uuid(), p.pipeline, 'schedule', c.scheduled_for,
        CASE WHEN u < 0.004 THEN 'failed' WHEN u < 0.006 THEN 'partial' ELSE 'succeeded' END,
        c.correlation_id, 1, '{}', '{}', s, s, s + make_interval(secs => d / 1000), d
    FROM pipeline_runs c
    CROSS JOIN (VALUES ('analysis', 400.0, 0), ('recommendations', 150.0, 1)) AS p(pipeline, med, k)
    CROSS JOIN LATERAL (
        SELECT random() AS u,
            c.finished_at + make_interval(secs => 0.05 + p.k * 0.6) AS s,
            exp(ln(p.med) + 0.5 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())) AS d
    ) r
    WHERE c.pipeline = 'collection' AND c.status = 'succeeded'
      AND c.scheduled_for >= %(start)s AND c.scheduled_for < %(end)s
    """,
    # grading every 15 minutes
    """
    INSERT INTO pipeline_runs (id, pipeline, trigger, scheduled_for, status, correlation_id,
        attempt, params, summary, created_at, started_at, finished_at, duration_ms)
    SELECT gen_random_uuid(), 'grading', 'schedule', t,
        CASE WHEN random() < 0.003 THEN 'failed' ELSE 'succeeded' END, md5(random()::text), 1,
        '{}', '{}', t, t, t + make_interval(secs => d / 1000), d
    FROM generate_series(date_bin('15 minutes', %(start)s::timestamptz, 'epoch'),
                         %(end)s::timestamptz - interval '1 second', interval '15 minutes') AS t,
         LATERAL (SELECT 800 * exp(0.4 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())) AS d) r
    WHERE t >= %(start)s
    """,
    # one stage row per run (each default pipeline has one stage)
    """
    INSERT INTO stage_runs (id, run_id, stage, status, attempt, started_at, finished_at,
        duration_ms, records_in, records_out, error_type, error_message, detail)
    SELECT gen_random_uuid(), r.id,
        CASE r.pipeline WHEN 'collection' THEN 'collect' WHEN 'analysis' THEN 'analyze'
             WHEN 'recommendations' THEN 'recommend' ELSE 'grade' END,
        r.status, 1, r.started_at, r.finished_at, r.duration_ms,
        (random() * 400)::int, (random() * 380)::int, r.error_type, r.error_message,
        CASE WHEN r.status = 'skipped' THEN '{"reason": "kill switch engaged"}' ELSE '{}' END::json
    FROM pipeline_runs r
    WHERE r.scheduled_for >= %(start)s AND r.scheduled_for < %(end)s
    """,
    # two sources fetched by each collection run; data mostly 5-40 s old, 3% stale
    """
    INSERT INTO source_snapshots (id, source, content_hash, fetched_at, newest_update_at, quotes,
        splits, quarantined, run_id)
    SELECT gen_random_uuid(), src, md5(r.id::text || src), f,
        f - make_interval(secs => CASE WHEN random() < 0.03 THEN 60 + random() * 600
                                       ELSE 5 + random() * 35 END),
        (random() * 300)::int, (random() * 40)::int, (random() < 0.02)::int, r.id
    FROM pipeline_runs r
    CROSS JOIN unnest(%(sources)s::text[]) AS src
    CROSS JOIN LATERAL (SELECT r.started_at + make_interval(secs => 0.3 + random()) AS f) x
    WHERE r.pipeline = 'collection' AND r.status IN ('succeeded', 'partial')
      AND r.scheduled_for >= %(start)s AND r.scheduled_for < %(end)s
    """,
    # 0-2 opportunities per analysis run; detection latency mostly seconds, a slow tail
    """
    INSERT INTO opportunities (id, run_id, strategy, game_key, market, side, book, price, point,
        fair_prob, ev, kelly_fraction, data_available_at, detected_at, latency_ms, explanation,
        fingerprint)
    SELECT gen_random_uuid(), r.id,
        (%(strategies)s::text[])[1 + floor(random() * 6)::int],
        'MLB-' || to_char(r.started_at, 'YYYYMMDD') || '-' || (1 + (random() * 14)::int),
        m.market, m.side, (%(books)s::text[])[1 + floor(random() * 6)::int],
        (ARRAY[-150, -125, -110, 105, 120, 145])[1 + floor(random() * 6)::int],
        CASE WHEN m.market = 'h2h' THEN NULL ELSE 8.5 END,
        0.45 + random() * 0.1, 0.01 + random() * 0.06, 0.002 + random() * 0.02,
        r.finished_at - make_interval(secs => lat / 1000), r.finished_at, lat,
        'Price beats the devigged consensus', md5(r.id::text || n)
    FROM pipeline_runs r
    CROSS JOIN LATERAL generate_series(1, (random() * 2.2 + r.duration_ms * 0)::int) AS n
    CROSS JOIN LATERAL (  -- n * 0: drawn again for every row, not once for the statement
        SELECT (ARRAY['h2h', 'h2h', 'spreads', 'totals'])[1 + floor(random() * 4 + n * 0)::int]
                   AS market,
               CASE WHEN random() + n * 0 < 0.5 THEN 'home' ELSE 'away' END AS side,
               CASE WHEN random() + n * 0 < 0.03 THEN 60000 + random() * 120000
                    ELSE 1500 + random() * 20000 END AS lat
    ) m
    WHERE r.pipeline = 'analysis' AND r.status = 'succeeded'
      AND r.scheduled_for >= %(start)s AND r.scheduled_for < %(end)s
    """,
    # one recommendation per bet (the first detection of it), graded after the game
    """
    INSERT INTO recommendations (id, opportunity_id, bet_key, kind, strategies, strategy,
        game_key, market, side, book, price, point, ev, stake_units, rank, status, close_price,
        close_fair_prob, clv, created_at, updated_at)
    SELECT DISTINCT ON (game_key, market, side, strategy) gen_random_uuid(), id,
        game_key || '|' || market || '|' || side || '|' || coalesce(point::text, '') || '|'
            || strategy,
        CASE WHEN strategy = 'arbitrage' THEN 'arbitrage' ELSE 'single' END,
        json_build_array(strategy), strategy, game_key, market, side,
        CASE WHEN strategy <> 'arbitrage' THEN book WHEN book = 'pinnacle' THEN 'bovada+pinnacle'
             ELSE book || '+pinnacle' END,
        price, point, ev, round((kelly_fraction * 100)::numeric, 2),
        1, CASE WHEN detected_at < %(end)s::timestamptz - interval '4 hours' THEN 'graded'
                ELSE 'open' END,
        price - 5, fair_prob + 0.01, (random() - 0.4) * 0.08, detected_at, detected_at
    FROM opportunities
    WHERE detected_at >= %(start)s AND detected_at < %(end)s
    ORDER BY game_key, market, side, strategy, detected_at
    ON CONFLICT (bet_key) DO NOTHING
    """,
    # an arbitrage position's two legs, at the two books its name joins
    """
    INSERT INTO recommendation_legs (id, recommendation_id, side, book, price, point, stake_units)
    SELECT gen_random_uuid(), rec.id, leg.side, split_part(rec.book, '+', leg.k), leg.price,
        rec.point, round((rec.stake_units / 2)::numeric, 4)
    FROM recommendations rec
    CROSS JOIN LATERAL (VALUES (1, 'away', 105 + (random() * 20)::int),
                               (2, 'home', 102 + (random() * 10)::int + rec.price * 0))
        AS leg(k, side, price)
    WHERE rec.kind = 'arbitrage' AND rec.created_at >= %(start)s AND rec.created_at < %(end)s
    """,
    """
    INSERT INTO grades (id, recommendation_id, strategy, strategies, result, stake_units,
        profit_units, clv, graded_at)
    SELECT gen_random_uuid(), rec.id, rec.strategy, json_build_array(rec.strategy), g.result,
        rec.stake_units,
        CASE g.result WHEN 'win' THEN rec.stake_units * 0.95 WHEN 'loss' THEN -rec.stake_units
             ELSE 0 END, rec.clv, rec.created_at + interval '4 hours'
    FROM recommendations rec
    CROSS JOIN LATERAL (
        SELECT CASE WHEN u < 0.50 THEN 'win' WHEN u < 0.96 THEN 'loss' WHEN u < 0.99 THEN 'push'
                    ELSE 'void' END AS result FROM (SELECT random() + rec.price * 0 AS u) x
    ) g
    WHERE rec.created_at >= %(start)s AND rec.created_at < %(end)s - interval '4 hours'
    ON CONFLICT (recommendation_id) DO NOTHING
    """,
    # the games the opportunities name (MLB-YYYYMMDD-1..15), first pitches 17:05-03:05 UTC,
    # through the next two days; final once a first pitch is four hours past
    """
    INSERT INTO games (id, game_key, home, away, commence_time, status, updated_at, game_number)
    SELECT gen_random_uuid(), 'MLB-' || to_char(d, 'YYYYMMDD') || '-' || n,
        (%(teams)s::text[])[1 + (2 * n + extract(doy FROM d)::int) %% 30],
        (%(teams)s::text[])[1 + (2 * n + 1 + extract(doy FROM d)::int) %% 30],
        d + interval '17 hours 5 minutes' + (n - 1) * interval '40 minutes',
        CASE WHEN d + interval '17 hours 5 minutes' + (n - 1) * interval '40 minutes'
                  < %(end)s::timestamptz - interval '4 hours' THEN 'final' ELSE 'scheduled' END,
        d, 1
    FROM generate_series(date_trunc('day', %(start)s::timestamptz),
                         %(end)s::timestamptz + interval '2 days', interval '1 day') AS d,
         generate_series(1, 15) AS n
    ON CONFLICT (game_key) DO NOTHING
    """,
    # the odds screen's window: every book's price on every side, a new price every 72 minutes
    # from a day before first pitch, for the games of the last three days and the next two
    """
    INSERT INTO quotes (id, source, game_key, market, side, book, price, point, last_update,
        collected_at)
    SELECT gen_random_uuid(), 'odds_api', g.game_key, s.market, s.side, b,
        CASE WHEN s.side IN ('home', 'under') THEN -100 - (random() * 40)::int
             ELSE 100 + (random() * 30)::int END, s.point, t, t
    FROM games g
    CROSS JOIN (VALUES ('h2h', 'away', NULL::float), ('h2h', 'home', NULL::float),
                       ('spreads', 'away', 1.5), ('spreads', 'home', -1.5),
                       ('totals', 'over', 8.5), ('totals', 'under', 8.5)) AS s(market, side, point)
    CROSS JOIN unnest(%(books)s::text[]) AS b
    CROSS JOIN generate_series(0, 19) AS k
    CROSS JOIN LATERAL (SELECT g.commence_time - interval '1 day' + k * interval '72 minutes' AS t) x
    WHERE g.commence_time >= greatest(%(start)s::timestamptz, %(end)s::timestamptz - interval '3 days')
      AND g.commence_time < %(end)s::timestamptz + interval '2 days' AND x.t < %(end)s
    ON CONFLICT ON CONSTRAINT uq_quotes_version DO NOTHING
    """,
]
TEAMS = [
    "ARI",
    "ATL",
    "BAL",
    "BOS",
    "CHC",
    "CWS",
    "CIN",
    "CLE",
    "COL",
    "DET",
    "HOU",
    "KC",
    "LAA",
    "LAD",
    "MIA",
    "MIL",
    "MIN",
    "NYM",
    "NYY",
    "ATH",
    "PHI",
    "PIT",
    "SD",
    "SF",
    "SEA",
    "STL",
    "TB",
    "TEX",
    "TOR",
    "WSH",
]


def pg_url(name: str, driver: str = "postgresql") -> str:
    return re.sub(r"/[^/]*$", f"/{name}", ADMIN_URL).replace("postgresql://", f"{driver}://")


def prepare_database(name: str, reuse: bool, days: int) -> str:
    """Create (or reuse) the database and bring its history up to now."""
    url = pg_url(name, "postgresql+psycopg")
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and not reuse:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        if not exists or not reuse:
            admin.execute(f'CREATE DATABASE "{name}"')
    db = Database(url)
    assert db.engine is not None
    upgrade(db.engine)
    if reuse:  # seeded by an older revision 0001: add the tables and indexes it lacked
        Base.metadata.create_all(db.engine)
        for table in Base.metadata.sorted_tables:
            for index in table.indexes:
                index.create(db.engine, checkfirst=True)
    db.dispose()
    end = utcnow().replace(second=0, microsecond=0)
    with psycopg.connect(pg_url(name)) as conn:
        last = conn.execute(
            "SELECT max(scheduled_for) FROM pipeline_runs WHERE pipeline = 'collection'"
        ).fetchone()[0]
        start = last + timedelta(minutes=1) if last else end - timedelta(days=days)
        if start < end:
            seed(conn, start, end)
        conn.execute(
            """
            INSERT INTO source_states (source, newest_update_at, last_fetch_at, last_success_at)
            SELECT source, max(newest_update_at), max(fetched_at), max(fetched_at)
            FROM source_snapshots GROUP BY source
            ON CONFLICT (source) DO UPDATE SET newest_update_at = excluded.newest_update_at,
                last_fetch_at = excluded.last_fetch_at, last_success_at = excluded.last_success_at
            """
        )
        # a bet is 'graded' exactly when it has a grade (as the grade stage writes them); older
        # seeds marked every bet graded
        conn.execute(
            "UPDATE recommendations r SET status = 'open' WHERE status = 'graded' "
            "AND NOT EXISTS (SELECT 1 FROM grades g WHERE g.recommendation_id = r.id)"
        )
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    return url


def store_rollups(url: str) -> None:
    """Forget every stored rollup slice, then store them all as the seeding writer's last step."""
    db = Database(url)
    assert db.engine is not None and db.sessionmaker is not None
    with db.session() as session:
        for model in (
            RollupRunDay,
            RollupRunBucket,
            RollupGridSlot,
            RollupSloHour,
            RollupGradeDay,
            RollupGradeDayBlock,
            RollupGradeSplit,
            RollupGradeSplitBlock,
            RollupBetTotal,
        ):
            session.execute(model.__table__.delete())  # type: ignore[attr-defined]
    began = time.perf_counter()
    stored = refresh_all(db.sessionmaker, utcnow())
    took = time.perf_counter() - began
    print(f"rollups stored in {took:.1f} s: " + ", ".join(f"{k} {v}" for k, v in stored.items()))
    db.dispose()


def seed(conn: psycopg.Connection[Any], start: datetime, end: datetime) -> None:
    """Insert the history of [start, end) table by table, printing the time each took."""
    params = {
        "start": start,
        "end": end,
        "sources": list(SOURCES),
        "strategies": list(STRATEGIES),
        "books": list(BOOKS),
        "teams": TEAMS,
    }
    print(f"seeding {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC")
    conn.execute("SELECT setseed(0.42)")
    for sql in SEED_SQL:
        table = sql.split("INSERT INTO", 1)[1].split()[0]
        began = time.perf_counter()
        rows = conn.execute(sql, params).rowcount
        print(f"  {table:<18} {rows:>10,} rows  {time.perf_counter() - began:6.1f} s")
    conn.commit()


class Client:
    """A logged-in test client that posts callbacks the way Dash's renderer does."""

    def __init__(self, app: Any, username: str) -> None:
        self.http = app.test_client()
        self.http.get("/login")
        r = self.http.post(
            "/login",
            data={
                "username": username,
                "password": PASSWORD,
                "csrf_token": self.csrf(),
                "next": "/",
            },
        )
        assert r.status_code == 302, r.data

    def csrf(self) -> str:
        cookie = self.http.get_cookie("_csrf_token")
        assert cookie is not None
        return cookie.value

    def callback(
        self, output: str, inputs: list[dict[str, Any]], state: list[dict[str, Any]] | None = None
    ) -> None:
        parts = [p for p in output.strip(".").split("...") if p]
        outs = [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1]} for p in parts]
        body = {
            "output": output,
            "outputs": outs if output.startswith("..") else outs[0],
            "inputs": inputs,
            "changedPropIds": [f"{i['id']}.{i['property']}" for i in inputs],
            **({"state": state} if state else {}),
        }
        r = self.http.post(
            "/_dash-update-component", json=body, headers={"X-CSRFToken": self.csrf()}
        )
        assert r.status_code in (200, 204), (output, r.status_code, r.data[:300])


# The first block a long table's grid asks for (components/grid.py: 100 rows, newest first).
FIRST_BLOCK = {"startRow": 0, "endRow": 100, "sortModel": [], "filterModel": {}}


def _bet_filters(state: str | None) -> list[dict[str, Any]]:
    """The bets page's filters with only the status set."""
    return [
        _i("bets-state", "value", state),
        _i("bets-strategy", "value", None),
        _i("bets-book", "value", None),
        _i("bets-market", "value", None),
        _i("bets-dates", "start_date", None),
        _i("bets-dates", "end_date", None),
    ]


def _i(id_: str, prop: str, value: Any) -> dict[str, Any]:
    return {"id": id_, "property": prop, "value": value}


def cases(
    app: Any, clients: dict[str, Client], run_id: str
) -> list[tuple[str, str, Callable[[], None]]]:
    """(callback, window, call) for every page callback that reads data."""
    viewer, operator, admin = clients["viewer"], clients["operator"], clients["admin"]
    out: list[tuple[str, str, Callable[[], None]]] = []
    for window in ("24h", "1y"):
        out.append(
            (
                "overview.refresh_overview",
                window,
                lambda w=window: viewer.callback(
                    "..overview-cards.children...overview-runs.children...overview-latency-figure.data"
                    "...overview-success-figure.data...overview-freshness-figure.data..",
                    [
                        _i("overview-refresh", "n_intervals", 1),
                        _i("overview-window", "value", w),
                        _i("overview-percentile", "value", "p95"),
                        _i("live-token", "data", None),
                        _i("display-tz", "value", "America/New_York"),
                    ],
                ),
            )
        )
    out.append(
        (
            "overview.refresh_health",
            "30d SLO",
            lambda: viewer.callback(
                "..overview-slo.children...overview-alerts.children...overview-scheduler.children"
                "...overview-checks.children..",
                [_i("overview-refresh", "n_intervals", 1)],
            ),
        )
    )
    for window, rng in (("24h", "24h"), ("1y", "all")):
        out.append(
            (
                "pipelines.load_runs",
                window,
                lambda r=rng: viewer.callback(
                    "..runs-history.getRowsResponse...runs-count.children..",
                    [_i("runs-history", "getRowsRequest", FIRST_BLOCK)],
                    state=[
                        _i("runs-pipeline", "value", None),
                        _i("runs-status", "value", None),
                        _i("runs-trigger", "value", None),
                        _i("runs-range", "value", r),
                        _i("display-tz", "value", "America/New_York"),
                    ],
                ),
            )
        )
        out.append(
            (
                "pipelines.load_runs failed",
                window,
                lambda r=rng: viewer.callback(
                    "..runs-history.getRowsResponse...runs-count.children..",
                    [_i("runs-history", "getRowsRequest", FIRST_BLOCK)],
                    state=[
                        _i("runs-pipeline", "value", "collection"),
                        _i("runs-status", "value", "failed"),
                        _i("runs-trigger", "value", None),
                        _i("runs-range", "value", r),
                        _i("display-tz", "value", "America/New_York"),
                    ],
                ),
            )
        )

    def run_page() -> None:
        body = {
            "output": ".._pages_content.children..._pages_store.data..",
            "outputs": [
                {"id": "_pages_content", "property": "children"},
                {"id": "_pages_store", "property": "data"},
            ],
            "inputs": [
                _i("_pages_location", "pathname", f"/pipelines/{run_id}"),
                _i("_pages_location", "search", ""),
            ],
            "changedPropIds": ["_pages_location.pathname"],
        }
        r = viewer.http.post(
            "/_dash-update-component", json=body, headers={"X-CSRFToken": viewer.csrf()}
        )
        assert r.status_code == 200

    out.append(("pipeline_run.layout 500 lines", "-", run_page))
    out.append(
        (
            "shell.live_token",
            "-",
            lambda: viewer.callback(
                "live-token.data",
                [_i("live-poll", "n_intervals", 1)],
                state=[_i("live-token", "data", "unchanged?")],
            ),
        )
    )
    out.append(
        (
            "pipeline_run.filter_logs",
            "WARNING",
            lambda: viewer.callback(
                "run-logs-box.children",
                [_i("run-log-level", "value", "WARNING")],
                state=[
                    _i("run-log-id", "data", {"id": run_id, "cid": None}),
                    _i("display-tz", "value", "America/New_York"),
                ],
            ),
        )
    )
    for window in ("1h", "6h", "24h", "7d", "30d"):
        out.append(
            (
                "pipelines.load_grid",
                window,
                lambda w=window: viewer.callback(
                    "runs-grid.children",
                    [
                        _i("grid-window", "value", w),
                        _i("runs-refresh", "n_intervals", 0),
                        _i("live-token", "data", None),
                    ],
                ),
            )
        )
    out.append(
        (
            "shell.market_state",
            "-",
            lambda: viewer.callback(
                "market-state.children",
                [_i("shell-refresh", "n_intervals", 1), _i("_pages_location", "pathname", "/")],
            ),
        )
    )
    for window in ("7d", "30d", "season"):
        out.append(
            (
                "strategies.refresh_strategies",
                window,
                lambda w=window: viewer.callback(
                    "..strategy-stats.rowData...strategy-splits.rowData...strategy-splits-box.className..."
                    "strategy-units-figure.data...strategy-clv-time-figure.data...strategy-clv-figure.data..",
                    [
                        _i("strategy-refresh", "n_intervals", 0),
                        _i("strategy-window", "value", w),
                        _i("strategy-split", "value", "market"),
                    ],
                ),
            )
        )
    for state in (None, "settled"):
        out.append(
            (
                "bets.refresh_bets",
                state or "all",
                lambda st=state: viewer.callback(
                    "..bets-totals.children...bets-book.options..",
                    [
                        *_bet_filters(st),
                        _i("display-tz", "value", "America/New_York"),
                        _i("bets-refresh", "n_intervals", 0),
                    ],
                ),
            )
        )
        out.append(
            (
                "bets.bet_block",
                state or "all",
                lambda st=state: viewer.callback(
                    "bets-table.getRowsResponse",
                    [_i("bets-table", "getRowsRequest", FIRST_BLOCK)],
                    state=[*_bet_filters(st), _i("display-tz", "value", "America/New_York")],
                ),
            )
        )
    out.append(
        (
            "opportunities.refresh_arbitrage",
            "24h",
            lambda: viewer.callback(
                "..opp-arb-box.children...opp-book.options..",
                [
                    _i("opp-book", "value", None),
                    _i("opp-refresh", "n_intervals", 0),
                    _i("display-tz", "value", None),
                ],
            ),
        )
    )
    out.append(
        (
            "odds.refresh_boards",
            "36h",
            lambda: viewer.callback(
                "..odds-boards.children...odds-game.options..",
                [_i("odds-refresh", "n_intervals", 0), _i("display-tz", "value", None)],
            ),
        )
    )
    out.append(
        (
            "strategies.refresh_strategies",
            "all (1y)",
            lambda: viewer.callback(
                "..strategy-stats.rowData...strategy-splits.rowData...strategy-splits-box.className..."
                "strategy-units-figure.data...strategy-clv-time-figure.data...strategy-clv-figure.data..",
                [
                    _i("strategy-refresh", "n_intervals", 0),
                    _i("strategy-window", "value", "all"),
                    _i("strategy-split", "value", "book"),
                ],
            ),
        )
    )
    out.append(
        (
            "opportunities.refresh_opportunities",
            "24h",
            lambda: viewer.callback(
                "..opp-ev-hist-figure.data...opp-latency-hist-figure.data..",
                [
                    _i("opp-strategy", "value", None),
                    _i("opp-min-ev", "value", None),
                    _i("opp-book", "value", None),
                    _i("opp-refresh", "n_intervals", 0),
                    _i("opp-all-ev", "value", False),
                ],
            ),
        )
    )
    out.append(
        (
            "opportunities.opportunity_block",
            "24h",
            lambda: viewer.callback(
                "opp-table.getRowsResponse",
                [_i("opp-table", "getRowsRequest", FIRST_BLOCK)],
                state=[
                    _i("opp-strategy", "value", None),
                    _i("opp-min-ev", "value", None),
                    _i("opp-book", "value", None),
                    _i("opp-all-ev", "value", False),
                    _i("display-tz", "value", None),
                ],
            ),
        )
    )
    out.append(
        (
            "admin.load_scheduler",
            "-",
            lambda: operator.callback(
                "..admin-scheduler.children...admin-jobs.children...job-target.options"
                "...breaker-target.options..",
                [
                    _i("admin-refresh", "n_intervals", 0),
                    _i("display-tz", "value", "America/New_York"),
                ],
            ),
        )
    )
    out.append(
        (
            "accounts.load_users",
            "-",
            lambda: admin.callback(
                "admin-users.children",
                [
                    _i("admin-accounts-refresh", "n_intervals", 0),
                    _i("display-tz", "value", "America/New_York"),
                ],
            ),
        )
    )
    out.append(
        (
            "audit.load_audit",
            "-",
            lambda: admin.callback(
                "..admin-audit.children...audit-action.options...audit-outcome.options..",
                [
                    _i("admin-audit-refresh", "n_intervals", 0),
                    _i("audit-actor", "value", None),
                    _i("audit-action", "value", None),
                    _i("audit-outcome", "value", None),
                    _i("audit-window", "value", "7d"),
                ],
            ),
        )
    )
    db = app.extensions["dugout.db"]

    def direct_slo() -> None:
        with db.session() as session:
            slo_reports(session, utcnow())

    out.append(("slo_reports (direct)", "30d", direct_slo))
    return out


def timed(call: Callable[[], None], repeat: int) -> tuple[float, list[float]]:
    """The first call's time and the following `repeat` calls' times, in ms."""
    began = time.perf_counter()
    call()
    first = (time.perf_counter() - began) * 1000
    took = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        took.append((time.perf_counter() - began) * 1000)
    return first, took


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="dugout_bench")
    parser.add_argument("--reuse", action="store_true", help="keep the seeded database, top it up")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--only",
        help="time only the callbacks whose name starts with one of these, comma-separated "
        "(e.g. bets,strategies; default: every callback)",
    )
    parser.add_argument(
        "--no-settle",
        action="store_true",
        help="leave the loaded heap to the collector (a gunicorn worker settles it after load)",
    )
    args = parser.parse_args()
    only = tuple(p.strip() for p in args.only.split(",") if p.strip()) if args.only else ()
    logging.disable(logging.WARNING)

    began = time.perf_counter()
    url = prepare_database(args.database, args.reuse, args.days)
    print(f"database ready in {time.perf_counter() - began:.0f} s")
    with psycopg.connect(pg_url(args.database)) as conn:
        for table in ("pipeline_runs", "stage_runs", "opportunities", "grades", "source_snapshots"):
            n = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            print(f"  {table:<18} {n:>10,}")
        run_id = str(
            conn.execute(
                "SELECT id FROM pipeline_runs WHERE pipeline = 'collection' "
                "ORDER BY scheduled_for DESC LIMIT 1"
            ).fetchone()[0]
        )

    with psycopg.connect(pg_url(args.database)) as conn:  # the run page's 500 log lines
        conn.execute("DELETE FROM run_logs WHERE run_id = %s", (run_id,))
        conn.execute(
            """
            INSERT INTO run_logs (run_id, correlation_id, at, levelno, level, logger, message,
                fields)
            SELECT %(run)s::uuid, md5(%(run)s::text), now() - make_interval(secs => 500 - i),
                CASE WHEN i %% 50 = 0 THEN 30 ELSE 20 END,
                CASE WHEN i %% 50 = 0 THEN 'WARNING' ELSE 'INFO' END, 'dugout.pipelines',
                'stage finished', json_build_object('stage', 'collect', 'n', i)
            FROM generate_series(1, 500) AS i
            """,
            {"run": run_id},
        )
        conn.commit()
    store_rollups(url)
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        app = create_app(
            {
                "var_dir": tmp,
                "database_url": url,
                "testing": True,
                "log_level": "WARNING",
                "scheduler_enabled": False,
            }
        )
        if not args.no_settle:  # as post_worker_init does in a gunicorn worker
            print(f"heap settled: {settle_heap():,} objects frozen")
        keeper = app.extensions["dugout.rollups"]
        while not keeper.warmed and keeper.last_error is None:  # its start-up pass and warm-up
            time.sleep(0.05)
        print(f"app started, keeper's start-up pass done in {time.perf_counter() - began:.1f} s")
        db = app.extensions["dugout.db"]
        clients = {}
        for role in ("viewer", "operator", "admin"):
            name = f"bench-{role}-{int(time.time())}"
            with db.session() as session:
                add_user(session, name, PASSWORD, role)
            clients[role] = Client(app, name)
        results = []
        pauses: list[float] = []  # the full collections' pauses while the callbacks ran
        began_gc: list[float] = []

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if info["generation"] == 2:
                if phase == "start":
                    began_gc.append(time.perf_counter())
                elif began_gc:
                    pauses.append((time.perf_counter() - began_gc.pop()) * 1000)

        gc.callbacks.append(on_gc)
        print(f"\n{'callback':<38}{'window':<10}{'first':>9}{'p50':>9}{'p95':>9}{'1y/24h':>8}")
        p50_24h: dict[str, float] = {}
        for name, window, call in cases(app, clients, run_id):
            if only and not name.startswith(only):
                continue
            first, took = timed(call, args.repeat)
            p50, p95 = statistics.median(took), pct(took, 0.95)
            ratio = ""
            if window == "24h":
                p50_24h[name] = p50
            elif window == "1y" and name in p50_24h:
                ratio = f"{p50 / p50_24h[name]:.2f}"
            print(f"{name:<38}{window:<10}{first:>7.0f}ms{p50:>7.0f}ms{p95:>7.0f}ms{ratio:>8}")
            results.append(
                {
                    "callback": name,
                    "window": window,
                    "first_ms": first,
                    "p50_ms": p50,
                    "p95_ms": p95,
                }
            )
        gc.callbacks.remove(on_gc)
        keeper.stop()
        db.dispose()
    print(
        f"\nfull collections while timing: {len(pauses)}, "
        + (f"longest {max(pauses):.0f} ms, total {sum(pauses):.0f} ms" if pauses else "none")
    )
    print(
        f"\nfirst: the first call of each callback in a freshly started process; p50 / p95 over "
        f"the next {args.repeat} calls; {os.cpu_count()} cores"
    )
    firsts = [r["first_ms"] for r in results]
    p95s = [r["p95_ms"] for r in results]
    print(
        f"slowest first call {max(firsts):.0f} ms (goal < 300), slowest warm p95 {max(p95s):.0f} ms (goal < 150)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
