"""Market data sources: the embedded demo market, The Odds API and the MLB Stats API."""

from app.pipelines.sources.base import (
    Source,
    SourceAuthError,
    SourceBadRequest,
    SourceError,
    SourcePayloadError,
    SourceRateLimited,
    SourceTimeout,
    SourceUnavailable,
)
from app.pipelines.sources.demo import DemoSource
from app.pipelines.sources.mlb_statsapi import MlbStatsApiSource
from app.pipelines.sources.odds_api import OddsApiSource

__all__ = [
    "DemoSource",
    "MlbStatsApiSource",
    "OddsApiSource",
    "Source",
    "SourceAuthError",
    "SourceBadRequest",
    "SourceError",
    "SourcePayloadError",
    "SourceRateLimited",
    "SourceTimeout",
    "SourceUnavailable",
]
