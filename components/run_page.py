"""The run page's pieces, pure functions of app.queries.run_page data: the facts line, the
run's family (parent, retries, the runs of its tick), what it wrote, each stage's stored detail
in words, and its log lines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import dash_bootstrap_components as dbc
from dash import dcc, html

from app.pipelines.reasons import plain
from components.formatting import timestamp
from components.grid import Column, table
from components.ledger import STATUS_COLOURS, empty_state

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
WRITTEN_LINKS = {  # what a run wrote -> the page that lists it
    "opportunities": "/opportunities",
    "recommendations": "/bets",
}


def fact(label: str, value: Any, element_id: str | None = None) -> html.Div:
    """One labelled fact; a dash for nothing."""
    shown: Any = value if isinstance(value, html.A | dcc.Link) else None
    if shown is None:
        shown = html.Code(str(value)) if value not in (None, "") else html.Span("—")
    div = html.Div([html.Span(label, className="text-muted small me-2"), shown], className="me-4")
    if element_id:
        div.id = element_id  # type: ignore[attr-defined]
    return div


def trace_link(trace_id: str | None, template: str) -> Any:
    """The trace id, linked to the tracing UI when DUGOUT_TRACE_URL_TEMPLATE is set."""
    if not trace_id:
        return None
    if not template:
        return trace_id
    return html.A(
        trace_id,
        href=template.replace("{trace_id}", trace_id),
        target="_blank",
        rel="noopener noreferrer",
        id="run-trace-link",
    )


def _run_link(r: Mapping[str, Any], label: str | None = None) -> Any:
    text = label or f"{r['pipeline']} attempt {r['attempt']}"
    why = f" ({r['reason']})" if r.get("reason") else ""
    return html.Li(
        [
            dcc.Link(text, href=f"/pipelines/{r['id']}"),
            html.Span(f": {r['status']}{why}", className="small"),
        ]
    )


def family(run: Mapping[str, Any]) -> Any:
    """Parent, the other attempts, the runs that retried it, and the runs of the same tick."""
    items: list[Any] = []
    if run.get("parent"):
        items.append(_run_link(run["parent"], f"parent: {run['parent']['pipeline']}"))
    for a in run.get("attempts", []):
        if a["id"] != run["id"]:
            items.append(_run_link({**a, "pipeline": run["pipeline"]}))
    for r in run.get("retried_by", []):
        items.append(_run_link(r, f"retried by attempt {r['attempt']}"))
    attempts = html.Ul(items, id="run-attempts") if items else html.Div("Only this attempt.")
    chained = [r for r in run.get("tick_runs", []) if r.get("after")]
    before = [r for r in run.get("tick_runs", []) if not r.get("after")]
    tick: list[Any] = [_run_link(r, f"upstream {r['pipeline']}") for r in before]
    tick += [_run_link(r, f"downstream {r['pipeline']} ({r['trigger']})") for r in chained]
    return html.Div(
        [
            html.H2("Attempts", className="h6 mt-3"),
            attempts,
            html.H2("Runs of the same tick", className="h6 mt-3"),
            html.Ul(tick, id="run-downstream")
            if tick
            else html.Div("No other run in this tick.", className="small text-muted"),
        ]
    )


def written(counts: Mapping[str, int]) -> Any:
    """What the run stored, each count linked to the page listing those rows."""
    cells = []
    for name, n in counts.items():
        href = WRITTEN_LINKS.get(name)
        value: Any = dcc.Link(str(n), href=href) if href and n else html.Code(str(n))
        cells.append(
            html.Div([html.Span(name, className="text-muted small me-2"), value], className="me-4")
        )
    return html.Div(cells, className="d-flex flex-wrap mb-2", id="run-written")


def params_list(params: Mapping[str, Any]) -> Any:
    """The run's parameters, `name: value` in words."""
    shown = {k: v for k, v in params.items() if v not in (None, "")}
    if not shown:
        return html.Span("none", className="small text-muted")
    return html.Span(
        "; ".join(f"{k}: {plain(v)}" for k, v in shown.items()), className="small", id="run-params"
    )


def _detail_rows(detail: Mapping[str, Any]) -> list[Any]:
    rows: list[Any] = []
    for key, value in detail.items():
        if key in ("traceback",):
            continue
        label = key.replace("_", " ")
        if (
            isinstance(value, Mapping)
            and value
            and all(isinstance(v, Mapping) for v in value.values())
        ):
            columns = sorted({c for v in value.values() for c in v})
            body = [
                html.Tr([html.Th(name)] + [html.Td(plain(v.get(c, ""))) for c in columns])
                for name, v in value.items()
            ]
            head = html.Tr([html.Th(""), *(html.Th(c.replace("_", " ")) for c in columns)])
            table = dbc.Table(
                [html.Thead(head), html.Tbody(body)],
                size="sm",
                bordered=False,
                className="small mb-1",
            )
            rows.append(html.Div([html.Div(label, className="text-muted small"), table]))
        else:
            rows.append(
                html.Div(
                    [html.Span(label, className="text-muted small me-2"), html.Span(plain(value))],
                    className="small",
                )
            )
    return rows


def stage_details(stages: Sequence[Mapping[str, Any]]) -> Any:
    """Each stage's stored detail (per-source counts, market closed, per-strategy counts) as
    labelled values and small tables, never a raw dict."""
    cards = []
    for s in stages:
        colour = STATUS_COLOURS.get(s["status"], "secondary")
        body: list[Any] = []
        if s.get("reason"):
            body.append(html.Div(s["reason"], className="small fw-semibold stage-reason"))
        if s.get("error_type"):
            body.append(
                html.Div(f"{s['error_type']}: {s['error_message']}", className="small text-danger")
            )
        body += _detail_rows(s.get("detail") or {})
        cards.append(
            dbc.Card(
                [
                    dbc.CardHeader(
                        [
                            html.Strong(s["stage"], className="me-2"),
                            dbc.Badge(s["status"], color=colour),
                            html.Span(
                                f" in {s['records_in']} · out {s['records_out']}"
                                + (
                                    f" · {s['duration_ms']:.0f} ms"
                                    if s.get("duration_ms") is not None
                                    else ""
                                ),
                                className="small text-muted ms-2",
                            ),
                        ],
                        className="py-1",
                    ),
                    dbc.CardBody(
                        body or html.Span("No detail stored.", className="small"), className="py-2"
                    ),
                ],
                className="mb-2 stage-detail",
                id=f"stage-{s['stage']}",
            )
        )
    if not cards:
        return empty_state("No stages recorded.", "run-no-stages")
    return html.Div(cards, id="run-stage-details")


def _fields_text(fields: Mapping[str, Any]) -> str:
    return " ".join(
        f"{k}={plain(v)}" for k, v in fields.items() if k not in ("exc", "correlation_id")
    )


def log_table(lines: Sequence[Mapping[str, Any]], level: str, tz: ZoneInfo | None = None) -> Any:
    """The run's log lines, oldest first, to the millisecond in the viewer's zone `tz`, with
    their fields as `key=value`; message and fields in the monospace face of a terminal."""
    if not lines:
        return empty_state(
            f"No log lines at {level} or above were kept for this run (lines are kept for runs "
            "started since run logs were enabled, for DUGOUT_RUN_LOG_RETENTION_DAYS).",
            "run-logs-empty",
        )
    rows = [
        {
            "at": timestamp(line["at"], tz, precise=True),
            "level": line["level"],
            "logger": line["logger"],
            "message": line["message"],
            "fields": _fields_text(line.get("fields") or {})[:500],
        }
        for line in lines
    ]
    cols = [
        Column("at", "at", width=215),
        Column("level", "level", status=True, filter=True, width=110),
        Column("logger", "logger", filter=True, width=170),
        Column("message", "message", filter=True, wrap=True, width=320, mono=True),
        Column("fields", "fields", wrap=True, width=420, mono=True),
    ]
    return table("run-logs", cols, rows, page_size=50)
