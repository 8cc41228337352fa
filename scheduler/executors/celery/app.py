"""The Celery application: Redis broker and result backend, queues `critical` and `default`.

Start a worker with `dugout worker --celery`, or the same thing by hand:

    celery -A scheduler.executors.celery.app worker -Q critical,default --concurrency 2 -O fair

Both producer (the web server, `dugout scheduler`) and worker build their app with
`make_celery(settings)`; `celery -A scheduler.executors.celery.app` finds the module-level
`app`, made lazily from the DUGOUT_* environment the first time it is asked for. The message
format and the knobs are in scheduler/executors/celery/config.py.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Exchange, Queue

from app.config import Settings, load_settings
from scheduler.executors.celery.config import QUEUES, CeleryConfig
from scheduler.executors.celery.tasks import prepare_worker_process, register_tasks


def make_celery(settings: Settings, config: CeleryConfig | None = None) -> Celery:
    """A Celery app on settings.redis_url with Dugout's queues, limits and delivery rules."""
    config = config or CeleryConfig.from_settings(settings)
    url = settings.redis_url
    app = Celery("dugout", broker=url, backend=url)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_queues=[
            Queue(name, Exchange(name, type="direct"), routing_key=name) for name in QUEUES
        ],
        task_default_queue="default",
        task_acks_late=True,  # acknowledged when the run ended, not when it was received
        task_reject_on_worker_lost=True,  # a killed worker process puts its task back
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,  # one run reserved per process: no hoarding
        worker_cancel_long_running_tasks_on_connection_loss=True,
        task_track_started=True,
        task_soft_time_limit=config.soft_time_limit_s,
        task_time_limit=config.time_limit_s,
        result_expires=int(config.result_expires_s),
        result_extended=True,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=config.connect_timeout_s,
        broker_transport_options={
            "visibility_timeout": config.visibility_timeout_s,
            "unacked_restore_interval": config.restore_interval_s,
            "unacked_restore_throttle": 1,
            "socket_connect_timeout": config.connect_timeout_s,
            "socket_keepalive": True,
        },
        redis_socket_connect_timeout=config.connect_timeout_s,
        redis_socket_timeout=max(5.0, config.connect_timeout_s),
        redis_retry_on_timeout=True,
        # send_task subscribes to the result at once; a dead Redis must fail it fast, not in 20 s
        result_backend_transport_options={
            "retry_policy": {
                "max_retries": config.publish_retries,
                "interval_start": 0,
                "interval_step": 0.2,
                "interval_max": 0.5,
            }
        },
        task_publish_retry=True,
        task_publish_retry_policy={
            "max_retries": config.publish_retries,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        dugout_config=config,
    )
    register_tasks(app)
    return app


def __getattr__(name: str) -> Any:
    """`celery -A scheduler.executors.celery.app` asks for `app` (or `celery`): built on first access."""
    if name not in {"app", "celery"}:
        raise AttributeError(name)
    if "_app" not in globals():
        prepare_worker_process()
        globals()["_app"] = make_celery(load_settings())
    return globals()["_app"]
