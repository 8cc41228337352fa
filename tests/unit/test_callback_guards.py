"""The start-up check that every callback of a privileged page is a guarded callback."""

from __future__ import annotations

from typing import Any

from app.dashboard import unguarded_callbacks

PAGES = [
    {"module": "pages.overview", "min_role": "viewer"},
    {"module": "pages.admin", "min_role": "operator"},
    {"module": "pages.accounts", "min_role": "admin"},
]


def _fn(module: str, guard: str | None = None) -> Any:
    def callback() -> None:
        """A stand-in callback."""

    callback.__module__ = module
    if guard is not None:
        callback.required_role = guard  # type: ignore[attr-defined]
    return callback


def test_guarded_callbacks_of_privileged_pages_pass() -> None:
    callbacks = {
        "a": {"callback": _fn("pages.overview")},  # a viewer page needs no guard
        "b": {"callback": _fn("pages.admin", "operator")},
        "c": {"callback": _fn("pages.admin", "admin")},  # stricter than the page is fine
        "d": {"callback": _fn("pages.accounts", "admin")},
        "e": {"callback": _fn("app.dashboard")},  # not a page's callback
        "f": {},
    }
    assert unguarded_callbacks(callbacks, PAGES) == []


def test_a_missing_or_weaker_guard_is_named() -> None:
    callbacks = {
        "plain": {"callback": _fn("pages.admin")},
        "weak": {"callback": _fn("pages.accounts", "operator")},
    }
    weak = unguarded_callbacks(callbacks, PAGES)
    assert len(weak) == 2
    assert "pages.admin.callback (plain)" in weak[0] and "(weak)" in weak[1]
