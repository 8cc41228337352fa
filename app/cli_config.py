"""`dugout config`: the effective settings of every DUGOUT_* family, secrets masked."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import click

from app.cli_context import Context, pass_ctx

SECRET_WORDS = ("key", "password", "token", "secret")
MASK = "****"


def _masked(name: str, value: Any) -> Any:
    """The value to print: secrets as **** (set) or "" (unset); passwords out of URLs."""
    if any(word in name for word in SECRET_WORDS) and not name.endswith("_path"):
        return MASK if value else ""
    if isinstance(value, str) and "://" in value:
        parts = urlsplit(value)
        if parts.password:
            host = parts.hostname or ""
            netloc = f"{parts.username or ''}:{MASK}@{host}" + (
                f":{parts.port}" if parts.port else ""
            )
            return urlunsplit(parts._replace(netloc=netloc))
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, tuple):
        return list(value)
    return value


def effective_settings(ctx: Context) -> dict[str, dict[str, tuple[str, Any]]]:
    """Per family, each setting's variable and effective value (masked)."""
    from app.observability import KNOBS, setting
    from app.pipelines.build import STRATEGY_PREFIX, strategy_config_from_env
    from scheduler.config import PREFIX, SchedulerConfig
    from scheduler.executors.celery.config import PREFIX as CELERY_PREFIX
    from scheduler.executors.celery.config import CeleryConfig

    settings = ctx.settings
    app_values = {
        f.name: (f"DUGOUT_{f.name.upper()}", getattr(settings, f.name))
        for f in fields(settings)
        if f.name not in {"extra", "testing"}
    }
    families: dict[str, dict[str, tuple[str, Any]]] = {"app": app_values}
    scheduler = SchedulerConfig.from_settings(settings)
    families["scheduler"] = {
        f.name: (f"DUGOUT_{PREFIX.upper()}{f.name.upper()}", getattr(scheduler, f.name))
        for f in fields(scheduler)
    }
    celery = CeleryConfig.from_settings(settings)
    families["celery"] = {
        f.name: (f"DUGOUT_{CELERY_PREFIX.upper()}{f.name.upper()}", getattr(celery, f.name))
        for f in fields(celery)
    }
    strategies = strategy_config_from_env()
    families["strategies"] = {
        f.name: (f"{STRATEGY_PREFIX}{f.name.upper()}", getattr(strategies, f.name))
        for f in fields(strategies)
    }
    families["observability"] = {
        name: (f"DUGOUT_{name.upper()}", setting(settings, name)) for name in KNOBS
    }
    return {
        family: {name: (var, _masked(name, value)) for name, (var, value) in values.items()}
        for family, values in families.items()
    }


@click.command("config")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: family -> name -> value.")
@pass_ctx
def config_cmd(ctx: Context, as_json: bool) -> None:
    """Print the effective settings of every family (defaults, then DUGOUT_* variables), with
    secrets masked. A bad value stops here too, with one line naming the variable."""
    families = effective_settings(ctx)
    if as_json:
        out = {f: {n: v for n, (_var, v) in values.items()} for f, values in families.items()}
        click.echo(json.dumps(out, indent=2, sort_keys=True, default=str))
        return
    for family, values in families.items():
        click.echo(f"[{family}]")
        width = max(len(var) for var, _ in values.values())
        for var, value in values.values():
            shown = json.dumps(value, default=str) if not isinstance(value, str) else value
            click.echo(f"  {var.ljust(width)}  {shown}")
