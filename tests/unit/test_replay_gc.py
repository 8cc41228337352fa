"""The replay's garbage-collection thresholds: raised while it runs, the process's own after."""

from __future__ import annotations

import gc

import pytest

from app.pipelines.seeding import REPLAY_GC_YOUNG, replay_gc


@pytest.fixture(autouse=True)
def _keep_thresholds():
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_the_young_threshold_is_raised_during_a_replay_and_restored_after() -> None:
    gc.set_threshold(700, 11, 12)
    with replay_gc():
        assert gc.get_threshold() == (REPLAY_GC_YOUNG, 11, 12)
    assert gc.get_threshold() == (700, 11, 12)


def test_a_replay_that_fails_still_restores_the_thresholds() -> None:
    gc.set_threshold(900, 10, 10)
    with pytest.raises(RuntimeError), replay_gc(young=12_345):
        assert gc.get_threshold() == (12_345, 10, 10)
        raise RuntimeError("the replay failed")
    assert gc.get_threshold() == (900, 10, 10)
