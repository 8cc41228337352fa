"""Under gunicorn with two workers, every scrape sees every worker's counts (multiprocess mode)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[3]
CONF = """
from app.observability.metrics import child_exit, on_starting  # noqa: F401
bind = "127.0.0.1:{port}"
workers = 2
worker_class = "gthread"
threads = 2
preload_app = False
control_socket = "{ctl}"
accesslog = None
"""
WSGI = """
from app import create_app

application = create_app()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port, metrics_dir = _free_port(), tmp_path / "prom"
    metrics_dir.mkdir()
    (metrics_dir / "stale_123.db").write_bytes(b"")  # on_starting must wipe leftovers
    (tmp_path / "gunicorn_conf.py").write_text(CONF.format(port=port, ctl=tmp_path / "g.ctl"))
    (tmp_path / "wsgi_probe.py").write_text(WSGI)
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "DUGOUT_VAR_DIR": str(tmp_path / "var"),
        "DUGOUT_SCHEDULER_ENABLED": "false",
        "DUGOUT_LOG_LEVEL": "WARNING",
        "PYTHONPATH": f"{ROOT}:{tmp_path}",
    }
    env.pop("DUGOUT_DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main(['db', 'upgrade'])"],
        env=env,
        cwd=tmp_path,
        check=False,
        capture_output=True,
        timeout=120,
    )
    log = (tmp_path / "gunicorn.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(tmp_path / "gunicorn_conf.py"),
            "wsgi_probe:application",
        ],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:  # start-up wait, not time logic
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail((tmp_path / "gunicorn.log").read_text()[-3000:])
        time.sleep(0.2)
    yield url, metrics_dir
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
    log.close()


def _healthz_count(text: str) -> float:
    pattern = r'^flask_http_request_duration_seconds_count\{method="GET",status="200",url_rule="/healthz"\} (\S+)$'
    return sum(float(v) for v in re.findall(pattern, text, re.M))


def _pids(metrics_dir: Path) -> set[str]:
    """Worker pids that have written samples to the multiprocess directory."""
    return {p.stem.rsplit("_", 1)[1] for p in metrics_dir.glob("*.db")}


def test_scrapes_add_up_every_worker(server) -> None:
    url, metrics_dir = server
    assert not (metrics_dir / "stale_123.db").exists()
    deadline = time.monotonic() + 60
    while len(_pids(metrics_dir)) < 2:  # start-up wait: the second worker may still be booting
        assert time.monotonic() < deadline, sorted(metrics_dir.iterdir())
        with httpx.Client() as client:
            client.get(f"{url}/healthz")
    for _ in range(40):
        with httpx.Client() as client:  # a new connection each time, spread over the workers
            assert client.get(f"{url}/healthz").status_code == 200
    texts = [httpx.get(f"{url}/metrics", timeout=10).text for _ in range(6)]
    counts = {_healthz_count(t) for t in texts}
    assert len(counts) == 1, counts  # no scrape-to-scrape alternation between workers
    assert counts.pop() >= 40
    assert len(_pids(metrics_dir)) >= 2, sorted(metrics_dir.iterdir())  # both workers wrote
    assert "dugout_ledger_up 1.0" in texts[0] and "dugout_slo_events_total" in texts[0]
    rss = dict(
        re.findall(r'^dugout_process_resident_memory_bytes\{pid="(\d+)"\} (\S+)$', texts[0], re.M)
    )
    cpu = dict(re.findall(r'^dugout_process_cpu_seconds\{pid="(\d+)"\} (\S+)$', texts[0], re.M))
    assert len(rss) >= 2 and rss.keys() == cpu.keys()  # one series per worker process
    assert all(float(v) > 10e6 for v in rss.values())  # a Python server holds tens of MB
    assert all(float(v) > 0 for v in cpu.values())
    assert "process_cpu_seconds_total" not in texts[0]  # one process's view would mislead here


def test_single_process_serves_the_standard_process_metrics(app, anon) -> None:
    text = anon.http.get("/metrics").get_data(as_text=True)
    rss = re.search(r"^process_resident_memory_bytes (\S+)$", text, re.M)
    assert rss and float(rss[1]) > 10e6
    assert re.search(r"^process_cpu_seconds_total \S+$", text, re.M)
    assert 'python_info{implementation="CPython"' in text
    assert "dugout_process_resident_memory_bytes" not in text
