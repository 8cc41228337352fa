"""Dugout's domain words, defined once: pipelines, stages, run triggers and statuses, roles and
audit outcomes. StrEnums, so a member is the very string stored in the database and shown on a
page; models, CLI choices, page filters and metrics labels all read these."""

from __future__ import annotations

from enum import StrEnum


class Pipeline(StrEnum):
    """A pipeline a run can belong to."""

    COLLECTION = "collection"
    ANALYSIS = "analysis"
    RECOMMENDATIONS = "recommendations"
    GRADING = "grading"
    FULL = "full"


class Stage(StrEnum):
    """A stage of a pipeline, in the order a full run goes through them."""

    COLLECT = "collect"
    ANALYZE = "analyze"
    RECOMMEND = "recommend"
    GRADE = "grade"


# Which stages each pipeline runs, in order.
PIPELINE_STAGES: dict[Pipeline, tuple[Stage, ...]] = {
    Pipeline.COLLECTION: (Stage.COLLECT,),
    Pipeline.ANALYSIS: (Stage.ANALYZE,),
    Pipeline.RECOMMENDATIONS: (Stage.RECOMMEND,),
    Pipeline.GRADING: (Stage.GRADE,),
    Pipeline.FULL: (Stage.COLLECT, Stage.ANALYZE, Stage.RECOMMEND, Stage.GRADE),
}


class Trigger(StrEnum):
    """Why a run exists: every value some writer of the ledger stores."""

    SCHEDULE = "schedule"  # the scheduler's tick
    DEPENDENCY = "dependency"  # chained after its upstream job for the same tick
    FALLBACK = "fallback"  # a due tick the watchdog sent through the database queue
    RETRY = "retry"  # every attempt after the first
    MANUAL = "manual"  # an operator's run-now (page, API, command channel)
    CLI = "cli"  # `dugout run` in a terminal
    QUEUE = "queue"  # claimed from the database queue without a trigger of its own
    SEED = "seed"  # `dugout demo seed` replaying history


# Triggers of runs that may belong to a scheduler tick: its own (scheduled_for) or, for a
# retry, its first attempt's.
TICK_TRIGGERS: tuple[Trigger, ...] = (
    Trigger.SCHEDULE,
    Trigger.DEPENDENCY,
    Trigger.FALLBACK,
    Trigger.RETRY,
)


class RunStatus(StrEnum):
    """Where a run (or a stage) is: queued or running, then one of the ends."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PARTIAL = "partial"  # finished, with some sources or strategies failed
    SKIPPED = "skipped"  # nothing to do, or held back (breaker, kill switch, upstream)
    INTERRUPTED = "interrupted"  # its process stopped or died before it finished


# Runs that ran to an end of their own (skipped and interrupted runs did not).
FINISHED_STATUSES: tuple[RunStatus, ...] = (
    RunStatus.SUCCEEDED,
    RunStatus.FAILED,
    RunStatus.PARTIAL,
)


class Role(StrEnum):
    """A person's role; each includes what the one before it may do."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"


class AuditOutcome(StrEnum):
    """The outcome of an audit record: the same words on the pages, the CLI and break-glass."""

    REQUESTED = "requested"  # asked for and about to happen: no record, no action
    SUCCEEDED = "succeeded"  # done
    FAILED = "failed"  # attempted and it did not work (a wrong password, a run that failed)
    REFUSED = "refused"  # not done: the request itself was not acceptable (bad input, no reason)
    DENIED = "denied"  # not done: the caller may not do this (login, role, kill switch)
    EXPIRED = "expired"  # not done: asked for, but nothing applied it in time (no leader)
