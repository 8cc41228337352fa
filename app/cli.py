"""The `dugout` command: serve, migrate, manage users, verify the audit chain, run pipelines."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
from sqlalchemy import func, select

from app.accounts import (
    CLI_ROLE,
    AccountRefused,
    AccountResult,
    AccountService,
    Actor,
    generate_password,
)
from app.cli_context import Context, pass_ctx
from app.config import ConfigError
from app.migrate import upgrade
from app.models import ROLES, User
from app.observability.logging import configure_logging
from app.vocabulary import Pipeline, Trigger


class _Group(click.Group):
    """Turns database failures into one plain sentence and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        from sqlalchemy.exc import OperationalError, ProgrammingError

        try:
            return super().invoke(ctx)
        except (OperationalError, ProgrammingError) as exc:
            first = str(exc.orig if exc.orig is not None else exc).splitlines()[0]
            hint = (
                " (run `dugout db upgrade`)"
                if "relation" in first or "no such table" in first
                else ""
            )
            raise click.ClickException(f"database error: {first}{hint}") from exc


@click.group(cls=_Group)
def main() -> None:
    """Dugout: the control room for MLB betting data pipelines."""


@main.command()
@click.option("--host", default=None, help="[default: DUGOUT_BIND's host, else 127.0.0.1]")
@click.option("--port", default=None, type=click.IntRange(1, 65535), help="[default: 8050]")
@click.option("--workers", default=None, type=click.IntRange(1, 64), help="[default: 1]")
@click.option("--threads", default=None, type=click.IntRange(1, 256), help="[default: 8]")
@pass_ctx
def serve(
    ctx: Context, host: str | None, port: int | None, workers: int | None, threads: int | None
) -> None:
    """Migrate, create the first admin if there is none, and serve through gunicorn with the
    container's settings and shutdown hooks (app/gunicorn_config.py)."""
    configure_logging(ctx.settings.log_level, ctx.settings.log_json)
    try:
        config = serve_settings(os.environ, ctx.settings.var_dir, host, port, workers, threads)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    if config["workers"] > 1:  # every worker writes its metrics to files one scrape merges
        os.environ.setdefault(
            "PROMETHEUS_MULTIPROC_DIR", str(ctx.settings.var_dir.resolve() / "prometheus")
        )
    assert ctx.db.engine is not None
    upgrade(ctx.db.engine)
    ensure_first_admin(ctx)
    from app.db import utcnow

    first_start_seed(ctx, utcnow())
    if hint := empty_ledger_hint(ctx, utcnow()):
        click.echo(hint, err=True)
    from gunicorn.app.base import BaseApplication

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in config.items():
                if key in self.cfg.settings:  # control_socket: gunicorn 27 and later
                    self.cfg.set(key, value)

        def load(self) -> Any:
            from app import create_app

            return create_app(ctx.settings)

    click.echo(f"Dugout serving on http://{config['bind']}/ (Ctrl-C to stop)", err=True)
    _Server().run()


def serve_settings(
    environ: Mapping[str, str],
    var_dir: Path,
    host: str | None,
    port: int | None,
    workers: int | None,
    threads: int | None,
) -> dict[str, Any]:
    """gunicorn's settings for `dugout serve`: the DUGOUT_* environment as the container reads
    it, with a local developer's defaults (127.0.0.1:8050, one worker) where it sets nothing,
    and the command's options over both."""
    from app.gunicorn_config import gunicorn_settings

    env = dict(environ)
    env.setdefault("DUGOUT_VAR_DIR", str(var_dir))
    env.setdefault("DUGOUT_BIND", "127.0.0.1:8050")
    env.setdefault("DUGOUT_WORKERS", "1")
    env.setdefault("DUGOUT_GUNICORN_CTL", str(var_dir.resolve() / "gunicorn.ctl"))
    config = gunicorn_settings(env)
    if host is not None or port is not None:
        env_host, _, env_port = str(config["bind"]).rpartition(":")
        config["bind"] = f"{host or env_host or '127.0.0.1'}:{port or env_port or 8050}"
    if workers is not None:
        config["workers"] = workers
    if threads is not None:
        config["threads"] = threads
    return config


def empty_ledger_hint(ctx: Context, now: datetime) -> str | None:
    """For a first start on the demo market: when its lines will move, and how to see history
    at once (overnight the demo market is closed, as MLB's is, and the pages stay empty)."""
    from app.models import PipelineRun

    if ctx.settings.source != "demo":
        return None
    with ctx.db.session() as session:
        if session.scalar(select(PipelineRun.id).limit(1)) is not None:
            return None
    from app.pipelines.build import build_sources
    from app.pipelines.sources.demo_calendar import day_bounds

    market = build_sources(ctx.settings, now=now)[0]
    games = market.games_at(now) if hasattr(market, "games_at") else market.games
    opens, _ = day_bounds(list(games))
    when = (
        f"The demo market opens at {opens:%H:%M} UTC (lines move from about 8 h before the "
        "first pitch, as MLB's do), so the pages stay empty until then. "
        if now < opens
        else ""
    )
    return (
        f"The run ledger is empty. {when}To see history now, replay the last 30 hours of the "
        "demo market (the server may keep running): "
        ".venv/bin/dugout demo seed --hours 30"
    )


def first_start_seed(ctx: Context, now: datetime) -> Any:
    """The first start of an empty embedded demo instance replays its market's last
    DUGOUT_DEMO_SEED_HOURS (a day) before serving, so the first page has runs, opportunities,
    bets and grades; returns the SeedReport, or None when there was nothing to do."""
    from app.models import PipelineRun

    settings = ctx.settings
    if settings.source != "demo" or settings.database_url or settings.demo_seed_hours <= 0:
        return None
    with ctx.db.session() as session:
        if session.scalar(select(PipelineRun.id).limit(1)) is not None:
            return None
    click.echo(
        f"First start: replaying the demo market's last {settings.demo_seed_hours:g} hours so "
        "the pages have history (DUGOUT_DEMO_SEED_HOURS=0 skips this).",
        err=True,
    )
    report = _seed(ctx, now, settings.demo_seed_hours, 60, "first start")
    click.echo(f"Replayed {report.runs} runs: {report.opportunities} opportunities.", err=True)
    return report


def _seed(ctx: Context, end: datetime, hours: float, step: int, why: str) -> Any:
    """Replay `hours` before `end` with a progress bar, store the rollups, audit it."""
    from app.db import utcnow
    from app.pipelines.seeding import SeedReport, seed_history
    from app.rollups.keeper import refresh_all

    assert ctx.db.sessionmaker is not None
    live = abs((utcnow() - end).total_seconds()) < 60  # not an injected moment
    with _progress() as progress:
        ticks = progress.add_task("replaying", total=None)
        report = seed_history(
            ctx.settings,
            ctx.db.sessionmaker,
            end=end,
            hours=hours,
            step_s=step,
            actor=_cli_actor(),
            progress=lambda done, total: progress.update(ticks, completed=done, total=total),
        )
        for _ in range(3):  # the minutes the replay took, so history reaches the server's start
            behind = (utcnow() - report.stop).total_seconds()
            if not live or behind < step or report.stop < end:
                break
            more = seed_history(
                ctx.settings,
                ctx.db.sessionmaker,
                end=utcnow(),
                hours=behind / 3600,
                step_s=step,
                actor=_cli_actor(),
            )
            report = SeedReport(
                report.runs + more.runs,
                report.opportunities + more.opportunities,
                report.start,
                more.stop,
            )
            end = more.stop
        rollups = progress.add_task("storing rollups", total=None)
        refresh_all(ctx.db.sessionmaker, end)  # the batch's writer keeps rollups current
        progress.update(rollups, total=1, completed=1)
    ctx.audit("demo_seed", "succeeded", target=f"{report.runs} runs", reason=f"{hours:g} h {why}")
    return report


def ensure_first_admin(ctx: Context) -> None:
    """On first run create `admin`, with DUGOUT_ADMIN_PASSWORD or a random one printed once."""
    with ctx.db.session() as session:
        if session.scalar(select(func.count()).select_from(User)):
            return
    password = ctx.settings.admin_password or generate_password()
    _account_change(ctx, lambda s: s.add("admin", "admin", "first run", password))
    if ctx.settings.admin_password:
        click.echo("Created user 'admin' with the password from DUGOUT_ADMIN_PASSWORD.", err=True)
    else:
        click.echo(
            f"Created user 'admin' with password: {password}\n"
            "It is shown only this once; change it with "
            "`dugout users reset-password admin --reason ...`.",
            err=True,
        )


@main.command("run")
@click.argument("pipeline", type=click.Choice([p.value for p in Pipeline]))
@click.option(
    "--source",
    type=click.Choice(["demo", "odds_api"]),
    default=None,
    help="Override DUGOUT_SOURCE for this run.",
)
@click.option(
    "--date",
    "day",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Demo slate to use (default: the slate live now).",
)
@click.option("--reason", default="manual run from the CLI", show_default=True)
@click.option("-v", "--verbose", is_flag=True, help="Print the run's log lines (stderr) too.")
@click.option(
    "--top",
    default=10,
    show_default=True,
    type=click.IntRange(0, 1000),
    help="How many opportunities to print.",
)
@pass_ctx
def run_cmd(
    ctx: Context,
    pipeline: str,
    source: str | None,
    day: Any,
    reason: str,
    verbose: bool,
    top: int,
) -> None:
    """Run a pipeline now in the foreground, bypassing any scheduler (break-glass path)."""
    from app.pipelines.build import build_context, build_sources
    from app.pipelines.runner import run_pipeline

    level = ctx.settings.log_level if verbose else "WARNING"  # the summary alone unless -v
    configure_logging(level, ctx.settings.log_json, stream=sys.stderr)
    assert ctx.db.sessionmaker is not None and ctx.db.engine is not None
    trace_cli_run(ctx.db.engine)  # the break-glass path is traced (and exported) like any run
    from app.observability.run_logs import install_run_logs

    run_logs = install_run_logs(ctx.db.sessionmaker, ctx.settings)  # lines for the run page
    try:
        sources = build_sources(ctx.settings, source, day.date() if day else None)
        pctx = build_context(ctx.settings, ctx.db.sessionmaker, sources=sources)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    request_seq = ctx.audit("run_now", "requested", target=pipeline, reason=reason)
    result = run_pipeline(
        pctx,
        pipeline,
        Trigger.CLI,
        actor=_cli_actor(),
        params={
            "source": source or ctx.settings.source,
            "date": day.date().isoformat() if day else None,
            "reason": reason,
        },
    )
    run_logs.flush()
    ctx.audit(
        "run_now",
        result.status,
        target=f"{pipeline}:{result.run_id}",
        reason=reason,
        request_seq=request_seq,
    )
    _print_run(ctx, result, top)
    if result.status not in {"succeeded", "partial", "skipped"}:
        sys.exit(1)


def trace_cli_run(engine: Any) -> None:
    """This process's tracer provider (OTLP when configured) and database spans."""
    from app.observability.db_spans import instrument_engine
    from app.observability.tracing import process_provider

    process_provider()
    instrument_engine(engine)


def _cli_actor() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


def _print_run(ctx: Context, result: Any, top: int) -> None:
    """A short human summary of a run: status, stages, then the best opportunities."""
    from app.models import OpportunityRow
    from app.pipelines.reasons import run_reason, stage_reason, status_with_reason

    why = run_reason(result.status, result.summary, result.error)
    click.echo(f"\nrun {result.run_id} {result.pipeline}: {status_with_reason(result.status, why)}")
    for stage, summary in result.summary.items():
        click.echo(
            f"  {stage:10} {summary['status']:10} in={summary['in']:<6} "
            f"out={summary['out']:<6} {stage_reason(summary)}".rstrip()
        )
    if top == 0:
        return
    with ctx.db.session() as session:
        opps = session.scalars(
            select(OpportunityRow)
            .where(OpportunityRow.run_id == result.run_id)
            .order_by(OpportunityRow.ev.desc())
            .limit(top)
        ).all()
        if opps:
            click.echo(f"\ntop {len(opps)} new opportunities:")
            for o in opps:
                click.echo(f"  [{o.strategy}] {o.explanation}")


@main.group()
def demo() -> None:
    """The demo market."""


@demo.command("seed")
@click.option(
    "--hours",
    default=3.0,
    show_default=True,
    type=click.FloatRange(0.1, 48),
    help="How much recent history to replay.",
)
@click.option(
    "--step",
    default=60,
    show_default=True,
    type=click.IntRange(5, 3600),
    help="Seconds between replayed ticks.",
)
@pass_ctx
def demo_seed(ctx: Context, hours: float, step: int) -> None:
    """Replay the last HOURS of the demo market as real runs (trigger 'seed') so pages have data."""
    from app.db import utcnow

    if ctx.settings.source != "demo":
        raise click.ClickException("demo seed works only with DUGOUT_SOURCE=demo")
    configure_logging("WARNING", ctx.settings.log_json, stream=sys.stderr)
    end = utcnow()
    report = _seed(ctx, end, hours, step, "replay")
    stopped = (
        f" (up to {report.stop:%H:%M} UTC, where the ledger's own history begins)"
        if report.stop < end - timedelta(minutes=2)
        else ""
    )
    click.echo(
        f"replayed {report.runs} runs of the demo market{stopped}: "
        f"{report.opportunities} new opportunities"
    )


def _progress() -> Any:
    """A progress display on stderr: bar, count, elapsed and remaining time."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_ctx
def db_upgrade(ctx: Context) -> None:
    """Apply every pending migration."""
    assert ctx.db.engine is not None
    try:
        upgrade(ctx.db.engine)
    except Exception as exc:
        raise click.ClickException(f"migration failed: {exc}") from exc
    click.echo("database is up to date")


@main.group()
def users() -> None:
    """Accounts and roles (every change needs --reason and is audited first)."""


REASON_OPTION = click.option(
    "--reason", default=None, help="Why (required; written to the audit log)."
)


def _accounts(ctx: Context) -> AccountService:
    """The account service acting for this CLI's operator (the OS user)."""
    return AccountService(ctx.audit_log, _cli_person())


def _cli_person() -> Actor:
    return Actor(_cli_actor(), CLI_ROLE, source_ip="local")


def _account_change(
    ctx: Context, change: Callable[[AccountService], AccountResult]
) -> AccountResult:
    """Run one change through the account service; a refusal is one line and exit 1."""
    try:
        return change(_accounts(ctx))
    except AccountRefused as exc:
        hint = " (--reason)" if "reason" in str(exc) else ""
        raise click.ClickException(f"{exc}{hint}") from exc


@users.command("add")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice(list(ROLES)),
    default="viewer",
    show_default=True,
)
@click.option("--password", envvar="DUGOUT_NEW_PASSWORD", help="Prompted when not given.")
@REASON_OPTION
@pass_ctx
def users_add(
    ctx: Context, username: str, role: str, password: str | None, reason: str | None
) -> None:
    """Create an account."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    _account_change(ctx, lambda s: s.add(username, role, reason, password))
    click.echo(f"created {username} ({role})")


@users.command("list")
@pass_ctx
def users_list(ctx: Context) -> None:
    """List accounts."""
    with ctx.db.session() as session:
        rows = session.scalars(select(User).order_by(User.username)).all()
        for u in rows:
            state = "active" if u.is_active else "disabled"
            click.echo(f"{u.username:24} {u.role:9} {state}")


@users.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice(list(ROLES)))
@REASON_OPTION
@pass_ctx
def users_set_role(ctx: Context, username: str, role: str, reason: str | None) -> None:
    """Change a role (the user's sessions end)."""
    _account_change(ctx, lambda s: s.set_role(username, role, reason))
    click.echo(f"{username} is now {role}")


@users.command("disable")
@click.argument("username")
@REASON_OPTION
@pass_ctx
def users_disable(ctx: Context, username: str, reason: str | None) -> None:
    """Disable an account and end its sessions."""
    _account_change(ctx, lambda s: s.set_active(username, False, reason))
    click.echo(f"{username} disabled")


@users.command("enable")
@click.argument("username")
@REASON_OPTION
@pass_ctx
def users_enable(ctx: Context, username: str, reason: str | None) -> None:
    """Re-enable an account."""
    _account_change(ctx, lambda s: s.set_active(username, True, reason))
    click.echo(f"{username} enabled")


@users.command("reset-password")
@click.argument("username")
@click.option("--password", envvar="DUGOUT_NEW_PASSWORD", help="Random when not given.")
@REASON_OPTION
@pass_ctx
def users_reset_password(
    ctx: Context, username: str, password: str | None, reason: str | None
) -> None:
    """Set a new password (printed once when random) and end the user's sessions."""
    result = _account_change(ctx, lambda s: s.reset_password(username, reason, password))
    click.echo(
        f"new password for {username}: {result.secret}" if result.secret else "password changed"
    )


@users.command("token")
@click.argument("username")
@REASON_OPTION
@pass_ctx
def users_token(ctx: Context, username: str, reason: str | None) -> None:
    """Issue an API token for scripts (shown once; replaces the previous one)."""
    click.echo(_account_change(ctx, lambda s: s.issue_token(username, reason)).secret)


@main.group()
def audit() -> None:
    """The audit log."""


@audit.command("verify")
@pass_ctx
def audit_verify(ctx: Context) -> None:
    """Check every record's MAC and link, then the chain against the newest signed checkpoint;
    exit 1 naming the damage (rewritten record, deleted records, rewritten chain, truncated tail)."""
    log_ = ctx.audit_log
    with ctx.db.session() as session:
        report = log_.verify(session)
    if report.ok:
        click.echo(f"audit chain intact: {report.checked} records")
        return
    where = f" at record seq={report.broken_seq}" if report.broken_seq else ""
    who = f" id={report.broken_id}" if report.broken_id else ""
    click.echo(
        f"audit chain BROKEN{where}{who}: {report.kind}: {report.problem} "
        f"({report.checked} records before it are intact; checkpoints: {log_.checkpoints.path})",
        err=True,
    )
    sys.exit(1)


def _add_commands() -> None:
    """Commands that live beside the subsystems they drive."""
    from app.cli_breakglass import COMMANDS as BREAKGLASS_COMMANDS
    from app.cli_config import config_cmd
    from app.cli_live import live_cmd
    from app.cli_status import slo_group, status_cmd
    from scheduler.cli import executor_command, scheduler_command, worker_command

    commands = (
        *BREAKGLASS_COMMANDS,
        config_cmd,
        status_cmd,
        live_cmd,
        slo_group,
        scheduler_command,
        worker_command,
        executor_command,
    )
    for command in commands:
        main.add_command(command)


_add_commands()


if __name__ == "__main__":
    main()
