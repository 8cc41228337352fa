"""gunicorn settings and hooks for Dugout, from the environment: the container's
`gunicorn -c gunicorn.conf.py` and `dugout serve` both load these, so both drain alike.

Shutdown (SIGTERM to the master, e.g. `docker stop`): each worker stops accepting, finishes
its requests, then `worker_exit` stops its scheduler host (a leader steps down and another
worker or host takes the lease) and gives its runs the rest of the grace period; runs still
going then are recorded as interrupted and re-queued for the next leader, and the worker exits
at once so they cannot finish behind that record.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app.config import parse_value

SHUTDOWN_MARGIN_S = 1.0  # kept back from the grace period for recording and re-queueing


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    """DUGOUT_<NAME> by the settings' one rule set (ConfigError naming it when bad)."""
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    return int(parse_value(name, raw, default))


# gunicorn's loggers through the app's JsonFormatter on stderr; the root keeps no handler of
# gunicorn's (the app's own configure_logging adds the one the app logs through).
LOGCONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "WARNING", "handlers": []},
    "formatters": {"json": {"()": "app.observability.logging.JsonFormatter"}},
    "handlers": {
        "json_stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {
        name: {"level": "INFO", "handlers": ["json_stderr"], "propagate": False, "qualname": name}
        for name in ("gunicorn.error", "gunicorn.access")
    },
}


def gunicorn_settings(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Every gunicorn setting Dugout uses (DUGOUT_BIND, _WORKERS, _THREADS, _WORKER_TIMEOUT,
    _GRACEFUL_TIMEOUT, _GUNICORN_CTL) with the hooks that drain runs at shutdown."""
    var_dir = Path(environ.get("DUGOUT_VAR_DIR", "./var"))
    return {
        "bind": environ.get("DUGOUT_BIND", "0.0.0.0:8050"),
        "workers": _int(environ, "DUGOUT_WORKERS", 2),
        "threads": _int(environ, "DUGOUT_THREADS", 8),
        "worker_class": "gthread",
        "timeout": _int(environ, "DUGOUT_WORKER_TIMEOUT", 60),
        "graceful_timeout": _int(environ, "DUGOUT_GRACEFUL_TIMEOUT", 30),
        # the scheduler host must start in each worker after fork, never in the master
        "preload_app": False,
        # long-lived workers: multiprocess metric files pile up with recycling
        "max_requests": 0,
        "accesslog": None,
        "logconfig_dict": LOGCONFIG,  # gunicorn's own lines as JSON, like the app's
        "control_socket": environ.get("DUGOUT_GUNICORN_CTL", str(var_dir / "gunicorn.ctl")),
        # wipe the multiprocess metrics directory at start and mark dead workers' files
        "on_starting": on_starting,
        "child_exit": child_exit,
        "post_worker_init": post_worker_init,
        "worker_exit": worker_exit,
    }


def on_starting(server: Any) -> None:
    """An empty multiprocess metrics directory for this deployment (imported here, late:
    prometheus_client picks its value class from PROMETHEUS_MULTIPROC_DIR at import)."""
    from app.observability import metrics

    metrics.on_starting(server)


def child_exit(server: Any, worker: Any) -> None:
    """Mark a dead worker's metric files so its live gauges stop counting."""
    from app.observability import metrics

    metrics.child_exit(server, worker)


def settle_heap() -> int:
    """Collect once, then move every object alive now (the imported modules, Dash's layouts
    and registries, the app: about 210 k objects) out of the collector's sight for good.

    A full collection otherwise walks all of them while holding the GIL, 100-450 ms on these
    machines, and one lands about every thirty requests: the requests it stops are the p95
    tail. Frozen objects are still freed by reference counting; only a cycle among them would
    stay. Returns how many objects are frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def post_worker_init(worker: Any) -> None:
    """Settle the loaded app's heap (settle_heap), and note when SIGTERM arrives, so
    worker_exit knows how much of the grace period is left."""
    settle_heap()
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        worker.dugout_term_at = getattr(worker, "dugout_term_at", None) or time.monotonic()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_term)


def worker_exit(server: Any, worker: Any) -> None:
    """Step down, drain runs within the grace period, re-queue the rest, then go."""
    app = getattr(worker, "wsgi", None)
    if app is None or "dugout.settings" not in getattr(app, "extensions", {}):
        return
    from scheduler import stop_scheduler

    started = getattr(worker, "dugout_term_at", None) or time.monotonic()
    left_s = started + server.cfg.graceful_timeout - time.monotonic() - SHUTDOWN_MARGIN_S
    requeued = stop_scheduler(app, timeout_s=max(0.5, left_s))
    if requeued:
        logging.shutdown()
        os._exit(0)  # the interrupted runs' threads must not write after their record
