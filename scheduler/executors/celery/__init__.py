"""Celery execution: `config` (knobs, queues, message format), `app` (the Celery app;
`celery -A scheduler.executors.celery.app worker`), `tasks` (the worker side) and `executor`
(the producer side, a TaskExecutor)."""
