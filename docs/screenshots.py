"""Take a screenshot of every page from a seeded demo instance (for the README).

Usage: .venv/bin/python docs/screenshots.py  (needs Debian's chromium; `make test` installs it)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img"
BIN = Path(sys.executable).parent
PASSWORD = "screenshot-password"
PAGES = {
    "overview": "/",
    "pipelines": "/pipelines",
    "strategies": "/strategies",
    "opportunities": "/opportunities",
    "bets": "/bets",
    "odds": "/odds",
    "admin": "/admin",
}
SCREEN_ONLY = {"odds"}  # a full slate is many screens tall: its first screen shows the grid
PHONE = {"overview-phone": "/", "bets-phone": "/bets"}
# The shell polls a change token every second, so the network is never idle: a page is ready
# when Dash has no callback in flight and every chart on it has drawn
SETTLED = """() => !document.querySelector('[data-dash-is-loading="true"]')
    && [...document.querySelectorAll('.js-plotly-plot')].every(g => g._fullLayout)"""


def _settle(page) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_load_state("load")
    page.wait_for_function(SETTLED, timeout=60_000)
    page.wait_for_timeout(1500)  # let Plotly finish its transitions


def main() -> None:
    """Seed a demo instance, serve it, and save one PNG per page at laptop width."""
    var_dir = Path(tempfile.mkdtemp(prefix="dugout-shots-"))
    env = {
        **os.environ,
        "DUGOUT_VAR_DIR": str(var_dir),
        "DUGOUT_ADMIN_PASSWORD": PASSWORD,
        "DUGOUT_LOG_LEVEL": "WARNING",
    }
    subprocess.run(
        [str(BIN / "dugout"), "demo", "seed", "--hours", "30", "--step", "60"], env=env, check=True
    )
    port = 8765
    server = subprocess.Popen(
        [str(BIN / "dugout"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):  # wait for the server to answer
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        OUT.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            page = browser.new_page(viewport={"width": 1366, "height": 1000})
            page.goto(f"{base}/login")
            page.fill("#username", "admin")
            page.fill("#password", PASSWORD)
            page.click("#login-submit")
            page.wait_for_selector("#nav-user")
            for name, path in PAGES.items():
                page.goto(f"{base}{path}")
                _settle(page)
                full = name not in SCREEN_ONLY
                page.screenshot(path=str(OUT / f"{name}.png"), full_page=full)
                print(f"saved docs/img/{name}.png")
            page.set_viewport_size({"width": 390, "height": 844})  # a phone
            for name, path in PHONE.items():
                page.goto(f"{base}{path}")
                _settle(page)
                page.screenshot(path=str(OUT / f"{name}.png"), full_page=False)
                print(f"saved docs/img/{name}.png")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
