"""`next` after sign-in: only a same-origin path survives Werkzeug's Location normalisation."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from hypothesis import example, given, settings
from hypothesis import strategies as st
from werkzeug.urls import iri_to_uri

from app.redirects import NEXT_MAX, safe_next

ORIGIN = "http://dugout.test/login"
TRICKS = ["/\t/evil.example", "/\n/evil.example", "/\r/evil.example", "/\\evil.example",
          "//evil.example", "https://evil.example/", " //evil.example", "/\x00/x",
          "\t//evil.example", "javascript:alert(1)", "/%09/evil.example", "///evil.example"]  # fmt: skip


def _lands_on(location: str) -> tuple[str, str]:
    """Where a browser on ORIGIN goes when sent `location` (scheme, host)."""
    parts = urlsplit(urljoin(ORIGIN, iri_to_uri(location)))
    return parts.scheme, parts.netloc


@settings(max_examples=600, deadline=None)
@given(st.text(max_size=80))
@example("/\t/evil.example")  # the hole: Werkzeug dropped the tab and sent //evil.example
@example("/\r\n/evil.example")
def test_any_next_stays_on_this_site(target: str) -> None:
    out = safe_next(target)
    assert _lands_on(out) == ("http", "dugout.test")
    assert iri_to_uri(out) == out  # what was checked is exactly what is sent
    assert out.startswith("/") and not out.startswith("//")


@settings(max_examples=300, deadline=None)
@given(
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="/\\?#")).map(
        lambda s: s.strip()
    ),
    st.lists(st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=8), max_size=4),
)
def test_built_from_segments_tricks_fall_back_or_stay_home(
    prefix: str, segments: list[str]
) -> None:
    for trick in TRICKS:
        out = safe_next(trick + prefix + "/" + "/".join(segments))
        assert _lands_on(out) == ("http", "dugout.test"), trick


@given(
    st.lists(
        st.text("abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=12),
        min_size=1,
        max_size=5,
    )
)
def test_an_ordinary_page_path_is_kept(segments: list[str]) -> None:
    path = "/" + "/".join(segments)
    assert safe_next(path) == path
    assert safe_next(path + "?window=24h") == path + "?window=24h"


def test_each_known_trick_falls_back_to_home() -> None:
    for trick in TRICKS:
        assert safe_next(trick) in ("/", "/%09/evil.example"), trick
    assert safe_next("/" + "a" * NEXT_MAX) == "/"
    assert safe_next(None) == "/" and safe_next("") == "/"
