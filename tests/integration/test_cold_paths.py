"""A freshly started process pays its one-time reads at start-up, not in the first request: the
migration head the health checks compare with is read by the factory (about 300 ms of loading
every migration script on this machine)."""

from __future__ import annotations

from app.migrate import head_revision


def test_the_first_health_check_finds_the_migration_head_already_read(make_app) -> None:
    head_revision.cache_clear()  # as in a new process
    make_app()
    assert head_revision.cache_info().currsize == 1
