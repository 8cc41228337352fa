"""Status widgets: SLO cards, open alerts, the scheduler's leader, dependency checks, the kill
switch banner and the scheduler's job table. Pure functions of plain data (dicts from
app.observability / scheduler.status), so they are tested without a server."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import dash_bootstrap_components as dbc
from dash import html

from app.observability.slo import LEVEL_WORDS, QUIET_LEVELS, quiet_level
from components.formatting import timestamp
from components.grid import Column, table
from components.ledger import empty_state

SEVERITY_COLOURS = {
    "page": "danger",
    "ticket": "warning",
    "budget_exhausted": "danger",
    "info": "info",
}


def _pct(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}%}"


LEVEL_COLOURS = {
    "page": "danger",
    "ticket": "warning",
    "budget_exhausted": "danger",
    "at_risk": "warning",
    "healthy": "success",
    "no_data": "secondary",
}


def slo_level(slo: Mapping[str, Any]) -> str:
    """The level the card shows: `shown_level` (set by the status picture from the stored
    alerts), else the quiet level of its budget; never an alert word no alert carries."""
    level = slo.get("shown_level")
    if level in LEVEL_WORDS:
        return str(level)
    return quiet_level(slo.get("error_budget_remaining"), int(slo.get("events") or 0))


def slo_colour(slo: Mapping[str, Any]) -> str:
    """The colour of the card's level (danger: page or budget exhausted; warning: ticket or
    at risk)."""
    return LEVEL_COLOURS[slo_level(slo)]


def slo_status_word(level: str) -> str:
    """The level in words, the same the alert list and `dugout status` print."""
    word = LEVEL_WORDS[level]
    return word[0].upper() + word[1:] if level in QUIET_LEVELS else f"Alert: {word}"


def slo_cards(slos: Sequence[Mapping[str, Any]], idle: Mapping[str, str] | None = None) -> Any:
    """One card per SLO: SLI against the target, error budget left, the 1 h burn rate. An SLO
    named in `idle` (nothing is due: the market is closed) is greyed with the reason."""
    if not slos:
        return empty_state("No SLOs are defined.", "slo-empty")
    cols = []
    for s in slos:
        level = slo_level(s)
        colour = LEVEL_COLOURS[level]
        why_idle = (idle or {}).get(s["name"])
        if why_idle and level not in {"page", "ticket", "budget_exhausted"}:
            colour = "secondary"  # an alert still shows in its colour
        burn = (s.get("burn_rates") or {}).get("1h", 0.0)
        budget = s.get("error_budget_remaining")
        sli = s.get("sli")
        body = [
            html.H6(
                s["title"],
                className="card-title small text-muted text-uppercase mb-1",
                title=s.get("objective", ""),
            ),
            html.Div(
                [
                    html.Span(_pct(sli), className=f"h4 text-{colour} me-2"),
                    html.Span(f"target {_pct(s['target'], 1)}", className="small text-muted"),
                ]
            ),
            html.Div(
                f"Error budget left: {_pct(budget, 0) if budget is not None else '—'}",
                className="small",
            ),
            dbc.Progress(
                value=max(0.0, min(1.0, budget or 0.0)) * 100,
                color=colour,
                style={"height": "4px"},
                className="my-1",
            ),
            html.Div(
                f"Burn rate 1 h: {burn:.1f}x · {s['events']} events / {s['window_days']} d",
                className="small text-muted",
            ),
            dbc.Badge(
                slo_status_word(level),
                color=colour,
                className=f"mt-1 slo-level level-{level}",
            ),
        ]
        if why_idle:
            body.append(html.Div(f"Idle: {why_idle}", className="small text-muted slo-idle"))
        cols.append(
            dbc.Col(
                dbc.Card(
                    dbc.CardBody(body),
                    className=f"slo-card h-100 border-{colour}"
                    + (" opacity-75 slo-card-idle" if why_idle else ""),
                    id=f"slo-{s['name']}",
                ),
                xs=12,
                sm=6,
                xl=3,
                className="mb-2",
            )
        )
    return dbc.Row(cols, className="g-2 mt-2", id="slo-cards")


def alerts_list(alerts: Sequence[Mapping[str, Any]]) -> Any:
    """Firing alerts, newest first, each with severity, title, message and since when."""
    if not alerts:
        return html.Div("No alerts firing.", className="text-success small", id="alerts-none")
    items = []
    for a in alerts:
        colour = SEVERITY_COLOURS.get(a.get("severity", ""), "secondary")
        items.append(
            dbc.ListGroupItem(
                [
                    dbc.Badge(
                        LEVEL_WORDS.get(a.get("severity", ""), a.get("severity", "?")),
                        color=colour,
                        className=f"me-2 alert-level level-{a.get('severity', '')}",
                    ),
                    html.Strong(a.get("title", a.get("key", ""))),
                    html.Span(f" since {a.get('fired_at', '')}", className="small text-muted"),
                    html.Div(a.get("message", ""), className="small"),
                ],
                className="alert-item",
            )
        )
    return dbc.ListGroup(items, id="alerts-list")


def _age(iso: str | None, now: datetime) -> str:
    if not iso:
        return "never"
    # clamped at 0: another host's clock a little ahead must not read "-1 s ago"
    seconds = max(0.0, (now - datetime.fromisoformat(iso)).total_seconds())
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"


def scheduler_summary(status: Mapping[str, Any] | None, now: datetime) -> Any:
    """Leader, heartbeat age, queue depth and pending commands in one line."""
    if status is None:
        return html.Div("Scheduler status unavailable.", className="small text-muted")
    leader = status["leader"]
    if leader.get("alive"):
        head = dbc.Badge("leader alive", color="success", className="me-2")
        text = (
            f"{leader['holder']} (epoch {leader['epoch']}), heartbeat "
            f"{_age(leader.get('heartbeat_at'), now)}"
        )
    else:
        head = dbc.Badge("no leader", color="danger", className="me-2")
        text = "No scheduler holds the lease: scheduled runs are not happening" + (
            f" (last heartbeat {_age(leader.get('heartbeat_at'), now)})"
            if leader.get("heartbeat_at")
            else ""
        )
    return html.Div(
        [
            head,
            html.Span(text, className="small"),
            html.Span(
                f" · queue {status['queue_depth']} · pending commands {status['pending_commands']}"
                + _executor_text(status.get("executor")),
                className="small text-muted",
            ),
        ],
        id="scheduler-summary",
    )


def _executor_text(executor: Mapping[str, Any] | None) -> str:
    if not executor:
        return ""
    if executor.get("override"):
        return (
            f" · executor {executor['mode']} (switched by an operator; "
            f"configured {executor['configured']})"
        )
    return f" · executor {executor['mode']}"


def checks_list(checks: Sequence[Mapping[str, Any]]) -> Any:
    """Dependency checks (database, migrations, scheduler, Redis) as badges with their detail."""
    return html.Div(
        [
            html.Span(
                [
                    dbc.Badge(
                        c["name"], color="success" if c["ok"] else "danger", className="me-1"
                    ),
                    html.Span(c.get("detail", ""), className="small text-muted me-3"),
                ],
                className="d-inline-block",
            )
            for c in checks
        ],
        id="dependency-checks",
    )


def kill_switch_banner(state: Mapping[str, Any] | None) -> Any:
    """The red banner shown on every page while the kill switch is engaged; nothing otherwise."""
    if not state or not state.get("engaged"):
        return None
    since = state.get("since")
    who = state.get("by") or "unknown"
    return dbc.Alert(
        [
            html.Strong("Kill switch engaged: "),
            "scheduled pipeline runs are stopped",
            f" since {since}" if since else "",
            f" (by {who}: {state.get('reason') or 'no reason given'}).",
        ],
        color="danger",
        className="mb-0 rounded-0 text-center",
        id="kill-switch-engaged",
    )


JOB_COLUMNS = [
    ("job_id", "Job"),
    ("pipeline", "Pipeline"),
    ("interval", "Every"),
    ("enabled", "State"),
    ("next_run_at", "Next run"),
    ("last_status", "Last status"),
    ("last_reason", "Why"),
    ("breaker", "Breaker"),
]


# A breaker that is not closed and a paused job stand out (bold; the word says which).
_JOB_CELLS: dict[str, dict[str, Any]] = {
    "breaker": {"cellClassRules": {"grid-alarm": "params.value !== 'closed'"}},
    "enabled": {"cellClassRules": {"fw-semibold": "params.value === 'paused'"}},
}


def jobs_table(jobs: Sequence[Mapping[str, Any]], tz: ZoneInfo | None = None) -> Any:
    """The schedule: each job's cadence, whether it is paused, next run (in the viewer's zone
    `tz`), last status, breaker."""
    if not jobs:
        return empty_state(
            "No jobs are scheduled yet: the scheduler writes its schedule when it first leads.",
            "jobs-empty",
        )
    rows = [
        {
            "job_id": j["job_id"],
            "pipeline": j["pipeline"],
            "interval": f"{j['interval_s']} s" if j["interval_s"] else "after upstream",
            "enabled": "running" if j["enabled"] else "paused",
            "next_run_at": (
                "paused"
                if not j["enabled"]
                else timestamp(j.get("next_run_at"), tz)
                if j["interval_s"]
                else "after upstream"
            ),
            "last_status": j.get("last_status") or "—",
            "last_reason": j.get("last_reason") or "",
            "breaker": j.get("breaker", "closed"),
        }
        for j in jobs
    ]
    cols = [
        Column(
            key,
            name,
            pinned=key == "job_id",
            status=key == "last_status",
            extra=_JOB_CELLS.get(key, {}),
        )
        for key, name in JOB_COLUMNS
    ]
    return table("jobs-table", cols, rows)
