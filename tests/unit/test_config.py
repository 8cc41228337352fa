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


def _scheduler(env: dict[str, str]) -> object:
    from scheduler.config import SchedulerConfig

    return SchedulerConfig.from_settings(None, environ=env)


def _celery(env: dict[str, str]) -> object:
    from scheduler.executors.celery.config import CeleryConfig

    return CeleryConfig.from_settings(None, environ=env)


def _strategies(env: dict[str, str]) -> object:
    from app.pipelines.build import strategy_config_from_env

    return strategy_config_from_env(env)


def _observability(env: dict[str, str]) -> object:
    from app.config import env_value

    name = next(iter(env))
    default = True if name == "DUGOUT_TRACING_ENABLED" else 60.0
    return env_value(name.removeprefix("DUGOUT_").lower(), default, environ=env)


@pytest.mark.parametrize(
    ("load", "variable", "raw", "needle"),
    [
        (_scheduler, "DUGOUT_SCHEDULER_HEARTBEAT_S", "fast", "must be a number"),
        (_scheduler, "DUGOUT_SCHEDULER_RETRY_MAX", "3.5", "must be a number"),
        (_celery, "DUGOUT_CELERY_TIME_LIMIT_S", "long", "must be a number"),
        (_strategies, "DUGOUT_STRATEGY_STEAM_WINDOW", "5m", "must be a number of seconds"),
        (_strategies, "DUGOUT_STRATEGY_EV_MIN_BOOKS", "three", "must be a number"),
        (_observability, "DUGOUT_TRACING_ENABLED", "maybe", "must be true or false"),
        (_observability, "DUGOUT_DB_IDLE_IN_TRANSACTION_TIMEOUT_S", "soon", "must be a number"),
    ],
)
def test_every_settings_family_reads_by_one_rule_set(load, variable, raw, needle) -> None:
    """Scheduler, Celery, strategy and observability variables: a bad value stops with the
    variable's name, never a bare ValueError and never a silent False."""
    with pytest.raises(ConfigError, match=f"^{variable} {needle}"):
        load({variable: raw})


@pytest.mark.parametrize("raw", ["yes", "On", " TRUE ", "1"])
def test_booleans_read_alike_everywhere(raw: str) -> None:
    from app.config import env_value

    assert load_settings(environ={"DUGOUT_LOG_JSON": raw}).log_json is True
    assert env_value("tracing_enabled", False, environ={"DUGOUT_TRACING_ENABLED": raw}) is True


def test_durations_and_lists_parse_by_the_same_rules() -> None:
    from datetime import timedelta

    strategies = _strategies({"DUGOUT_STRATEGY_STEAM_WINDOW": "90"})
    assert strategies.steam_window == timedelta(seconds=90)  # type: ignore[attr-defined]
    scheduler = _scheduler({"DUGOUT_SCHEDULER_RUN_HEARTBEAT_S": "2"})
    assert scheduler.run_heartbeat_s == 2.0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("DUGOUT_SCHEDULER_LEASE_TTL_S", "ten"),
        ("DUGOUT_CELERY_SOFT_TIME_LIMIT_S", "5m"),
        ("DUGOUT_STRATEGY_ARB_MIN_PROFIT", "half"),
        ("DUGOUT_ALERT_QUEUE_SIZE", "big"),
        ("DUGOUT_TRACING_ENABLED", "perhaps"),
    ],
)
@pytest.mark.parametrize(
    "command", [["serve"], ["run", "collection"], ["scheduler"], ["users", "list"]]
)
def test_a_bad_value_stops_every_command_with_one_line_naming_it(
    tmp_path, variable: str, raw: str, command: list[str]
) -> None:
    from click.testing import CliRunner

    from app.cli import main

    env = {"DUGOUT_VAR_DIR": str(tmp_path / "var"), variable: raw}
    result = CliRunner().invoke(main, command, env=env)
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines() == [f"Error: {variable} {_must(variable)} {raw!r}"]
    assert not (tmp_path / "var" / "dugout.sqlite3").exists()  # stopped before anything ran


def _must(variable: str) -> str:
    return "must be true or false, not" if variable.endswith("ENABLED") else "must be a number, not"


@pytest.mark.parametrize(
    ("variable", "raw"), [("DUGOUT_WORKERS", "two"), ("DUGOUT_SCHEDULER_HEARTBEAT_S", "soon")]
)
def test_gunicorn_started_from_its_config_file_stops_on_a_bad_value_naming_it(
    tmp_path, variable: str, raw: str
) -> None:
    """The container's command (gunicorn -c gunicorn.conf.py) reads settings by the same rules
    and stops in the master, before a worker forks, with one line."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    gunicorn = Path(sys.executable).with_name("gunicorn")
    env = {**os.environ, "DUGOUT_VAR_DIR": str(tmp_path / "var"), variable: raw}
    env["PYTHONPATH"] = str(root)
    done = subprocess.run(
        [str(gunicorn), "-c", str(root / "gunicorn.conf.py"), "app:create_app()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"Error: {variable} must be a number, not {raw!r}"]


def test_dugout_serve_stops_on_a_bad_serving_variable_with_one_line(tmp_path) -> None:
    from click.testing import CliRunner

    from app.cli import main

    env = {"DUGOUT_VAR_DIR": str(tmp_path / "var"), "DUGOUT_THREADS": "many"}
    result = CliRunner().invoke(main, ["serve"], env=env)
    assert result.exit_code == 1
    assert (
        result.output.strip().splitlines()[-1]
        == "Error: DUGOUT_THREADS must be a number, not 'many'"
    )


def test_dugout_config_prints_every_family_effective_with_secrets_masked(tmp_path) -> None:
    import json

    from click.testing import CliRunner

    from app.cli import main

    env = {
        "DUGOUT_VAR_DIR": str(tmp_path / "var"),
        "DUGOUT_ODDS_API_KEY": "k-3f9a1c77e0",
        "DUGOUT_DATABASE_URL": "postgresql://dugout:pw-91b2c3@db.internal:5432/dugout",
        "DUGOUT_METRICS_TOKEN": "tok-55aa",
        "DUGOUT_SCHEDULER_LEASE_TTL_S": "12",
        "DUGOUT_STRATEGY_STEAM_WINDOW": "420",
        "DUGOUT_TRACING_ENABLED": "off",
    }
    text = CliRunner().invoke(main, ["config"], env=env)
    assert text.exit_code == 0, text.output
    for secret in ("k-3f9a1c77e0", "pw-91b2c3", "tok-55aa"):
        assert secret not in text.output
    assert "DUGOUT_SCHEDULER_LEASE_TTL_S" in text.output and "[celery]" in text.output
    done = CliRunner().invoke(main, ["config", "--json"], env=env)
    config = json.loads(done.output)
    assert config["app"]["odds_api_key"] == "****" and config["app"]["admin_password"] == ""
    assert config["app"]["database_url"] == "postgresql://dugout:****@db.internal:5432/dugout"
    assert config["scheduler"]["lease_ttl_s"] == 12.0
    assert config["strategies"]["steam_window"] == 420.0
    assert config["observability"]["tracing_enabled"] is False
    assert config["celery"]["time_limit_s"] == 360.0  # a default, shown as in effect
    bad = CliRunner().invoke(main, ["config"], env={**env, "DUGOUT_CELERY_EXPIRES_S": "x"})
    assert bad.exit_code == 1 and "DUGOUT_CELERY_EXPIRES_S must be a number" in bad.output
