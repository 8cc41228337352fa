"""The real MLB Stats API client against a local server serving a recorded-format schedule."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from feed_server import SCHEDULE_PATH, FeedServer

from app.pipelines.sources.base import (
    SourceError,
    SourcePayloadError,
    SourceTimeout,
    SourceUnavailable,
)
from app.pipelines.sources.mlb_statsapi import MlbStatsApiSource
from app.pipelines.validation import content_hash

Maker = Callable[..., MlbStatsApiSource]
NOW = datetime(2024, 7, 13, 22, 30, tzinfo=UTC)


@pytest.fixture
def make_source(http_source: FeedServer) -> Iterator[Maker]:
    """Build MlbStatsApiSource instances on the local server; all are closed afterwards."""
    made: list[MlbStatsApiSource] = []

    def factory(**kwargs: object) -> MlbStatsApiSource:
        """An MlbStatsApiSource on the local server; keyword arguments override the defaults."""
        options: dict[str, object] = {"base_url": http_source.base_url, "timeout": 2.0}
        options.update(kwargs)
        source = MlbStatsApiSource(**options)  # type: ignore[arg-type]
        made.append(source)
        return source

    yield factory
    for source in made:
        source.close()


def test_schedule_statuses_doubleheader_and_postponement(
    http_source: FeedServer, make_source: Maker
) -> None:
    batch = make_source().fetch(NOW)

    assert batch.rejected == []
    games = {g.game_key: g for g in batch.games}
    assert list(games) == [
        "2024-07-12-NYY@SEA",
        "2024-07-13-CWS@DET",
        "2024-07-13-CWS@DET-2",
        "2024-07-13-BOS@NYY",
        "2024-07-13-LAA@ATH",
    ]
    assert games["2024-07-13-CWS@DET-2"].source_ref == "746234"  # keyed by gamePk
    assert games["2024-07-13-LAA@ATH"].commence_time == datetime(2024, 7, 14, 2, 7, tzinfo=UTC)
    scores = {s.game_key: (s.status, s.home_score, s.away_score) for s in batch.scores}
    assert scores == {
        "2024-07-12-NYY@SEA": ("final", 5, 3),  # "Game Over" is final
        "2024-07-13-CWS@DET": ("final", 4, 1),
        "2024-07-13-CWS@DET-2": ("live", 2, 0),
        "2024-07-13-BOS@NYY": ("postponed", None, None),  # abstract Final, detailed Postponed
        "2024-07-13-LAA@ATH": ("scheduled", None, None),
    }
    assert batch.raw_hash == content_hash(http_source.payload("mlb_schedule.json"))
    assert batch.quota is None


def test_schedule_request_covers_yesterday_and_today(
    http_source: FeedServer, make_source: Maker
) -> None:
    make_source().fetch(datetime(2024, 7, 14, 3, 0, tzinfo=UTC))  # 23:00 on the 13th in New York

    (request,) = http_source.requests
    assert request.path == SCHEDULE_PATH
    assert request.query == {
        "sportId": ["1"],
        "startDate": ["2024-07-12"],
        "endDate": ["2024-07-13"],
        "hydrate": ["linescore"],  # innings played, for the house rules
    }
    assert "gzip" in request.headers["Accept-Encoding"]


def test_gzip_schedule(http_source: FeedServer, make_source: Maker) -> None:
    http_source.serve_file(SCHEDULE_PATH, "mlb_schedule.json", gzip=True)

    assert len(make_source().fetch(NOW).games) == 5


def test_one_bad_game_is_quarantined_and_the_rest_kept(
    http_source: FeedServer, make_source: Maker
) -> None:
    payload = http_source.payload("mlb_schedule.json")
    payload["dates"][1]["games"][0]["teams"]["home"]["team"]["name"] = "Motor City Kitties"
    http_source.serve_json(SCHEDULE_PATH, payload)

    batch = make_source().fetch(NOW)

    (rejected,) = batch.rejected
    assert (rejected.source, rejected.field) == ("mlb_statsapi", "teams.home.team.name")
    assert "Motor City Kitties" in rejected.reason
    assert rejected.payload["gamePk"] == 746233
    assert len(batch.games) == 4


@pytest.mark.parametrize(
    ("status", "error"),
    [(500, SourceUnavailable), (503, SourceUnavailable), (404, SourceError)],
)
def test_http_errors(
    http_source: FeedServer, make_source: Maker, status: int, error: type[SourceError]
) -> None:
    http_source.serve_json(SCHEDULE_PATH, {"message": "down"}, status=status)

    with pytest.raises(error) as caught:
        make_source().fetch(NOW)

    assert caught.value.source == "mlb_statsapi"
    assert str(caught.value).startswith("The MLB Stats API ")


def test_timeout(http_source: FeedServer, make_source: Maker) -> None:
    http_source.hang(SCHEDULE_PATH)

    with pytest.raises(SourceTimeout, match="MLB Stats API did not answer"):
        make_source(timeout=0.2).fetch(NOW)


@pytest.mark.parametrize("body", [b"<html>maintenance</html>", b"[1, 2, 3]", b'{"dates": 7}'])
def test_malformed_or_wrong_shape(http_source: FeedServer, make_source: Maker, body: bytes) -> None:
    http_source.serve_body(SCHEDULE_PATH, body)

    with pytest.raises(SourcePayloadError):
        make_source().fetch(NOW)
