"""gunicorn settings for Dugout, from the environment; see README "Production notes".

Shutdown (SIGTERM to the master, e.g. `docker stop`): each worker stops accepting, finishes
its requests, then `worker_exit` stops its scheduler host (a leader steps down and another
worker or host takes the lease) and gives its runs the rest of the grace period; runs still
going then are recorded as interrupted and re-queued for the next leader, and the worker exits
at once so they cannot finish behind that record.
"""

import logging
import os
import signal
import time
from pathlib import Path

bind = os.environ.get("DUGOUT_BIND", "0.0.0.0:8050")
workers = int(os.environ.get("DUGOUT_WORKERS", "2"))
threads = int(os.environ.get("DUGOUT_THREADS", "8"))
worker_class = "gthread"
timeout = int(os.environ.get("DUGOUT_WORKER_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("DUGOUT_GRACEFUL_TIMEOUT", "30"))
preload_app = False  # the scheduler host must start in each worker after fork, never the master
max_requests = 0  # long-lived workers: multiprocess metric files pile up with recycling
accesslog = None
control_socket = os.environ.get(
    "DUGOUT_GUNICORN_CTL", str(Path(os.environ.get("DUGOUT_VAR_DIR", "./var")) / "gunicorn.ctl")
)
# Wipe the multiprocess metrics directory at start and mark dead workers' files.
from app.observability.metrics import child_exit, on_starting  # noqa: E402, F401

SHUTDOWN_MARGIN_S = 1.0  # kept back from the grace period for recording and re-queueing


def post_worker_init(worker):
    """Note when SIGTERM arrives, so worker_exit knows how much of the grace period is left."""
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):
        worker.dugout_term_at = getattr(worker, "dugout_term_at", None) or time.monotonic()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_term)


def worker_exit(server, worker):
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
