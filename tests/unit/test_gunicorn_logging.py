"""gunicorn's own lines go out through the app's JSON formatter (in a fresh interpreter, so
dictConfig does not touch this test process's logging)."""

from __future__ import annotations

import json
import subprocess
import sys

SNIPPET = """
import logging.config
from gunicorn.glogging import CONFIG_DEFAULTS
from app.gunicorn_config import gunicorn_settings
config = dict(CONFIG_DEFAULTS)
config.update(gunicorn_settings({})["logconfig_dict"])
logging.config.dictConfig(config)
logging.getLogger("gunicorn.error").info("Booting worker with pid: %s", 42)
"""


def test_gunicorn_lines_are_json() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SNIPPET], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    (line,) = [ln for ln in done.stderr.splitlines() if ln.strip()]
    record = json.loads(line)
    assert record["logger"] == "gunicorn.error" and record["level"] == "INFO"
    assert record["message"] == "Booting worker with pid: 42"
