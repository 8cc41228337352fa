"""The real Odds API client against a local server serving recorded-format payloads."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from feed_server import ODDS_PATH, SCORES_PATH, FeedServer

from app.pipelines.sources.base import (
    SourceAuthError,
    SourceBadRequest,
    SourceError,
    SourcePayloadError,
    SourceRateLimited,
    SourceTimeout,
    SourceUnavailable,
)
from app.pipelines.sources.odds_api import OddsApiSource
from app.pipelines.validation import content_hash

Maker = Callable[..., OddsApiSource]
API_KEY = "sekrit-odds-key-0123456789"
NOW = datetime(2024, 7, 13, 18, 5, tzinfo=UTC)


@pytest.fixture
def make_source(http_source: FeedServer) -> Iterator[Callable[..., OddsApiSource]]:
    """Build OddsApiSource instances pointed at the local server; all are closed afterwards."""
    made: list[OddsApiSource] = []

    def factory(**kwargs: object) -> OddsApiSource:
        """An OddsApiSource on the local server; keyword arguments override the defaults."""
        options: dict[str, object] = {"base_url": http_source.base_url, "timeout": 2.0}
        options.update(kwargs)
        source = OddsApiSource(API_KEY, **options)  # type: ignore[arg-type]
        made.append(source)
        return source

    yield factory
    for source in made:
        source.close()


def test_odds_games_quotes_sides_points_and_quota(
    http_source: FeedServer, make_source: Maker
) -> None:
    batch = make_source(scores_days_from=None).fetch(NOW)

    assert batch.source == "odds_api" and batch.fetched_at == NOW
    assert batch.rejected == []
    assert [g.game_key for g in batch.games] == [
        "2024-07-13-CWS@DET",
        "2024-07-13-CWS@DET-2",  # same teams twice on one date: the nightcap
        "2024-07-13-BOS@NYY",
        "2024-07-13-LAA@ATH",  # 02:07 UTC is still the 13th in New York; "Oakland Athletics"
    ]
    nightcap = batch.games[1]
    assert nightcap.source_ref == "0b2a6f3b1c8e4d7f9a5e2c1d3b4a5f6e"
    assert nightcap.commence_time == datetime(2024, 7, 13, 21, 40, tzinfo=UTC)
    assert len(batch.quotes) == 2 + 2 + 6 + 4 + 4
    by_key = {(q.game_key, q.book, q.market, q.side): q for q in batch.quotes}
    yankees_rl = by_key["2024-07-13-BOS@NYY", "draftkings", "spreads", "home"]
    assert (yankees_rl.price, yankees_rl.point) == (130, -1.5)
    under = by_key["2024-07-13-BOS@NYY", "draftkings", "totals", "under"]
    assert (under.price, under.point) == (-115, 8.5)
    assert by_key["2024-07-13-LAA@ATH", "betmgm", "h2h", "home"].price == -115
    assert by_key["2024-07-13-BOS@NYY", "draftkings", "h2h", "away"].point is None
    # a market without last_update takes the bookmaker's
    fanduel_h2h = by_key["2024-07-13-BOS@NYY", "fanduel", "h2h", "home"]
    assert fanduel_h2h.last_update == datetime(2024, 7, 13, 14, 58, 55, tzinfo=UTC)
    assert batch.quota == {"remaining": 4985, "used": 15, "last": 3}
    assert batch.raw_hash == content_hash({"odds": http_source.payload("odds_mlb.json")})


def test_odds_request_parameters_key_and_gzip_header(
    http_source: FeedServer, make_source: Maker
) -> None:
    make_source(scores_days_from=None).fetch(NOW)

    (request,) = http_source.requests
    assert request.path == ODDS_PATH
    assert request.query == {
        "apiKey": [API_KEY],
        "regions": ["us"],
        "markets": ["h2h,spreads,totals"],
        "oddsFormat": ["american"],
        "dateFormat": ["iso"],
        "commenceTimeFrom": ["2024-07-13T18:05:00Z"],  # in-play prices are never a close
    }
    assert "gzip" in request.headers["Accept-Encoding"]


def test_bookmakers_override_regions(http_source: FeedServer, make_source: Maker) -> None:
    make_source(scores_days_from=None, bookmakers="pinnacle,circa").fetch(NOW)

    query = http_source.requests[0].query
    assert query["bookmakers"] == ["pinnacle,circa"] and "regions" not in query


def test_gzip_encoded_response_is_decoded(http_source: FeedServer, make_source: Maker) -> None:
    http_source.serve_file(ODDS_PATH, "odds_mlb.json", gzip=True)

    batch = make_source(scores_days_from=None).fetch(NOW)

    assert len(batch.games) == 4 and len(batch.quotes) == 18


def test_scores_with_odds_in_one_fetch(http_source: FeedServer, make_source: Maker) -> None:
    batch = make_source(scores_days_from=2).fetch(NOW)

    assert http_source.requests[1].path == SCORES_PATH
    assert http_source.requests[1].query["daysFrom"] == ["2"]
    scores = {s.game_key: s for s in batch.scores}
    assert scores["2024-07-12-CHC@STL"].status == "final"
    assert (scores["2024-07-12-CHC@STL"].home_score, scores["2024-07-12-CHC@STL"].away_score) == (
        4,
        6,
    )
    assert scores["2024-07-13-CWS@DET"].status == "live"
    assert scores["2024-07-13-BOS@NYY"].status == "scheduled"
    assert len({g.game_key for g in batch.games}) == len(batch.games) == 5  # no duplicates
    assert batch.quota == {"remaining": 4985, "used": 15, "last": 5}  # both calls' credits


@pytest.mark.parametrize(
    ("status", "error", "words"),
    [
        (401, SourceAuthError, "refused the API credentials (HTTP 401)"),
        (422, SourceBadRequest, "rejected the request parameters (HTTP 422)"),
        (500, SourceUnavailable, "is unavailable (HTTP 500)"),
        (503, SourceUnavailable, "is unavailable (HTTP 503)"),
    ],
)
def test_http_errors_raise_typed_errors(
    http_source: FeedServer, make_source: Maker, status: int, error: type[SourceError], words: str
) -> None:
    http_source.serve_json(ODDS_PATH, {"message": "nope", "error_code": "X"}, status=status)
    source = make_source()

    with pytest.raises(error) as caught:
        source.fetch(NOW)

    assert str(caught.value) == f"The Odds API {words}."
    assert caught.value.source == "odds_api"
    if isinstance(caught.value, SourceUnavailable):
        assert caught.value.status == status
    assert source.stats.failures == 1 and source.stats.last_error is caught.value


def test_429_carries_retry_after_seconds(http_source: FeedServer, make_source: Maker) -> None:
    http_source.serve_json(
        ODDS_PATH, {"message": "quota"}, status=429, headers={"Retry-After": "30"}
    )

    with pytest.raises(SourceRateLimited) as caught:
        make_source().fetch(NOW)

    assert caught.value.retry_after == 30.0
    assert str(caught.value) == "The Odds API is rate limiting us (HTTP 429); try again in 30 s."


def test_429_retry_after_as_http_date(http_source: FeedServer, make_source: Maker) -> None:
    http_source.serve_json(
        ODDS_PATH, {}, status=429, headers={"Retry-After": "Sat, 13 Jul 2024 18:07:00 GMT"}
    )

    with pytest.raises(SourceRateLimited) as caught:
        make_source().fetch(NOW)

    assert caught.value.retry_after == 120.0  # measured from the injected `now`


def test_429_without_retry_after(http_source: FeedServer, make_source: Maker) -> None:
    http_source.serve_json(ODDS_PATH, {}, status=429)

    with pytest.raises(SourceRateLimited) as caught:
        make_source().fetch(NOW)

    assert caught.value.retry_after is None


def test_slow_answer_raises_timeout(http_source: FeedServer, make_source: Maker) -> None:
    http_source.hang(ODDS_PATH)

    with pytest.raises(SourceTimeout, match=r"^The Odds API did not answer in time\.$"):
        make_source(timeout=0.2).fetch(NOW)


def test_malformed_json_raises_payload_error(http_source: FeedServer, make_source: Maker) -> None:
    http_source.serve_body(ODDS_PATH, b'[{"id": "abc", "home_team": ')

    with pytest.raises(SourcePayloadError, match="not JSON"):
        make_source().fetch(NOW)


def test_wrong_shape_raises_payload_error(http_source: FeedServer, make_source: Maker) -> None:
    http_source.serve_json(ODDS_PATH, {"data": []})

    with pytest.raises(SourcePayloadError, match="must be a JSON array"):
        make_source().fetch(NOW)


def test_corrupt_gzip_raises_payload_error(http_source: FeedServer, make_source: Maker) -> None:
    http_source.serve_body(ODDS_PATH, b"this is not gzip", headers={"Content-Encoding": "gzip"})

    with pytest.raises(SourcePayloadError, match="could not be decoded"):
        make_source().fetch(NOW)


def test_refused_connection_raises_unavailable(make_source: Maker) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    source = make_source(base_url=f"http://127.0.0.1:{port}")

    with pytest.raises(SourceUnavailable) as caught:
        source.fetch(NOW)

    assert caught.value.status is None and "could not be reached" in str(caught.value)


def test_api_key_never_logged_or_shown(
    http_source: FeedServer, make_source: Maker, caplog: pytest.LogCaptureFixture
) -> None:
    for name in (None, "httpx", "httpcore"):  # the app may have quietened the HTTP loggers
        caplog.set_level(logging.DEBUG, logger=name)
    source = make_source()
    source.fetch(NOW)
    http_source.serve_json(ODDS_PATH, {}, status=401)
    with pytest.raises(SourceAuthError) as caught:
        source.fetch(NOW)

    assert any("HTTP Request" in r.getMessage() for r in caplog.records)  # httpx did log
    assert API_KEY not in caplog.text
    assert API_KEY not in str(caught.value) and API_KEY not in repr(caught.value)
    assert API_KEY not in repr(source)
    assert http_source.requests[-1].query["apiKey"] == [API_KEY]  # yet it was sent


def test_empty_api_key_is_refused() -> None:
    with pytest.raises(ValueError, match="API key"):
        OddsApiSource("  ")
