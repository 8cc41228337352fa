"""`dugout serve` and the container's `gunicorn -c gunicorn.conf.py` read the same settings and
hooks; serve keeps a developer's defaults where the environment says nothing."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from app.cli import serve_settings
from app.config import ConfigError
from app.gunicorn_config import gunicorn_settings

REPO = Path(__file__).resolve().parents[2]
HOOKS = ("on_starting", "child_exit", "post_worker_init", "worker_exit")


def test_serve_honours_the_serving_variables_and_the_container_hooks(tmp_path) -> None:
    env = {
        "DUGOUT_BIND": "0.0.0.0:9000",
        "DUGOUT_WORKERS": "3",
        "DUGOUT_THREADS": "5",
        "DUGOUT_GRACEFUL_TIMEOUT": "12",
        "DUGOUT_WORKER_TIMEOUT": "40",
    }
    config = serve_settings(env, tmp_path, None, None, None, None)
    assert config == {
        **gunicorn_settings({**env, "DUGOUT_VAR_DIR": str(tmp_path)}),
        **{"control_socket": str(tmp_path.resolve() / "gunicorn.ctl")},
    }
    assert (config["bind"], config["workers"], config["threads"]) == ("0.0.0.0:9000", 3, 5)
    assert (config["graceful_timeout"], config["timeout"]) == (12, 40)
    assert all(callable(config[h]) for h in HOOKS) and config["preload_app"] is False


def test_serve_options_win_and_its_defaults_stay_local(tmp_path) -> None:
    assert serve_settings({}, tmp_path, None, None, None, None)["bind"] == "127.0.0.1:8050"
    assert serve_settings({}, tmp_path, None, None, None, None)["workers"] == 1
    env = {"DUGOUT_BIND": "0.0.0.0:9000", "DUGOUT_WORKERS": "3"}
    config = serve_settings(env, tmp_path, None, 9100, 2, 4)
    assert (config["bind"], config["workers"], config["threads"]) == ("0.0.0.0:9100", 2, 4)
    assert serve_settings(env, tmp_path, "127.0.0.1", None, None, None)["bind"] == (
        "127.0.0.1:9000"
    )


def test_a_bad_serving_variable_stops_the_start_naming_it(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"^DUGOUT_GRACEFUL_TIMEOUT must be a number, not 'soon'"):
        serve_settings({"DUGOUT_GRACEFUL_TIMEOUT": "soon"}, tmp_path, None, None, None, None)


def test_the_container_config_file_is_the_same_settings(monkeypatch) -> None:
    monkeypatch.setenv("DUGOUT_WORKERS", "4")
    conf = runpy.run_path(str(REPO / "gunicorn.conf.py"))
    assert conf["workers"] == 4
    assert {k: conf[k] for k in gunicorn_settings()} == gunicorn_settings()


def test_a_worker_settles_its_loaded_heap_out_of_the_collectors_walk() -> None:
    """post_worker_init freezes what the loaded app holds, so a full collection in a serving
    worker no longer walks the imported modules and the app (the p95 tail it caused)."""
    import gc
    import signal
    from types import SimpleNamespace

    from app.gunicorn_config import post_worker_init

    loaded = [{"held": "by the app"}]  # stands for what the worker loaded before its hook
    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert any(o is loaded for o in gc.get_objects())
        post_worker_init(SimpleNamespace())
        assert gc.get_freeze_count() > 0
        assert not any(o is loaded for o in gc.get_objects())  # out of every generation's walk
        young = [loaded]
        assert any(o is young for o in gc.get_objects())  # what comes after is collected as ever
    finally:
        gc.unfreeze()
        signal.signal(signal.SIGTERM, previous)
