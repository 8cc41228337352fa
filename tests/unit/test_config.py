"""Settings: defaults, environment, overrides, and the generated secret key."""

from __future__ import annotations

import stat

import pytest

from app.config import ConfigError, ensure_secret_key, load_settings


def test_defaults_are_the_embedded_sqlite(tmp_path) -> None:
    s = load_settings({"var_dir": str(tmp_path)}, environ={})
    assert (
        s.is_sqlite and s.resolved_database_url == f"sqlite:///{tmp_path.resolve()}/dugout.sqlite3"
    )
    assert s.source == "demo" and s.login_max_failures == 10 and s.login_window_s == 900


def test_environment_then_overrides() -> None:
    env = {
        "DUGOUT_LOGIN_MAX_FAILURES": "3",
        "DUGOUT_LOG_JSON": "false",
        "DUGOUT_DATABASE_URL": "postgresql://u@h/db",
    }
    s = load_settings({"login_max_failures": 5}, environ=env)
    assert s.login_max_failures == 5 and s.log_json is False
    assert s.resolved_database_url == "postgresql+psycopg://u@h/db" and not s.is_sqlite


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"DUGOUT_LOGIN_MAX_FAILURES": "many"}, "DUGOUT_LOGIN_MAX_FAILURES must be a number"),
        ({"DUGOUT_LOG_JSON": "perhaps"}, "DUGOUT_LOG_JSON must be true or false"),
        ({"DUGOUT_SOURCE": "bookie"}, "DUGOUT_SOURCE must be demo or odds_api"),
    ],
)
def test_bad_values_name_the_setting(env, needle) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_settings(environ=env)


def test_secret_key_generated_once_and_private(tmp_path) -> None:
    s = load_settings({"var_dir": str(tmp_path / "var")}, environ={})
    first = ensure_secret_key(s)
    assert len(first) >= 48 and ensure_secret_key(s) == first
    mode = stat.S_IMODE((tmp_path / "var" / "secret_key").stat().st_mode)
    assert mode == 0o600
    given = load_settings({"var_dir": str(tmp_path / "var"), "secret_key": "k" * 40}, environ={})
    assert ensure_secret_key(given) == "k" * 40
