"""The package installs anywhere: the wheel built from this checkout, installed with the locked
dependencies into a fresh venv outside the checkout and run from another directory, serves
styled pages (the CSS Dash links comes from the installed package)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import PASSWORD

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "app", "pages", "components", "scheduler", "assets")
CACHES = shutil.ignore_patterns("__pycache__", "*.pyc")
pytestmark = pytest.mark.timeout(900)  # building and installing a venv takes minutes when busy


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(*command: str | Path, cwd: Path, timeout: float = 600) -> str:
    """Run a command outside the checkout's environment; its output, or fail with it."""
    done = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{command}: {done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def _clean_env() -> dict[str, str]:
    """The environment without anything that could point Python back at the checkout."""
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PROMETHEUS_MULTIPROC_DIR"}
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("DUGOUT_")}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv (outside the checkout) holding the locked dependencies and the wheel."""
    root = tmp_path_factory.mktemp("installed")
    assert REPO not in root.parents
    source = root / "src"  # a copy, so the build leaves nothing (build/, egg-info) in the checkout
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=CACHES)
        else:
            shutil.copy2(REPO / name, source / name)
    dist = root / "dist"
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, source, cwd=root)
    (wheel,) = dist.glob("dugout-*.whl")
    venv = root / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=root)
    pip = venv / "bin" / "pip"
    _run(pip, "install", "-q", "--require-hashes", "-r", REPO / "requirements.txt", cwd=root)
    _run(pip, "install", "-q", "--no-deps", wheel, cwd=root)
    yield venv


def test_the_wheel_carries_pages_assets_and_migrations(installed: Path) -> None:
    (wheel,) = (installed.parent / "dist").glob("dugout-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for asset in (REPO / "assets").rglob("*"):  # every file, the vendored Plotly bundle too
        if asset.is_file():
            name = asset.relative_to(REPO).as_posix()
            assert name in names, name
    assert "pages/overview.py" in names
    assert "app/migrations/env.py" in names and "app/migrations/script.py.mako" in names


def test_the_locked_install_is_consistent_and_imports_from_site_packages(installed: Path) -> None:
    _run(installed / "bin" / "pip", "check", cwd=installed.parent)
    where = _run(
        installed / "bin" / "python",
        "-c",
        "import app, app.dashboard as d; print(app.__file__); print(d.ASSETS_DIR)",
        cwd=installed.parent,
    ).split()
    for path in where:
        assert Path(path).is_relative_to(installed), path  # not the checkout


@pytest.fixture(scope="module")
def served(installed: Path) -> Iterator[str]:
    """`dugout serve` of the installed package, started from a directory of its own."""
    elsewhere = installed.parent / "elsewhere"
    elsewhere.mkdir()
    port = _free_port()
    env = {
        **_clean_env(),
        "DUGOUT_VAR_DIR": str(elsewhere / "var"),
        "DUGOUT_ADMIN_PASSWORD": PASSWORD,
        "DUGOUT_SCHEDULER_ENABLED": "false",
        "DUGOUT_LOG_LEVEL": "WARNING",
        "DUGOUT_DEMO_SEED_HOURS": "0",  # styled pages are the point here, not the first-start seed
    }
    log = (elsewhere / "server.log").open("w")
    proc = subprocess.Popen(
        [str(installed / "bin" / "dugout"), "serve", "--port", str(port)],
        cwd=elsewhere,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:  # wait for the port to answer (start-up, not time-based logic)
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"server did not start: {(elsewhere / 'server.log').read_text()[-3000:]}")
        time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=60)
    log.close()


def test_installed_server_serves_styled_pages(served: str) -> None:
    with httpx.Client(base_url=served, timeout=30) as client:
        form = client.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token
        signed_in = client.post(
            "/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token[1]}
        )
        assert signed_in.status_code == 302, signed_in.text
        index = client.get("/")
        assert index.status_code == 200
        links = re.findall(r'<link rel="stylesheet" href="(/assets/[^"?]+)', index.text)
        assert {"/assets/00-bootstrap.min.css", "/assets/dugout.css"} <= set(links)
        for link in links:
            css = client.get(link)
            assert css.status_code == 200, link
            assert css.headers["content-type"].startswith("text/css")
            assert css.content == (REPO / link.lstrip("/")).read_bytes()
