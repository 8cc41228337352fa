"""Why a run or a stage ended as it did, in plain text: skip, throttle and partial reasons read
from what the ledger stored (a skipped row's `summary.reason`, each stage's detail), never a
Python dict. Every runs table, the run page, a job's last status and `dugout run` use these."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

UPSTREAM = "upstream stage "  # the prefix of a stage skipped because the one before it was


def plain(value: Any) -> str:
    """A stored reason as text: strings as they are, mappings as `key: value; ...`."""
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {plain(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value)
    return str(value)


def stage_reason(detail: Mapping[str, Any] | None) -> str:
    """A stage's own reason: market closed, its skip reason, sources failed or deferred."""
    detail = detail or {}
    parts: list[str] = []
    if detail.get("market_closed"):
        parts.append("market closed")
    if detail.get("reason"):
        parts.append(plain(detail["reason"]))
    elif detail.get("stale_sources"):
        parts.append("stale sources: " + plain(detail["stale_sources"]))
    if detail.get("failed_sources"):
        parts.append("sources failed: " + plain(detail["failed_sources"]))
    if detail.get("deferred_sources"):
        parts.append("sources deferred: " + plain(detail["deferred_sources"]))
    return "; ".join(parts)


def _root_skip(stages: Mapping[str, Mapping[str, Any]]) -> str:
    """The reason behind a run's skipped stages: a closed market, else the first skip that is
    not merely "upstream stage X skipped"."""
    if any(s.get("market_closed") for s in stages.values()):
        return "market closed"
    reasons = [stage_reason(s) for s in stages.values() if s.get("status") == "skipped"]
    own = [r for r in reasons if r and not r.startswith(UPSTREAM)]
    return (own or reasons or [""])[0]


def run_reason(status: str, summary: Mapping[str, Any] | None, error: str | None = None) -> str:
    """One line on why a run is `status`: the stored skip reason of a run that never started
    its stages, else its skipped stages and their cause, then its error for a partial or
    failed run. Empty for a plain success."""
    summary = summary or {}
    if summary.get("reason") and not isinstance(summary["reason"], Mapping):
        return plain(summary["reason"])  # a skip (kill switch, breaker, throttle, upstream)
    stages = {k: v for k, v in summary.items() if isinstance(v, Mapping)}
    parts: list[str] = []
    skipped = [s for s in stages.values() if s.get("status") == "skipped"]
    if skipped and status != "skipped":
        word = "stage" if len(skipped) == 1 else "stages"
        why = _root_skip(stages)
        parts.append(f"{len(skipped)} {word} skipped" + (f": {why}" if why else ""))
    elif stages:
        why = _root_skip(stages) if status == "skipped" else ""
        if why:
            parts.append(why)
    if status in ("partial", "failed", "interrupted") and error:
        parts.append(error)
    elif status in ("partial", "failed"):
        troubled = [stage_reason(s) for s in stages.values() if s.get("status") == status]
        parts += [t for t in troubled if t]
    return "; ".join(parts)


def status_with_reason(status: str, reason: str) -> str:
    """`SUCCEEDED (2 stages skipped: market closed)`, or the status alone."""
    return f"{status.upper()} ({reason})" if reason else status.upper()
