"""A real Dugout server (gunicorn via `dugout serve`) and headless Chromium driven by Playwright."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.chrome.options import Options

from tests.conftest import PASSWORD

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BIN = Path(sys.executable).parent
USERS = {"viewer": "vera", "operator": "otto", "admin": "ada"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """A running `dugout serve` process and the settings it was started with."""

    def __init__(self, url: str, var_dir: Path, env: dict[str, str]) -> None:
        self.url, self.var_dir, self.env = url, var_dir, env

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the `dugout` CLI against this server's database."""
        return subprocess.run(
            [str(BIN / "dugout"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,  # generous: seeding a day takes minutes on a busy 2-core machine
            check=False,
        )


@contextlib.contextmanager
def serving(var_dir: Path, seed: bool, **settings: str) -> Iterator[LiveServer]:
    """`dugout serve` on a free port with one user per role, on a day and more of demo
    history when `seed`, with extra `DUGOUT_*` settings; stopped on leaving."""
    port = _free_port()
    env = {
        **os.environ,
        "DUGOUT_VAR_DIR": str(var_dir),
        "DUGOUT_LOG_LEVEL": "WARNING",
        "DUGOUT_ADMIN_PASSWORD": PASSWORD,
        "DUGOUT_NEW_PASSWORD": PASSWORD,
        **settings,
    }
    server = LiveServer(f"http://127.0.0.1:{port}", var_dir, env)
    for role, name in USERS.items():
        result = server.cli("users", "add", name, "--role", role, "--reason", "e2e")
        assert result.returncode == 0, result.stderr
    if seed:  # finished games and graded bets to chart
        seeded = server.cli("demo", "seed", "--hours", "30", "--step", "600")
        assert seeded.returncode == 0, seeded.stderr
    log = (var_dir / "server.log").open("w")
    proc = subprocess.Popen(
        [str(BIN / "dugout"), "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:  # wait for the port to answer (start-up, not time-based logic)
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"server did not start: {(var_dir / 'server.log').read_text()[-2000:]}")
        time.sleep(0.2)
    try:
        yield server
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Serve the embedded default on a free port with one user per role."""
    with serving(tmp_path_factory.mktemp("live") / "var", seed=True) as server:
        yield server


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's headless Chromium under Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM}; `make test` installs it"
        pytest.fail(message)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page_as(browser, request):
    """A fresh browser context logged in through the real login form as `role`, on `server`
    (default: the seeded `live_server`)."""
    contexts = []

    def factory(role: str, server: LiveServer | None = None):
        server = server or request.getfixturevalue("live_server")
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{server.url}/login")
        page.fill("#username", USERS[role])
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_selector("#nav-user", timeout=20_000)
        return page

    yield factory
    for context in contexts:
        context.close()


def pytest_setup_options() -> Options:
    """dash[testing]'s `dash_duo` on Debian's Chromium, headless, with no calls home."""
    options = Options()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--window-size=1280,1024",  # avoids "element click intercepted" at the default size
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
    ):
        options.add_argument(flag)
    return options
