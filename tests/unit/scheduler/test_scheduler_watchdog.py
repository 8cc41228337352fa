"""The supervisor with stand-in APScheduler services and a hand-moved monotonic clock: restart
on a stalled loop, fallback to the DB queue after 3 restarts in 10 minutes, and the way back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from scheduler_fakes import ScriptedExecutor

from scheduler.alerts import FALLBACK, WATCHDOG, AlertBook
from scheduler.config import SchedulerConfig
from scheduler.control import KillSwitch
from scheduler.dispatch import Dispatcher, DispatchOrder
from scheduler.queue import DbQueue
from scheduler.resilience import BreakerBook, LoadSample, RetryPolicy, Throttle
from scheduler.schedule import JobSpec, load_schedule, seed_schedule
from scheduler.watchdog import RestartBudget, Supervisor


class FakeService:
    """Stands in for SchedulerService; the test sets `problem` to make its loop look dead."""

    def __init__(self, monotonic, fail_start: bool = False) -> None:
        self.problem: str | None = None
        self.started_at = monotonic()
        self.fail_start = fail_start
        self.orders: list = []
        self.stopped = False
        self.paused_all = None

    def start(self, specs, *, all_paused=False, first_runs=None):
        if self.fail_start:
            raise RuntimeError("job store unreachable")
        self.paused_all = all_paused

    def loop_problem(self):
        return self.problem

    def shutdown(self, timeout_s=60.0):
        self.stopped = True
        return True

    def schedule_order(self, order, at):
        self.orders.append((order, at))


@pytest.fixture
def world(sessions, clock, monotonic, var_dir):
    seed_schedule(
        sessions,
        [JobSpec("collection", "collection", 60, "critical"), JobSpec("grading", "grading", 900)],
    )
    executor = ScriptedExecutor(sessions, clock)
    queue = DbQueue(sessions, lock_dir=var_dir, clock=clock)
    dispatcher = Dispatcher(
        sessions=sessions,
        executor=executor,
        later=lambda o, at: None,
        clock=clock,
        breakers=BreakerBook(sessions, clock=clock),
        retry=RetryPolicy(),
        throttle=Throttle(probe=lambda: LoadSample(0, 0)),
        kill_switch=KillSwitch(sessions),
        actor="scheduler:test",
    )
    services: list[FakeService] = []
    failing = {"start": False}

    def make_service():
        services.append(FakeService(monotonic, failing["start"]))
        return services[-1]

    config = SchedulerConfig(
        restart_limit=3,
        restart_window_s=600,
        fallback_probe_s=60,
        loop_interval_s=5,
        queue_poll_s=0.05,
    )
    sup = Supervisor(
        make_service=make_service,
        dispatcher=dispatcher,
        specs=lambda: load_schedule(sessions),
        queue=queue,
        kill_switch=KillSwitch(sessions),
        alerts=AlertBook(sessions, clock),
        config=config,
        name="test",
        monotonic=monotonic,
    )
    yield sup, services, queue, failing
    sup.stop()
    executor.shutdown()


def test_a_stalled_loop_is_restarted_with_an_alert(world, sessions) -> None:
    sup, services, _, _ = world
    sup.start()
    assert sup.mode == "scheduler" and len(services) == 1
    sup.check()
    assert len(services) == 1
    services[0].problem = "the APScheduler loop thread has died"
    sup.check()
    assert services[0].stopped and len(services) == 2 and sup.service is services[1]
    assert sup.restarts.count() == 1
    assert AlertBook(sessions).firing(WATCHDOG)


def test_three_restarts_in_ten_minutes_fall_back_to_the_queue_and_come_back(
    world, sessions, clock, monotonic
) -> None:
    sup, services, queue, _ = world
    sup.start()
    for _ in range(3):
        services[-1].problem = "stalled"
        sup.check()
        monotonic.advance(60)
    assert sup.mode == "scheduler" and sup.restarts.count() == 3
    services[-1].problem = "stalled"
    sup.check()
    assert sup.mode == "fallback" and sup.service is None
    assert AlertBook(sessions).firing(FALLBACK)
    # critical jobs' due ticks go to the queue once each; grading (default) waits
    clock.now = clock.now.replace(second=30)
    sup.tick(clock())
    sup.tick(clock())
    clock.advance(60)
    sup.tick(clock())
    # one count of every row: the fallback worker may claim one between two separate reads
    assert _enqueued(queue) == 2
    # orders scheduled for later go to the queue as well while APScheduler is out
    sup.later(DispatchOrder("grading", "grading", clock()), clock() + timedelta(seconds=5))
    # probe: a fresh APScheduler after fallback_probe_s, trusted after two loop intervals
    sup.check()
    assert sup.service is None
    monotonic.advance(60)
    sup.check()
    assert sup.mode == "fallback" and len(services) == 5
    monotonic.advance(10)
    sup.check()
    assert sup.mode == "scheduler" and sup.restarts.count() == 0
    assert not AlertBook(sessions).firing(FALLBACK)


def _enqueued(queue: DbQueue) -> int:
    """Jobs ever enqueued, queued or already claimed by the fallback worker, in one read."""
    from sqlalchemy import func, select

    from app.models import QueuedJob

    with queue.sessions() as s:
        return s.scalar(select(func.count()).select_from(QueuedJob)) or 0


def test_restarts_outside_the_window_do_not_count(monotonic) -> None:
    budget = RestartBudget(3, 600, monotonic)
    for _ in range(3):
        budget.record()
        monotonic.advance(250)
    assert budget.count() == 2 and not budget.exhausted()


def test_a_scheduler_that_will_not_start_means_fallback(world) -> None:
    sup, _, _, failing = world
    failing["start"] = True
    sup.start()
    assert sup.mode == "fallback"


def test_later_uses_apscheduler_while_it_runs(world, clock) -> None:
    sup, services, queue, _ = world
    sup.start()
    order = DispatchOrder("grading", "grading", clock())
    sup.later(order, clock())
    assert services[0].orders == [(order, clock())] and queue.depth() == 0


def test_kill_switch_start_declares_everything_paused(world, sessions) -> None:
    sup, services, _, _ = world
    with sessions.begin() as s:
        KillSwitch(sessions).set(s, True)
    sup.start()
    assert services[0].paused_all is True
