"""The dispatcher's decisions with a scripted executor and a hand-moved clock: chains, retries
with backoff in the ledger, breaker, dependency skips, kill switch, throttling, duplicates."""

from __future__ import annotations

from datetime import timedelta

import pytest
from scheduler_fakes import ScriptedExecutor
from sqlalchemy import event, select

from app.models import PipelineRun
from scheduler.control import KillSwitch
from scheduler.dispatch import Dispatcher, DispatchOrder
from scheduler.resilience import BreakerBook, LoadSample, RetryPolicy, Throttle
from scheduler.schedule import DEFAULT_SCHEDULE, load_schedule, seed_schedule

TICK_OFFSET = timedelta(seconds=0)


class Later:
    """Records what the dispatcher asked to run later."""

    def __init__(self) -> None:
        self.orders: list[tuple[DispatchOrder, object]] = []

    def __call__(self, order: DispatchOrder, at: object) -> None:
        self.orders.append((order, at))

    def pop(self) -> tuple[DispatchOrder, object]:
        return self.orders.pop(0)


@pytest.fixture
def later() -> Later:
    return Later()


@pytest.fixture
def make(sessions, clock, later):
    seed_schedule(sessions, DEFAULT_SCHEDULE)
    load = {"sample": LoadSample(0, 0)}

    def factory(outcomes=None, *, max_runs=4, threshold=5, **kw) -> Dispatcher:
        executor = ScriptedExecutor(sessions, clock, outcomes)
        return Dispatcher(
            sessions=sessions,
            executor=executor,
            later=later,
            clock=clock,
            breakers=BreakerBook(sessions, threshold=threshold, cooldown_s=60, clock=clock),
            retry=RetryPolicy(max_retries=3, base_s=0.03, factor=2, jitter=0.0),
            throttle=Throttle(max_runs=max_runs, probe=lambda: load["sample"]),
            kill_switch=KillSwitch(sessions, clock),
            actor="scheduler:test",
            **kw,
        )

    factory.load = load  # type: ignore[attr-defined]
    return factory


def _runs(sessions, pipeline=None):
    with sessions() as s:
        q = select(PipelineRun).order_by(PipelineRun.created_at, PipelineRun.attempt)
        if pipeline:
            q = q.where(PipelineRun.pipeline == pipeline)
        return s.scalars(q).all()


def test_success_chains_downstream_for_the_same_tick(make, later, clock) -> None:
    d = make()
    tick = clock()
    outcome = d.run_tick("collection", tick)
    assert outcome.action == "ran" and outcome.status == "succeeded"
    order, at = later.pop()
    assert (order.job_id, order.tick, order.trigger, at) == ("analysis", tick, "dependency", tick)
    assert d.dispatch(order).action == "ran"
    order, _ = later.pop()
    assert order.job_id == "recommendations"
    d.dispatch(order)
    assert not later.orders
    rows = _runs(d.sessions)
    assert [(r.pipeline, r.scheduled_for) for r in rows] == [
        ("collection", tick),
        ("analysis", tick),
        ("recommendations", tick),
    ]


def test_second_dispatch_of_a_tick_is_a_suppressed_duplicate(make, clock) -> None:
    d = make()
    assert d.run_tick("grading", clock()).action == "ran"
    assert d.run_tick("grading", clock()).action == "duplicate"
    assert len(_runs(d.sessions, "grading")) == 1


def test_failure_retries_with_backoff_and_every_attempt_is_in_the_ledger(
    make, later, clock
) -> None:
    d = make({"collection": ["failed", "failed", "succeeded"]})
    tick = clock()
    first = d.run_tick("collection", tick)
    assert first.action == "retrying"
    retry, at = later.pop()
    assert (retry.attempt, retry.parent_run_id, at) == (
        2,
        str(first.run_id),
        tick + timedelta(seconds=0.03),
    )
    clock.advance(0.03)
    second = d.dispatch(retry)
    retry, at = later.pop()
    assert retry.attempt == 3 and at == clock() + timedelta(seconds=0.06)
    clock.advance(0.06)
    assert d.dispatch(retry).status == "succeeded"
    order, _ = later.pop()
    assert order.job_id == "analysis" and order.tick == tick  # the chain keeps the tick
    rows = _runs(d.sessions, "collection")
    assert [(r.attempt, r.status, r.trigger) for r in rows] == [
        (1, "failed", "schedule"),
        (2, "failed", "retry"),
        (3, "succeeded", "retry"),
    ]
    assert rows[0].scheduled_for == tick and rows[1].scheduled_for is None
    assert rows[1].parent_run_id == first.run_id and rows[2].parent_run_id == second.run_id


def test_final_failure_records_downstream_as_skipped_with_the_reason(make, later, clock) -> None:
    d = make({"collection": ["failed"] * 4})
    tick = clock()
    order = DispatchOrder("collection", "collection", tick, priority="critical")
    for attempt in range(1, 5):
        outcome = d.dispatch(order)
        if attempt < 4:
            order, _ = later.pop()
    assert outcome.action == "failed"
    assert not later.orders
    skipped = {r.pipeline: r for r in _runs(d.sessions) if r.status == "skipped"}
    assert set(skipped) == {"analysis", "recommendations"}
    assert skipped["analysis"].scheduled_for == tick
    assert "upstream collection failed after 4 attempts" in skipped["analysis"].summary["reason"]
    assert "upstream analysis skipped" in skipped["recommendations"].summary["reason"]


def test_skipped_upstream_skips_downstream(make, later, clock) -> None:
    d = make({"collection": ["skipped"]})
    d.run_tick("collection", clock())
    assert not later.orders
    reasons = {r.pipeline: r.summary.get("reason") for r in _runs(d.sessions)}
    assert reasons["analysis"] == "upstream collection skipped: stale input"


def test_breaker_opens_and_then_refuses_ticks(make, later, clock) -> None:
    d = make({"grading": ["failed"] * 10}, threshold=2)
    assert d.run_tick("grading", clock()).action == "retrying"
    retry, _ = later.pop()
    outcome = d.dispatch(retry)
    assert outcome.action == "failed"  # the breaker opened: no more retries
    assert not later.orders
    clock.advance(30)  # within the 60 s cooldown
    refused = d.run_tick("grading", clock())
    assert refused.action == "skipped" and "circuit breaker open" in refused.reason
    assert _runs(d.sessions, "grading")[-1].summary["reason"].startswith("circuit breaker open")


def test_kill_switch_blocks_ticks_and_records_why(make, clock, sessions) -> None:
    d = make()
    with sessions.begin() as s:
        KillSwitch(sessions, clock).set(s, True)
    outcome = d.run_tick("grading", clock())
    assert outcome.action == "skipped" and outcome.reason == "kill switch engaged"
    assert not d.executor.requests  # type: ignore[attr-defined]
    with sessions.begin() as s:
        KillSwitch(sessions, clock).set(s, False)
    clock.advance(900)
    assert d.run_tick("grading", clock()).action == "ran"


def test_the_lean_path_reads_one_row_query_and_writes_nothing_before_the_run(
    make, clock, sessions
) -> None:
    """With the host's schedule handed in, a tick costs one read (kill switch and breaker at
    once) before its run, and a closed breaker is not rewritten after a success; the kill
    switch is still read on every tick, so engaging it blocks the very next one."""
    specs = load_schedule(sessions)
    d = make(specs=lambda: specs)
    engine = sessions.kw["bind"]
    seen: list[str] = []
    listen = lambda conn, cursor, statement, *rest: seen.append(statement)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listen)
    try:
        assert d.run_tick("grading", clock()).action == "ran"  # first success: the row made
        seen.clear()
        clock.advance(900)
        assert d.run_tick("grading", clock()).action == "ran"
        opened = next(i for i, q in enumerate(seen) if "pipeline_runs" in q or "rollup_" in q)
        before_run = seen[:opened]  # the run's own writes (and the rollups it forgets) follow
        assert len(before_run) == 1 and "circuit_breakers" in before_run[0], before_run
        writes = [
            q
            for q in seen
            if q.lstrip().upper().startswith(("UPDATE CIRCUIT", "INSERT INTO CIRCUIT"))
        ]
        assert writes == []
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    with sessions.begin() as s:
        KillSwitch(sessions, clock).set(s, True)
    clock.advance(900)
    assert d.run_tick("grading", clock()).reason == "kill switch engaged"


def test_throttle_defers_low_priority_then_records_it(make, later, clock) -> None:
    d = make(max_runs=1, throttle_defer_s=15, throttle_max_deferrals=1)
    make.load["sample"] = LoadSample(cpu_pct=99, mem_pct=10)
    first = d.run_tick("grading", clock())
    assert first.action == "deferred" and "CPU at 99%" in first.reason
    order, at = later.pop()
    assert order.deferrals == 1 and at == clock() + timedelta(seconds=15)
    clock.advance(15)
    second = d.dispatch(order)
    assert second.action == "skipped" and second.reason.startswith("throttled: CPU")
    assert d.run_tick("collection", clock()).action == "ran"  # critical keeps its slots


def test_a_fenced_dispatcher_runs_nothing(make, clock) -> None:
    d = make(is_leader=lambda: False)
    assert d.run_tick("collection", clock()).action == "fenced"
    assert not _runs(d.sessions)


def test_order_round_trips_through_plain_data(clock) -> None:
    order = DispatchOrder("collection", "collection", clock(), "retry", 2, "abc", 1, "critical")
    assert DispatchOrder.from_dict(order.to_dict()) == order
    assert order.scheduled_for is None and order.key.startswith("order:collection:")


class Replaced:
    """A leader that loses its term while the run goes (it froze, the successor took over)."""

    def __init__(self) -> None:
        self.leading = True

    def __call__(self) -> bool:
        return self.leading


def _replaced_mid_run(d: Dispatcher, replaced: Replaced, *, raises: bool) -> None:
    run = d.executor._execute

    def execute(request):
        future = run(request)
        replaced.leading = False
        if raises:
            future = type(future)()
            future.set_exception(OSError("server closed the connection unexpectedly"))
        return future

    d.executor._execute = execute  # type: ignore[method-assign]


def test_a_leader_replaced_while_its_run_failed_leaves_the_tick_to_its_successor(
    make, later, clock, sessions
) -> None:
    replaced = Replaced()
    d = make(is_leader=replaced)
    _replaced_mid_run(d, replaced, raises=True)
    outcome = d.run_tick("collection", clock())
    assert outcome.action == "fenced" and outcome.run_id is not None
    assert later.orders == []  # no retry: the successor declared the run lost and retries it
    assert d.breakers.state("collection") == ("closed", 0)  # and no failure counted


def test_a_leader_replaced_while_its_run_succeeded_chains_nothing(make, later, clock) -> None:
    replaced = Replaced()
    d = make(is_leader=replaced)
    _replaced_mid_run(d, replaced, raises=False)
    assert d.run_tick("collection", clock()).action == "fenced"
    assert later.orders == []  # the successor's chain reconciliation follows the tick up


def test_a_replaced_leaders_skip_row_is_refused(make, clock, sessions) -> None:
    from app.models import SchedulerLease

    with sessions.begin() as s:
        s.add(SchedulerLease(name="scheduler", holder="successor", epoch=2))
    d = make(leader_epoch=lambda: 1)
    with sessions.begin() as s:
        KillSwitch(sessions, clock).set(s, True)
    outcome = d.run_tick("collection", clock())
    assert outcome.action == "fenced" and "epoch 1 is over" in outcome.reason
    assert not _runs(sessions)  # the tick is still free for the successor


def test_a_retry_of_a_run_that_never_opened_keeps_the_tick_key(make, later, clock) -> None:
    d = make()

    def refuse(request):
        raise ConnectionError("the database refused the connection")

    d.executor._execute = refuse  # type: ignore[method-assign]
    tick = clock()
    assert d.run_tick("collection", tick).action == "retrying"
    retry, _ = later.pop()
    assert retry.attempt == 2 and retry.parent_run_id is None
    assert retry.scheduled_for == tick  # so it cannot run beside another run of the tick
