"""`dugout live`: the status picture kept on screen, compact under 100 columns, with a footer.

A terminal of 80x24 gets one line of health, a narrow SLO table, the open alerts and as many of
the last runs as fit; a wider one gets `dugout status`'s tables. Either way the last line says
how often the screen refreshes, how to leave and when it was read.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import time
from collections.abc import Iterator
from typing import Any

import click
from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from app.cli_status import VERDICT_STYLE, _context, _pct, collect_status, render_status
from app.observability.slo import LEVEL_WORDS
from app.observability.status import StatusReport

COMPACT_BELOW = 100  # columns
RUN_STYLE = {"succeeded": "green", "failed": "red", "partial": "yellow"}


def footer(report: StatusReport, interval: float) -> Text:
    """The screen's last line: refresh pace, how to leave, the moment it shows."""
    line = Text(f"refresh {interval:g}s · q or Ctrl-C to quit · ", style="dim")
    line.append(f"{report.now:%Y-%m-%d %H:%M:%S} UTC", style="dim")
    return line


def render_live(report: StatusReport, width: int, height: int, interval: float) -> Group:
    """The live screen for a terminal of `width` x `height`, footer last."""
    body = compact_status(report, width, height) if width < COMPACT_BELOW else render_status(report)
    return Group(body, footer(report, interval))


def _table(title: str, *columns: tuple[str, int | None]) -> Table:
    """A borderless table across the screen whose cells never wrap: each column is `(name,
    width)`, a width of None takes the room left, and a value too long ends in an ellipsis."""
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1),
        show_edge=False,
        expand=True,
    )
    for name, width in columns:
        table.add_column(
            name, no_wrap=True, overflow="ellipsis", width=width, ratio=None if width else 1
        )
    return table


def _clock(iso: str) -> str:
    """HH:MM:SS of an ISO timestamp (the footer carries the date)."""
    return iso[11:19] if len(iso) >= 19 else iso


def compact_status(report: StatusReport, width: int, height: int) -> Group:
    """Health on one line, then SLOs, alerts and the last runs that fit in `height` lines."""
    head = Text(f"Dugout {report.verdict.upper()}  ", style=VERDICT_STYLE[report.verdict])
    for c in report.checks:
        head.append(f"{c.name} ", style="")
        head.append("ok  " if c.ok else "NO  ", style="green" if c.ok else "bold red")
    failing = [
        Text(f"  {c.name}: {c.detail}", style="red", no_wrap=True, overflow="ellipsis")
        for c in report.checks
        if not c.ok
    ]
    parts: list[Any] = [head, *failing]
    used = 1 + len(failing)
    if report.slos:
        slos = _table(
            "SLOs (burn rate over 1 h and 6 h)",
            ("SLO", None),
            ("SLI 30d", 7),
            ("budget", 7),
            ("1h", 6),
            ("6h", 6),
            ("alert", 16),
        )
        for s in report.slos:
            b = s["burn_rates"]
            slos.add_row(
                s["title"],
                _pct(s["sli"]),
                _pct(s["error_budget_remaining"], 1),
                f"{b['1h']:.1f}x",
                f"{b['6h']:.1f}x",
                LEVEL_WORDS[s.get("shown_level") or s["level"]],
            )
        parts.append(slos)
        used += 3 + len(report.slos)
    alerts = _table("Open alerts", ("severity", 16), ("alert", None), ("since", 8))
    for a in report.alerts:
        alerts.add_row(
            LEVEL_WORDS.get(a["severity"], a["severity"]), a["title"], _clock(str(a["fired_at"]))
        )
    if not report.alerts:
        alerts.add_row("-", "none", "")
    parts.append(alerts)
    used += 3 + max(len(report.alerts), 1)
    stale = [s for s in report.sources if s["last_error"]]
    for s in stale:
        parts.append(
            Text(
                f"source {s['source']}: {s['last_error']}",
                style="yellow",
                no_wrap=True,
                overflow="ellipsis",
            )
        )
    used += len(stale)
    room = max(height - used - 4, 1)  # the runs table's title and header, and the footer
    runs = _table(
        "Last runs",
        ("started", 8),
        ("pipeline", 15),
        ("status", 11),
        ("ms", 6),
        ("why", None),
    )
    for r in report.runs[:room]:
        style = RUN_STYLE.get(r["status"], "")
        runs.add_row(
            _clock(r["started_at"]),
            r["pipeline"],
            Text(r["status"], style=style),
            "" if r["duration_ms"] is None else f"{r['duration_ms']:.0f}",
            r.get("reason") or r["error"] or "",
        )
    parts.append(runs)
    return Group(*parts)


@contextlib.contextmanager
def _keys() -> Iterator[bool]:
    """Single keys from a terminal (cbreak mode, restored after); False when stdin is no tty."""
    if not sys.stdin.isatty():
        yield False
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield True
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _quit_within(seconds: float, keys: bool) -> bool:
    """Wait up to `seconds` (screen pacing, not time logic); True if q was pressed."""
    if not keys:
        time.sleep(seconds)
        return False
    ready, _, _ = select.select([sys.stdin], [], [], seconds)
    return bool(ready) and os.read(sys.stdin.fileno(), 1).lower() == b"q"


@click.command("live")
@click.option(
    "--interval",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0.5, 3600),
    help="Seconds between refreshes.",
)
@click.option("--iterations", default=0, type=click.IntRange(0), help="Stop after N (0: never).")
def live_cmd(interval: float, iterations: int) -> None:
    """A live terminal view of health, SLOs, alerts and runs (q or Ctrl-C to leave)."""
    ctx = _context()
    console = Console(file=sys.stdout)

    def screen() -> Group:
        width, height = console.size
        return render_live(collect_status(ctx), width, height, interval)

    done = 0
    with _keys() as keys, Live(screen(), console=console, auto_refresh=False) as live:
        try:
            while True:
                done += 1
                if iterations and done >= iterations:
                    break
                if _quit_within(interval, keys):
                    break
                live.update(screen(), refresh=True)
        except KeyboardInterrupt:
            pass
