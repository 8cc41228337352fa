"""Page weight benchmark: every page in headless Chromium (Debian's, through Playwright) against a
real `dugout serve` on the embedded default with a few hours of seeded history.

For each page: bytes transferred on a cold load (browser cache emptied) and on a warm one (the
same browser, a later visit), how many times Plotly's bundle came over the wire, and the time to
a settled page by the browser's clock (from the navigation's start until no Dash callback is
pending and every chart is drawn: Plotly's download, parse and first draw count), medians of
`--repeat` loads each, each also as a ratio to the lightest page. Prints figures; asserts
nothing about time.

Run: .venv/bin/python bench/pages.py [--hours 3] [--src DIR] [--repeat 3]
  --src DIR  serve the code of another checkout (say the main branch before a change) with this
             venv, for a before / after comparison.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

BIN = Path(sys.executable).parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "bench-password-0123"
# Settled: the page's content is in, no callback of its is pending, and at least `n` charts are
# drawn by Plotly with the server's figure (a drawn chart has a layout; Dash's first empty
# figure has none). Answers the browser's own clock, from the navigation's start.
SETTLED_JS = """(n) => {
  const content = document.querySelector('#_pages_content');
  if (!content || content.children.length === 0) return false;
  if (content.querySelector('[data-dash-is-loading="true"]')) return false;
  const graphs = Array.from(content.querySelectorAll('.dash-graph'));
  if (graphs.length < n) return false;
  for (const g of graphs) {
    const plot = g.querySelector('.js-plotly-plot');
    if (!plot || plot.classList.contains('dash-graph--pending')) return false;
    if (!plot.layout || Object.keys(plot.layout).length === 0) return false;
  }
  return performance.now();
}"""

STATE_JS = """() => {
  const content = document.querySelector('#_pages_content');
  return {
    children: content ? content.children.length : null,
    loading: Array.from((content || document).querySelectorAll('[data-dash-is-loading="true"]'))
      .map(e => e.id || e.className),
    charts: Array.from((content || document).querySelectorAll('.dash-graph')).map(g => {
      const plot = g.querySelector('.js-plotly-plot');
      return [g.id, plot ? Object.keys(plot.layout || {}).length : null];
    }),
  };
}"""


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _dugout(src: str | None) -> list[str]:
    if src is None:
        return [str(BIN / "dugout")]
    code = f"import sys; sys.path.insert(0, {src!r}); from app.cli import main; main()"
    return [sys.executable, "-c", code]


def start_server(var_dir: Path, hours: float, src: str | None) -> tuple[subprocess.Popen[Any], str]:
    """Seed `hours` of demo history, then `dugout serve` on a free port; returns the process."""
    env = {
        **os.environ,
        "DUGOUT_VAR_DIR": str(var_dir),
        "DUGOUT_LOG_LEVEL": "WARNING",
        "DUGOUT_ADMIN_PASSWORD": PASSWORD,
        "DUGOUT_DEMO_SEED_HOURS": "0",
    }
    seeded = subprocess.run(
        [*_dugout(src), "demo", "seed", "--hours", str(hours)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if seeded.returncode != 0:
        raise SystemExit(f"seeding failed: {seeded.stderr[-2000:]}")
    port = _port()
    log = (var_dir / "server.log").open("w")
    proc = subprocess.Popen(
        [*_dugout(src), "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:  # wait for the port to answer
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(
                f"server did not start: {(var_dir / 'server.log').read_text()[-2000:]}"
            )
        time.sleep(0.2)


class Meter:
    """Bytes over the wire and the last response's time, from Chromium's own network events."""

    def __init__(self, cdp: Any) -> None:
        self.bytes = 0
        self.plotly = 0
        self.last = 0.0
        self._urls: dict[str, str] = {}
        cdp.send("Network.enable")
        cdp.on("Network.responseReceived", self._response)
        cdp.on("Network.loadingFinished", self._finished)

    def reset(self) -> None:
        self.bytes, self.plotly, self.last = 0, 0, time.perf_counter()

    def _response(self, event: dict[str, Any]) -> None:
        self._urls[event["requestId"]] = event["response"]["url"]

    def _finished(self, event: dict[str, Any]) -> None:
        size = int(event.get("encodedDataLength") or 0)
        self.bytes += size
        self.last = time.perf_counter()
        url = self._urls.pop(event["requestId"], "")
        if "plotly" in url and size > 100_000:
            self.plotly += 1


def load(page: Any, meter: Meter, url: str, charts: int) -> tuple[int, float, int]:
    """(bytes, seconds to settled, Plotly downloads) for one navigation to `url` showing
    `charts` charts. The time is the browser's, from the navigation's start until the page
    settled with every chart drawn (Plotly's download, parse and first draw included)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    meter.reset()
    page.goto(url, wait_until="commit")
    try:
        settled = page.wait_for_function(SETTLED_JS, arg=charts, timeout=90_000, polling="raf")
    except PlaywrightTimeout:
        print(f"  {url} did not settle in 90 s: {page.evaluate(STATE_JS)}", file=sys.stderr)
        return meter.bytes, float("nan"), meter.plotly
    seconds = float(settled.json_value()) / 1000
    page.wait_for_timeout(300)  # the network events of the last responses reach the meter
    return meter.bytes, seconds, meter.plotly


def charts_on(page: Any, url: str) -> int:
    """How many charts `url` shows once it has had all the time it needs (the count a measured
    load waits for; a page that never settles counts the charts it has by then)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(url, wait_until="load")
    try:
        page.wait_for_function(SETTLED_JS, arg=0, timeout=90_000)
        page.wait_for_timeout(3000)  # a chart whose code is still loading is not counted yet
        page.wait_for_function(SETTLED_JS, arg=0, timeout=90_000)
    except PlaywrightTimeout:
        print(f"  {url} did not settle in 90 s: {page.evaluate(STATE_JS)}", file=sys.stderr)
    return int(
        page.evaluate("() => document.querySelectorAll('#_pages_content .dash-graph').length")
    )


def _median(values: list[float]) -> float:
    """The median of the loads that settled (NaN when none did)."""
    settled = [v for v in values if not math.isnan(v)]
    return statistics.median(settled) if settled else float("nan")


def measure(url: str, repeat: int) -> dict[str, dict[str, float]]:
    """Per page: cold and warm bytes, settled time (median of `repeat` cold loads, and of
    `repeat` warm ones), Plotly downloads."""
    from playwright.sync_api import sync_playwright

    figures: dict[str, dict[str, float]] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        meter = Meter(cdp)
        page.goto(f"{url}/login")
        page.fill("#username", "admin")
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_selector("#nav-user", timeout=60_000)
        paths = page.eval_on_selector_all(
            "a.nav-link", "els => els.map(e => e.getAttribute('href'))"
        )
        paths = list(dict.fromkeys(p for p in paths if p and p.startswith("/")))
        charts = {path: charts_on(page, f"{url}{path}") for path in paths}
        for path in paths:
            cold_bytes, times, plotly = [], [], 0
            for _ in range(repeat):
                cdp.send("Network.clearBrowserCache")
                size, seconds, plotly = load(page, meter, f"{url}{path}", charts[path])
                cold_bytes.append(size)
                times.append(seconds)
            warm_bytes, warm_times, warm_plotly = [], [], 0
            for _ in range(repeat):
                size, seconds, warm_plotly = load(page, meter, f"{url}{path}", charts[path])
                warm_bytes.append(size)
                warm_times.append(seconds)
            figures[path] = {
                "charts": charts[path],
                "cold_bytes": statistics.median(cold_bytes),
                "warm_bytes": statistics.median(warm_bytes),
                "settled_s": _median(times),
                "warm_settled_s": _median(warm_times),
                "plotly_cold": plotly,
                "plotly_warm": warm_plotly,
            }
        browser.close()
    return figures


def _least(values: Iterable[float]) -> float:
    """The smallest time of the pages that settled."""
    return min((v for v in values if not math.isnan(v)), default=float("nan")) or 1e-9


def report(figures: dict[str, dict[str, float]]) -> None:
    """One line per page, with ratios to the lightest page (by cold bytes and by time)."""
    light_bytes = min(f["cold_bytes"] for f in figures.values()) or 1
    light_s = _least(f["settled_s"] for f in figures.values())
    print(f"cores: {os.cpu_count()}  load average: {os.getloadavg()[0]:.1f}")
    light_warm = _least(f["warm_settled_s"] for f in figures.values())
    print(
        f"{'page':16} {'charts':>6} {'cold KB':>9} {'x':>5} {'warm KB':>8} {'cold s':>7} "
        f"{'x':>5} {'warm s':>7} {'x':>5} {'plotly':>7}"
    )
    for path, f in sorted(figures.items(), key=lambda kv: kv[1]["cold_bytes"]):
        print(
            f"{path:16} {int(f['charts']):6} {f['cold_bytes'] / 1024:9.0f} "
            f"{f['cold_bytes'] / light_bytes:5.2f} {f['warm_bytes'] / 1024:8.1f} "
            f"{f['settled_s']:7.2f} {f['settled_s'] / light_s:5.2f} "
            f"{f['warm_settled_s']:7.2f} {f['warm_settled_s'] / light_warm:5.2f} "
            f"{int(f['plotly_cold'])}/{int(f['plotly_warm'])}"
        )
    total = sum(f["cold_bytes"] for f in figures.values())
    print(f"total cold bytes over {len(figures)} pages: {total / 1024:.0f} KB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=3.0, help="seeded demo history")
    parser.add_argument("--repeat", type=int, default=3, help="cold loads per page")
    parser.add_argument("--src", default=None, help="serve another checkout's code")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dugout-pages-") as tmp:
        var_dir = Path(tmp) / "var"
        proc, url = start_server(var_dir, args.hours, args.src)
        try:
            figures = measure(url, args.repeat)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    report(figures)


if __name__ == "__main__":
    main()
