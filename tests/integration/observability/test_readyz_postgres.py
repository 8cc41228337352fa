"""/readyz flips to 503 naming the database when PostgreSQL stops, and back when it returns.

Runs against a throwaway cluster of its own (NOTES: never stop the shared one)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

from app import create_app
from app.db import build_engine
from app.migrate import upgrade

pytestmark = pytest.mark.postgres
BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def _as_postgres(*cmd: str) -> subprocess.CompletedProcess[str]:
    # the server must not inherit our pipes, or waiting for the command waits for the server
    return subprocess.run(
        ["su", "postgres", "-c", " ".join(cmd)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class Cluster:
    """A private PostgreSQL cluster on a free port."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="dugout-pg-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        shutil.chown(self.dir, "postgres")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.bin = BIN[-1]
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def ctl(self, action: str) -> None:
        opts = f"'-p {self.port} -k /tmp -c listen_addresses=127.0.0.1'"
        extra = f"-o {opts} -l {self.dir}/server.log -w" if action == "start" else "-m fast -w"
        done = _as_postgres(f"{self.bin}/pg_ctl", "-D", self.dir, extra, action)
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if not BIN or os.geteuid() != 0:
        pytest.fail("needs PostgreSQL server binaries and root (to run them as postgres)")
    c = Cluster()
    done = _as_postgres(f"{c.bin}/initdb", "-D", c.dir, "-U", "postgres", "--auth=trust")
    assert done.returncode == 0, done.stderr
    c.ctl("start")
    try:
        yield c
    finally:
        done = _as_postgres(f"{c.bin}/pg_ctl", "-D", c.dir, "-m", "immediate", "-w", "stop")
        shutil.rmtree(c.dir, ignore_errors=True)
        assert done.returncode == 0 or "no server running" in done.stderr, done.stderr


def test_readyz_flips_when_postgres_stops_and_recovers(cluster, tmp_path) -> None:
    engine = build_engine(cluster.url)
    upgrade(engine)
    engine.dispose()
    app = create_app(
        {
            "var_dir": str(tmp_path),
            "database_url": cluster.url,
            "testing": True,
            "log_level": "WARNING",
            "scheduler_enabled": False,
        }
    )
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    cluster.ctl("stop")
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json["failing"] == ["database"]
    assert client.get("/healthz").status_code == 200  # liveness does not depend on it
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and b"dugout_ledger_up 0.0" in metrics.data
    cluster.ctl("start")
    assert client.get("/readyz").status_code == 200
    app.extensions["dugout.db"].dispose()
