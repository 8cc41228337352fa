"""Lighter pages: responses compressed as the browser accepts, fingerprinted bundles and assets
cached for a year (immutable) and compressed once, anything else revalidated as before."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import brotli

from app.page_weight import PLOTLY_BUNDLE, FingerprintedCache

BR = {"Accept-Encoding": "gzip, deflate, br"}
GZIP = {"Accept-Encoding": "gzip"}


def _bundles(viewer) -> list[str]:
    index = viewer.http.get("/").data.decode()
    return re.findall(r'src="([^"]+)"', index) + re.findall(r'href="(/assets/[^"]+)"', index)


def test_bundles_come_compressed_and_cached_for_a_year(login_as) -> None:
    viewer = login_as("viewer")
    urls = _bundles(viewer)
    renderer = next(u for u in urls if "dash_renderer" in u)
    css = next(u for u in urls if u.startswith("/assets/") and ".css?m=" in u)
    for url in (renderer, css):
        plain = viewer.http.get(url, headers={"Accept-Encoding": "identity"})
        packed = viewer.http.get(url, headers=BR)
        assert plain.status_code == packed.status_code == 200
        assert "Content-Encoding" not in plain.headers
        assert packed.headers["Content-Encoding"] == "br"
        assert brotli.decompress(packed.data) == plain.data  # the same file, smaller
        assert len(packed.data) < len(plain.data) / 3
        assert packed.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert "Accept-Encoding" in packed.headers["Vary"]
        zipped = viewer.http.get(url, headers=GZIP)
        assert zipped.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(zipped.data) == plain.data


def test_callbacks_are_compressed_and_unfingerprinted_files_revalidated(login_as) -> None:
    viewer = login_as("viewer")
    answer = viewer.http.post(
        "/_dash-update-component",
        json={
            "output": "market-state.children",
            "outputs": {"id": "market-state", "property": "children"},
            "inputs": [
                {"id": "shell-refresh", "property": "n_intervals", "value": 1},
                {"id": "_pages_location", "property": "pathname", "value": "/"},
            ],
            "changedPropIds": ["shell-refresh.n_intervals"],
        },
        headers={"X-CSRFToken": viewer.csrf(), **BR},
    )
    assert answer.status_code == 200
    if answer.headers.get("Content-Encoding") == "br":  # bodies under 500 bytes stay plain
        json.loads(brotli.decompress(answer.data))
    assert "immutable" not in answer.headers.get("Cache-Control", "")
    css = next(u for u in _bundles(viewer) if u.startswith("/assets/") and ".css?m=" in u)
    unstamped = viewer.http.get(css.split("?", 1)[0], headers=BR)
    assert unstamped.status_code == 200 and "immutable" not in unstamped.headers.get(
        "Cache-Control", ""
    )


def test_the_cache_keeps_only_fingerprinted_bodies_and_a_bounded_number() -> None:
    cache = FingerprintedCache(entries=2)
    cache.set("br;12345", b"a callback")
    assert cache.get("br;12345") is None
    for name in ("a", "b", "c"):
        cache.set(f"br;/_dash-component-suites/{name}.v1m2.js#fingerprinted", name.encode())
    assert cache.get("br;/_dash-component-suites/a.v1m2.js#fingerprinted") is None  # oldest out
    assert cache.get("br;/_dash-component-suites/c.v1m2.js#fingerprinted") == b"c"


ROOT = Path(__file__).resolve().parents[2]


def _bundle_traces() -> set[str]:
    """The trace types the vendored partial bundle registers."""
    text = (ROOT / "assets" / PLOTLY_BUNDLE).read_text("utf-8")
    return set(re.findall(r'moduleType:"trace",name:"([a-z0-9]+)"', text))


def test_the_partial_plotly_bundle_matches_plotly_py_and_draws_every_trace_we_build() -> None:
    from plotly.offline import get_plotlyjs_version

    head = (ROOT / "assets" / PLOTLY_BUNDLE).read_text("utf-8")[:200]
    version = get_plotlyjs_version()
    assert f"v{version}\n" in head  # figures are built for this plotly.js schema
    assert version in PLOTLY_BUNDLE
    loader = (ROOT / "assets" / "plotly_partial.js").read_text("utf-8")
    assert f'"{PLOTLY_BUNDLE}?m={version}"' in loader
    built = {
        name.lower()
        for folder in ("components", "pages")
        for path in (ROOT / folder).glob("*.py")
        for name in re.findall(r"\bgo\.([A-Z][A-Za-z0-9]*)\(", path.read_text("utf-8"))
    } - {"figure"}
    assert built, "no figure builders found"
    assert built <= _bundle_traces(), (
        f"traces the partial bundle cannot draw: {built - _bundle_traces()}"
    )


def test_pages_load_the_loader_but_only_a_chart_loads_the_bundle(login_as) -> None:
    viewer = login_as("viewer")
    urls = _bundles(viewer)
    assert any("/assets/plotly_partial.js?m=" in u for u in urls)
    assert not any("vendor/" in u or "plotly.min.js" in u for u in urls)  # no Plotly yet
    url = f"/assets/{PLOTLY_BUNDLE}?m=4.1.1"
    packed = viewer.http.get(url, headers=BR)
    assert packed.status_code == 200
    assert packed.headers["Content-Encoding"] == "br"
    assert packed.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert b"plotly.js (cartesian - minified)" in brotli.decompress(packed.data)[:200]
