"""One Settings object: embedded defaults, then DUGOUT_* environment variables, then a mapping."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ENV_PREFIX = "DUGOUT_"


class ConfigError(ValueError):
    """A setting has a value Dugout cannot use; the message names the setting."""


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def parse_value(variable: str, raw: Any, default: Any) -> Any:
    """`raw` (a variable's text, or a value from code) as the type of `default`: the one rule
    set every DUGOUT_* variable is read with. Booleans are true/false, yes/no, on/off or 1/0;
    numbers are numbers; tuples of seconds come as "0.05,0.1"; durations (timedelta) in
    seconds. Anything else raises ConfigError naming `variable`."""
    if not isinstance(raw, str):
        if isinstance(default, tuple):
            return tuple(float(x) for x in raw)
        if isinstance(default, timedelta) and isinstance(raw, int | float):
            return timedelta(seconds=float(raw))
        return raw
    text = raw.strip()
    if isinstance(default, bool):
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ConfigError(f"{variable} must be true or false, not {raw!r}")
    try:
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, timedelta):
            return timedelta(seconds=float(text))
        if isinstance(default, tuple):
            return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError as exc:
        what = "a comma list of numbers" if isinstance(default, tuple) else "a number"
        if isinstance(default, timedelta):
            what = "a number of seconds"
        raise ConfigError(f"{variable} must be {what}, not {raw!r}") from exc
    return raw


def env_value(name: str, default: Any, environ: Mapping[str, str] | None = None) -> Any:
    """DUGOUT_<NAME> from the environment parsed by the one rule set, else `default`."""
    env = os.environ if environ is None else environ
    variable = f"{ENV_PREFIX}{name.upper()}"
    raw = env.get(variable)
    return default if raw is None else parse_value(variable, raw, default)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable about one Dugout instance."""

    var_dir: Path = Path("./var")
    database_url: str = ""  # empty: SQLite file under var_dir
    secret_key: str = ""  # empty: generated once and kept in var_dir/secret_key
    source: str = "demo"  # demo | odds_api
    demo_seed: int = 42
    demo_hours: str = "rolling"  # rolling (games around the clock) | mlb (MLB's hours)
    demo_seed_hours: float = 24.0  # history an empty embedded demo replays at its first start
    odds_api_key: str = ""
    odds_api_base_url: str = "https://api.the-odds-api.com"
    statsapi_base_url: str = "https://statsapi.mlb.com"
    source_timeout_s: float = 10.0
    splits_source: str = ""  # a path or http(s) URL of a splits feed (JSON or CSV); "" none
    splits_format: str = "auto"  # auto | json | csv
    odds_api_monthly_credits: int = 20_000  # the plan's credits per month
    odds_api_reserve_credits: int = 1_000  # never spent by the quota plan
    odds_api_reset_day: int = 1  # day of the month (UTC) the quota resets
    bankroll_units: float = 100.0
    executor: str = "local"  # local | celery
    redis_url: str = "redis://127.0.0.1:6379/0"
    metrics_token: str = ""
    admin_password: str = ""
    audit_key: str = ""  # empty: derived from the secret key (never stored in the database)
    audit_checkpoint_path: str = ""  # empty: var_dir/audit-checkpoints.jsonl
    login_max_failures: int = 10
    login_window_s: int = 15 * 60
    login_address_max_failures: int = 20  # per client address, across accounts
    login_delay_base_s: float = 1.0  # the first slow-down; each further failure doubles it
    login_delay_max_s: float = 15 * 60.0
    session_lifetime_s: int = 12 * 3600
    session_idle_timeout_s: int = 60 * 60  # a session unused this long ends
    session_cookie_secure: bool = False  # force Secure (and the __Host- prefix) behind TLS
    trusted_proxies: int = 0  # how many proxies' X-Forwarded-* headers to believe
    allowed_hosts: str = ""  # comma-separated Host names; empty: any
    max_content_length: int = 256 * 1024  # bytes of request body; Dash callbacks send a few KB
    log_level: str = "INFO"
    log_json: bool = True
    scheduler_enabled: bool = True
    rollup_keeper: bool = True  # keep rollups current from a thread of every server process
    refresh_interval_s: int = 15
    display_tz: str = "America/New_York"  # the pages' time zone until a user picks one
    run_log_level: str = "INFO"  # the lowest level of a run's lines kept for its page
    run_log_max_lines: int = 1000  # lines kept per run (later ones dropped, and said so)
    run_log_retention_days: int = 14  # run log lines older than this are pruned
    trace_url_template: str = ""  # e.g. http://jaeger:16686/trace/{trace_id}; "" no link
    testing: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def sqlite_path(self) -> Path:
        """Where the embedded SQLite database lives."""
        return self.var_dir / "dugout.sqlite3"

    @property
    def resolved_database_url(self) -> str:
        """The database URL in use: the configured one or the embedded SQLite file."""
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite:///{self.sqlite_path.resolve()}"

    @property
    def allowed_host_list(self) -> list[str]:
        """DUGOUT_ALLOWED_HOSTS as a list (empty: any host)."""
        return [h.strip() for h in self.allowed_hosts.split(",") if h.strip()]

    @property
    def is_sqlite(self) -> bool:
        """True when the database is SQLite (embedded default or explicit)."""
        return self.resolved_database_url.startswith("sqlite")


_FIELD_TYPES = {f.name: f.type for f in fields(Settings)}


_DEFAULTS: dict[str, Any] = {}


def _coerce(name: str, raw: Any) -> Any:
    kind = _FIELD_TYPES[name]
    if kind == "Path":
        return Path(raw)
    if not _DEFAULTS:
        defaults = Settings()
        _DEFAULTS.update({n: getattr(defaults, n) for n in _FIELD_TYPES if n != "extra"})
    return parse_value(f"{ENV_PREFIX}{name.upper()}", raw, _DEFAULTS[name])


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Defaults, then DUGOUT_* variables, then `overrides` (lower-case field names)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for name in _FIELD_TYPES:
        if name == "extra":
            continue
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = _coerce(name, raw)
    extra: dict[str, Any] = {}
    for key, raw in (overrides or {}).items():
        if key in _FIELD_TYPES and key != "extra":
            values[key] = _coerce(key, raw)
        else:
            extra[key] = raw
    settings = replace(Settings(), **values, extra=extra)
    if settings.demo_hours not in {"rolling", "mlb"}:
        raise ConfigError(f"DUGOUT_DEMO_HOURS must be rolling or mlb, not {settings.demo_hours!r}")
    if not 0 <= settings.demo_seed_hours <= 48:
        raise ConfigError("DUGOUT_DEMO_SEED_HOURS must be 0 (no first-start seed) to 48")
    if settings.source not in {"demo", "odds_api"}:
        raise ConfigError(f"DUGOUT_SOURCE must be demo or odds_api, not {settings.source!r}")
    if settings.executor not in {"local", "celery"}:
        raise ConfigError(f"DUGOUT_EXECUTOR must be local or celery, not {settings.executor!r}")
    if settings.splits_format not in {"auto", "json", "csv"}:
        raise ConfigError(
            f"DUGOUT_SPLITS_FORMAT must be auto, json or csv, not {settings.splits_format!r}"
        )
    if settings.odds_api_monthly_credits < 1:
        raise ConfigError("DUGOUT_ODDS_API_MONTHLY_CREDITS must be at least 1")
    if not 0 <= settings.odds_api_reserve_credits < settings.odds_api_monthly_credits:
        raise ConfigError(
            "DUGOUT_ODDS_API_RESERVE_CREDITS must be at least 0 and below the monthly credits"
        )
    if not 1 <= settings.odds_api_reset_day <= 28:
        raise ConfigError("DUGOUT_ODDS_API_RESET_DAY must be 1..28")
    if settings.login_max_failures < 1:
        raise ConfigError("DUGOUT_LOGIN_MAX_FAILURES must be at least 1")
    if settings.admin_password and len(settings.admin_password) < 12:
        raise ConfigError("DUGOUT_ADMIN_PASSWORD must be at least 12 characters")
    if settings.trusted_proxies < 0:
        raise ConfigError("DUGOUT_TRUSTED_PROXIES must be 0 or more")
    if settings.session_idle_timeout_s < 60:
        raise ConfigError("DUGOUT_SESSION_IDLE_TIMEOUT_S must be at least 60")
    if settings.max_content_length < 1024:
        raise ConfigError("DUGOUT_MAX_CONTENT_LENGTH must be at least 1024 bytes")
    if settings.login_address_max_failures < 1:
        raise ConfigError("DUGOUT_LOGIN_ADDRESS_MAX_FAILURES must be at least 1")
    if not 0 < settings.login_delay_base_s <= settings.login_delay_max_s:
        raise ConfigError(
            "DUGOUT_LOGIN_DELAY_BASE_S must be above 0 and at most DUGOUT_LOGIN_DELAY_MAX_S"
        )
    if settings.run_log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(
            "DUGOUT_RUN_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, "
            f"not {settings.run_log_level!r}"
        )
    if settings.run_log_max_lines < 10:
        raise ConfigError("DUGOUT_RUN_LOG_MAX_LINES must be at least 10")
    if settings.run_log_retention_days < 1:
        raise ConfigError("DUGOUT_RUN_LOG_RETENTION_DAYS must be at least 1")
    template = settings.trace_url_template
    if template and (
        "{trace_id}" not in template or not template.startswith(("http://", "https://"))
    ):
        raise ConfigError(
            "DUGOUT_TRACE_URL_TEMPLATE must be an http(s) URL containing {trace_id}, "
            f"not {template!r}"
        )
    if not _is_zone(settings.display_tz):
        raise ConfigError(
            f"DUGOUT_DISPLAY_TZ must be an IANA time zone such as America/New_York, "
            f"not {settings.display_tz!r}"
        )
    return settings


def _is_zone(name: str) -> bool:
    """True when `name` names a time zone this machine's tz database holds."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def ensure_secret_key(settings: Settings) -> str:
    """The configured secret key, or one generated once and kept in var_dir (mode 0600)."""
    if settings.secret_key:
        return settings.secret_key
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    path = settings.var_dir / "secret_key"
    if path.exists():
        key = path.read_text().strip()
        if key:
            return key
    key = secrets.token_urlsafe(48)
    tmp = path.with_name(f".secret_key.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    try:
        os.link(tmp, path)  # atomic: the first process to link wins, others read its key
    except FileExistsError:
        key = path.read_text().strip()
    finally:
        tmp.unlink(missing_ok=True)
    return key
