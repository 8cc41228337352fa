"""`http_source`: a real local HTTP server serving recorded-format feed payloads, per-test routes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from feed_server import FeedServer


@pytest.fixture
def http_source() -> Iterator[FeedServer]:
    """A local feed server with the recorded payloads on their real paths; shut down after."""
    server = FeedServer()
    server.start()
    try:
        yield server
    finally:
        server.close()
