"""Terminal commands: `dugout slo rules|report|evaluate`, `dugout status` (`dugout live` is
in app/cli_live.py).

app/cli.py adds them with `main.add_command(...)`; they share its lazily built Context.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from app.observability.slo import LEVEL_WORDS
from app.observability.status import StatusReport

DEFAULT_RULES = Path("deploy/prometheus/rules.yml")
VERDICT_STYLE = {"healthy": "bold green", "degraded": "bold yellow", "down": "bold red"}


def _context() -> Any:
    from app.cli_context import Context

    return click.get_current_context().ensure_object(Context)


def _console() -> Console:
    return Console(file=sys.stdout, width=120)


def collect_status(ctx: Any) -> StatusReport:
    """The status picture from the CLI's settings and database."""
    from app import readiness_checks
    from app.observability.status import build_status
    from app.pipelines.context import system_clock

    settings = ctx.settings
    db = ctx.db
    extras = readiness_checks(settings, db)
    report = build_status(db, system_clock(), extras)
    add_feed_facts(report, settings, db)
    return report


def add_feed_facts(report: StatusReport, settings: Any, db: Any) -> None:
    """Strategies idle for want of a source (RLM and sharp action without splits) and the
    quota of a metered odds feed, read from the configuration and the database."""
    from app.pipelines.build import provided_kinds
    from app.pipelines.coverage import strategy_coverage
    from app.pipelines.quota import QuotaPlan
    from app.pipelines.quota_read import read_quota

    report.strategies = [r.as_dict() for r in strategy_coverage(provided_kinds(settings))]
    if settings.source != "odds_api" or not report.checks or not report.checks[0].ok:
        return
    plan = QuotaPlan(
        settings.odds_api_monthly_credits,
        settings.odds_api_reserve_credits,
        settings.odds_api_reset_day,
    )
    with db.session() as session:
        view = read_quota(session, plan, "odds_api", report.now)
    if view is not None:
        report.quota.append(
            {
                "source": view.source,
                "credits_left": view.credits_left,
                "burn_per_day": None if view.burn_per_day is None else round(view.burn_per_day, 1),
                "run_out_at": view.run_out_at.isoformat(timespec="minutes")
                if view.run_out_at
                else None,
                "reset_at": view.reset_at.isoformat(timespec="minutes"),
                "reserve": view.reserve_credits,
            }
        )


def _pct(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def render_status(report: StatusReport) -> Group:
    """Health, SLOs, alerts, sources and runs as rich tables."""
    title = Text(f"Dugout {report.verdict.upper()}  ", style=VERDICT_STYLE[report.verdict])
    title.append(report.now.isoformat(timespec="seconds"), style="dim")
    checks = Table("check", "ok", "ms", "detail", title="Health", title_justify="left")
    for c in report.checks:
        checks.add_row(c.name, "[green]yes" if c.ok else "[red]NO", f"{c.latency_ms:.0f}", c.detail)
    parts: list[Any] = [title, checks]
    if report.slos:
        slos = Table(
            "SLO",
            "target",
            "SLI 30d",
            "budget left",
            "burn 5m",
            "1h",
            "6h",
            "3d",
            "alert",
            title="SLOs",
            title_justify="left",
        )
        for s in report.slos:
            b = s["burn_rates"]
            firing = LEVEL_WORDS[s.get("shown_level") or s["level"]]
            slos.add_row(
                s["title"],
                _pct(s["target"], 1),
                _pct(s["sli"]),
                _pct(s["error_budget_remaining"], 1),
                f"{b['5m']:.1f}x",
                f"{b['1h']:.1f}x",
                f"{b['6h']:.1f}x",
                f"{b['3d']:.1f}x",
                firing,
            )
        parts.append(slos)
    alerts = Table("severity", "alert", "since", title="Open alerts", title_justify="left")
    for a in report.alerts:
        alerts.add_row(LEVEL_WORDS.get(a["severity"], a["severity"]), a["title"], a["fired_at"])
    if not report.alerts:
        alerts.add_row("-", "none", "")
    parts.append(alerts)
    if report.sources:
        sources = Table(
            "source", "data age s", "last error", "quota", title="Sources", title_justify="left"
        )
        for s in report.sources:
            sources.add_row(
                s["source"],
                str(s["freshness_s"]),
                s["last_error"] or "-",
                "-" if s["quota_remaining"] is None else str(s["quota_remaining"]),
            )
        parts.append(sources)
    idle = [s for s in report.strategies if not s["active"]]
    if idle:
        table = Table("strategy", "idle because", title="Idle strategies", title_justify="left")
        for s in idle:
            table.add_row(s["strategy"], s["reason"] or "")
        parts.append(table)
    for q in report.quota:
        parts.append(
            Text(
                f"Quota {q['source']}: {q['credits_left']} credits left, "
                f"{q['burn_per_day'] if q['burn_per_day'] is not None else 'n/a'} a day, "
                f"runs out {q['run_out_at'] or 'n/a'}, resets {q['reset_at']}"
            )
        )
    runs = Table(
        "started",
        "pipeline",
        "status",
        "trigger",
        "ms",
        "why",
        title="Last runs",
        title_justify="left",
    )
    for r in report.runs:
        style = {"succeeded": "green", "failed": "red", "partial": "yellow"}.get(r["status"], "")
        runs.add_row(
            r["started_at"],
            r["pipeline"],
            f"[{style}]{r['status']}" if style else r["status"],
            r["trigger"],
            str(r["duration_ms"]),
            (r.get("reason") or r["error"])[:60],
        )
    parts.append(runs)
    return Group(*parts)


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def status_cmd(as_json: bool) -> None:
    """Health, SLOs, open alerts and the last runs; exit 0 healthy, 1 degraded, 2 down."""
    report = collect_status(_context())
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        _console().print(render_status(report))
    click.get_current_context().exit(report.exit_code)


@click.group("slo")
def slo_group() -> None:
    """Service level objectives: Prometheus rules, the ledger report, alert evaluation."""


@slo_group.command("rules")
@click.option(
    "--output",
    "-o",
    default=str(DEFAULT_RULES),
    show_default=True,
    help="Where to write the rules ('-' for standard output).",
)
@click.option("--check", is_flag=True, help="Exit 1 if the file differs from what code says.")
def slo_rules(output: str, check: bool) -> None:
    """Write the Prometheus recording and burn-rate alerting rules for every SLO."""
    from app.observability.rules import render_rules

    text = render_rules()
    if output == "-":
        click.echo(text, nl=False)
        return
    path = Path(output)
    if check:
        if not path.exists() or path.read_text() != text:
            raise click.ClickException(f"{path} is out of date: run `dugout slo rules`")
        click.echo(f"{path} is up to date")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    click.echo(f"wrote {path}")


@slo_group.command("report")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def slo_report_cmd(as_json: bool) -> None:
    """Each SLO from the ledger: SLI, error budget left over 30 days, burn rates."""
    from app.observability.slo import slo_reports
    from app.pipelines.context import system_clock

    with _context().db.session() as session:
        reports = [r.as_dict() for r in slo_reports(session, system_clock())]
    if as_json:
        click.echo(json.dumps(reports, indent=2))
        return
    report = StatusReport(system_clock(), [], slos=reports)
    _console().print(render_status(report).renderables[2])


@slo_group.command("evaluate")
def slo_evaluate() -> None:
    """Evaluate the burn-rate alerts now: store changes and post them to the webhook."""
    from app.observability import setting
    from app.observability.alerts import WebhookNotifier, evaluate
    from app.pipelines.context import system_clock

    ctx = _context()
    url = setting(ctx.settings, "alert_webhook_url")
    notifier = WebhookNotifier(url) if url else None
    result = evaluate(ctx.db.sessionmaker, system_clock(), notifier)
    for change in result.changes:
        click.echo(f"{change.status:8} {change.severity:6} {change.title}")
    click.echo(f"{len(result.changes)} changed, {len(result.still_firing)} still firing")
