"""The SQLite leader lock (flock + lease row) and the DB queue's claim-once on SQLite."""

from __future__ import annotations

import threading
from datetime import timedelta

from app.models import SchedulerLease
from scheduler.dispatch import DispatchOrder
from scheduler.leader import FileLeaderLock, advisory_key
from scheduler.queue import DbQueue


def _lock(var_dir, sessions, clock, name):
    return FileLeaderLock(var_dir / "scheduler.lock", sessions, name, lease_ttl_s=10, clock=clock)


def test_one_leader_at_a_time_and_each_term_bumps_the_epoch(var_dir, sessions, clock) -> None:
    a, b = _lock(var_dir, sessions, clock, "a"), _lock(var_dir, sessions, clock, "b")
    assert a.try_acquire() and a.epoch == 1
    assert not b.try_acquire()
    clock.advance(2)
    assert a.heartbeat()
    with sessions() as s:
        lease = s.get(SchedulerLease, "scheduler")
        assert (lease.holder, lease.epoch) == ("a", 1)
        assert lease.expires_at == clock() + timedelta(seconds=10)
    a.release()
    assert b.try_acquire() and b.epoch == 2
    assert not a.heartbeat()
    b.release()
    with sessions() as s:
        assert s.get(SchedulerLease, "scheduler").holder is None


def test_a_newer_epoch_fences_the_old_leader(var_dir, sessions, clock) -> None:
    a = _lock(var_dir, sessions, clock, "a")
    assert a.try_acquire()
    with sessions.begin() as s:  # another host took the lease (e.g. after a frozen flock holder)
        lease = s.get(SchedulerLease, "scheduler")
        lease.holder, lease.epoch = "b", lease.epoch + 1
    assert not a.heartbeat()
    b = _lock(var_dir, sessions, clock, "b")
    assert b.try_acquire()  # the fenced leader let go of the file lock too
    assert b.previous_holder == "b" and b.epoch == 3
    b.release()


def test_advisory_key_is_stable_and_64_bit() -> None:
    assert advisory_key("scheduler") == advisory_key("scheduler") != advisory_key("other")
    assert -(2**63) <= advisory_key("scheduler") < 2**63


def test_each_queued_job_is_claimed_once_across_claimers(var_dir, sessions, clock) -> None:
    queue = DbQueue(sessions, lock_dir=var_dir, clock=clock)
    ids = {queue.enqueue("grading", {"n": n}) for n in range(40)}
    claimed: list = []
    guard = threading.Lock()

    def claimer(name: str) -> None:
        q = DbQueue(sessions, lock_dir=var_dir, clock=clock)
        while (job := q.claim(name)) is not None:
            with guard:
                claimed.append(job.id)
            q.finish(job.id, "done")

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(ids)
    assert queue.depth() == 0


def test_claim_order_and_not_before(var_dir, sessions, clock) -> None:
    queue = DbQueue(sessions, lock_dir=var_dir, clock=clock)
    low = queue.enqueue("grading", {})
    clock.advance(1)
    order = DispatchOrder("collection", "collection", clock(), priority="critical")
    later = queue.enqueue_order(order, clock() + timedelta(seconds=30))
    clock.advance(1)
    urgent = queue.enqueue_order(order, clock())
    assert queue.claim("w").id == urgent  # critical first
    assert queue.claim("w").id == low  # the other critical one is not due yet
    assert queue.claim("w") is None
    clock.advance(30)
    job = queue.claim("w")
    assert job.id == later and DispatchOrder.from_dict(job.params["order"]) == order
