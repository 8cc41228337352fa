"""Burn-rate alerts: raised into the Alert table once per key, resolved when they clear, and
optionally posted to a Slack-compatible webhook with retries, through a bounded queue whose own
thread does the posting, so a dead webhook never holds up the run that raised the alert."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import httpx
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from app.models import Alert
from app.observability.slo import ALERT_LEVELS, SloReport, slo_reports

log = logging.getLogger("dugout.alerts")
_ADVISORY_KEY = 0x5D06A1E7  # serialises evaluations across workers on PostgreSQL


def alert_key(slo: str, severity: str) -> str:
    """The stable key of one SLO's alert of one severity."""
    return f"slo:{slo}:{severity}"


@dataclass(frozen=True, slots=True)
class AlertChange:
    """An alert that started or stopped firing in this evaluation."""

    key: str
    severity: str
    title: str
    message: str
    status: str  # firing | resolved
    labels: dict[str, Any]


@dataclass(slots=True)
class Evaluation:
    """What one evaluation found: the reports and the alerts that changed state."""

    reports: list[SloReport]
    changes: list[AlertChange] = field(default_factory=list)
    still_firing: list[str] = field(default_factory=list)


def _describe(report: SloReport, severity: str) -> tuple[str, str, dict[str, Any]]:
    rules = [r for r in report.firing_rules() if r.severity == severity]
    burns = ", ".join(
        f"{r.long} {report.burn_rate(r.long):.1f}x & {r.short} {report.burn_rate(r.short):.1f}x "
        f"(limit {r.factor}x)"
        for r in rules
    )
    budget = report.error_budget_remaining
    left = f"Error budget left over 30 d: {'n/a' if budget is None else f'{budget:.1%}'}."
    if severity == "budget_exhausted":
        title = f"{report.slo.title}: error budget exhausted"
        message = (
            f"{report.slo.objective}. The 30-day error budget is spent "
            f"({report.bad} bad of {report.total} events); no burn-rate rule need fire. {left}"
        )
    else:
        title = f"{report.slo.title}: error budget burning too fast ({severity})"
        message = f"{report.slo.objective}. Burn rate {burns}. {left}"
    labels = {
        "slo": report.slo.name,
        "severity": severity,
        "burn_rates": {w: round(report.burn_rate(w), 3) for w in report.counts if w != "30d"},
        "rules": [f"{r.long}&{r.short}>{r.factor}" for r in rules],
    }
    return title, message, labels


def apply_alerts(session: Session, reports: Sequence[SloReport], now: datetime) -> Evaluation:
    """Raise, refresh or resolve the alert of each SLO and severity inside `session`."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})
    result = Evaluation(list(reports))
    open_alerts = {a.key: a for a in session.scalars(select(Alert).where(Alert.status == "firing"))}
    for report in reports:
        for severity in ALERT_LEVELS:
            key = alert_key(report.slo.name, severity)
            current = open_alerts.get(key)
            if report.firing(severity):
                title, message, labels = _describe(report, severity)
                if current is None:
                    session.add(
                        Alert(
                            key=key,
                            severity=severity,
                            title=title,
                            message=message,
                            labels=labels,
                            status="firing",
                            fired_at=now,
                            last_seen_at=now,
                        )
                    )
                    result.changes.append(
                        AlertChange(key, severity, title, message, "firing", labels)
                    )
                else:
                    current.last_seen_at, current.message, current.labels = now, message, labels
                    result.still_firing.append(key)
            elif current is not None:
                current.status, current.resolved_at = "resolved", now
                result.changes.append(
                    AlertChange(
                        key,
                        severity,
                        current.title,
                        "The burn rate is back under its limits.",
                        "resolved",
                        dict(current.labels or {}),
                    )
                )
    return result


class Notifier(Protocol):
    """Something that takes an alert change: a webhook (blocking) or a delivery queue."""

    def send(self, change: AlertChange) -> bool:
        """Deliver or accept `change`; never raises."""


def evaluate(
    sessions: sessionmaker[Session],
    now: datetime,
    notifier: Notifier | None = None,
) -> Evaluation:
    """Compute every SLO from the ledger, store alert changes, then notify (after commit)."""
    with sessions.begin() as session:
        result = apply_alerts(session, slo_reports(session, now), now)
    for change in result.changes:
        log.warning(
            "alert %s", change.status, extra={"alert": change.key, "severity": change.severity}
        )
        if notifier is not None:
            notifier.send(change)
    return result


class WebhookNotifier:
    """Posts alert changes as Slack-compatible JSON; retries 5xx, 429 and network errors."""

    def __init__(
        self,
        url: str,
        *,
        attempts: int = 4,
        backoff_s: float = 1.0,
        timeout_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url, self.attempts, self.backoff_s = url, max(1, attempts), backoff_s
        self.sleep = sleep
        self.client = httpx.Client(timeout=timeout_s, transport=transport)

    @staticmethod
    def payload(change: AlertChange) -> dict[str, Any]:
        """Slack's incoming-webhook shape: `text`, plus an attachment with the details."""
        icon = ":rotating_light:" if change.status == "firing" else ":white_check_mark:"
        return {
            "text": f"{icon} [{change.status.upper()}] {change.title}",
            "attachments": [
                {
                    "color": "danger" if change.status == "firing" else "good",
                    "text": change.message,
                    "fields": [
                        {"title": "severity", "value": change.severity, "short": True},
                        {"title": "alert", "value": change.key, "short": True},
                    ],
                }
            ],
        }

    def send(self, change: AlertChange) -> bool:
        """Deliver one change; True on a 2xx. Never raises: a failed delivery is logged."""
        delay = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            retry_after: float | None = None
            try:
                response = self.client.post(self.url, json=self.payload(change))
                if response.is_success:
                    return True
                if response.status_code != 429 and response.status_code < 500:
                    log.error("webhook refused the alert", extra={"status": response.status_code})
                    return False
                raw = response.headers.get("Retry-After", "")
                retry_after = float(raw) if raw.replace(".", "", 1).isdigit() else None
                problem = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if attempt < self.attempts:
                log.warning(
                    "webhook attempt failed; retrying",
                    extra={"attempt": attempt, "problem": problem},
                )
                self.sleep(min(60.0, retry_after if retry_after is not None else delay))
                delay *= 2
        log.error("webhook delivery failed", extra={"alert": change.key, "problem": problem})
        return False

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.client.close()


class AlertDelivery:
    """A bounded in-process queue of alert changes, posted by one daemon thread of its own.

    `send` returns at once: the run or evaluation that raised the alert never waits on the
    webhook's retries and timeouts. When the queue is full the oldest change is dropped (and
    counted), so a webhook that is down for hours cannot grow memory without bound.
    """

    def __init__(
        self,
        notifier: WebhookNotifier,
        *,
        maxsize: int = 100,
        on_outcome: Callable[[str], None] | None = None,
    ) -> None:
        self.notifier, self.maxsize = notifier, max(1, maxsize)
        self.on_outcome = on_outcome or (lambda _outcome: None)
        self._queue: deque[AlertChange] = deque()
        self._ready = threading.Condition()
        self._busy = False
        self._closed = False
        self._thread = threading.Thread(
            target=self._work, name="dugout-alert-delivery", daemon=True
        )
        self._thread.start()

    def send(self, change: AlertChange) -> bool:
        """Queue `change` for delivery; True unless the queue is closed."""
        with self._ready:
            if self._closed:
                return False
            if len(self._queue) >= self.maxsize:
                dropped = self._queue.popleft()
                log.error(
                    "alert delivery queue full; dropped the oldest", extra={"alert": dropped.key}
                )
                self.on_outcome("dropped")
            self._queue.append(change)
            self._ready.notify_all()
        return True

    @property
    def pending(self) -> int:
        """Changes queued or being delivered right now."""
        with self._ready:
            return len(self._queue) + (1 if self._busy else 0)

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until every queued change was handled (for shutdown and tests)."""
        deadline = time.monotonic() + timeout_s
        with self._ready:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._ready.wait(left)
        return True

    def close(self) -> None:
        """Stop taking changes; the thread ends after the one it is delivering."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closed:
                    self._ready.wait()
                if not self._queue:
                    return
                change = self._queue.popleft()
                self._busy = True
            try:
                delivered = self.notifier.send(change)
                self.on_outcome("delivered" if delivered else "failed")
            except Exception:  # never let the worker die: the next change still goes out
                log.exception("alert delivery failed", extra={"alert": change.key})
                self.on_outcome("failed")
            finally:
                with self._ready:
                    self._busy = False
                    self._ready.notify_all()
