"""Signed checkpoints of the audit chain, kept outside the audit table: (count, head MAC) after
every append, to an append-only file (0600), the JSON log and a Prometheus gauge. Whoever can
edit the table cannot move these, so `dugout audit verify` can tell a truncated tail from an
intact chain."""

from __future__ import annotations

import hmac
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path

log = logging.getLogger("dugout.audit")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The chain had `seq` records and its newest one's MAC was `head` at time `at`."""

    seq: int
    head: str
    at: str
    mac: str

    def line(self) -> str:
        """One JSON line for the checkpoint file."""
        return json.dumps(
            {"seq": self.seq, "head": self.head, "at": self.at, "mac": self.mac},
            separators=(",", ":"),
        )


def sign_checkpoint(key: bytes, seq: int, head: str, at: str) -> Checkpoint:
    """A checkpoint whose MAC binds the count, the head and the time to the audit key."""
    mac = hmac.new(key, f"checkpoint:{seq}:{head}:{at}".encode(), sha256).hexdigest()
    return Checkpoint(seq, head, at, mac)


def checkpoint_is_genuine(key: bytes, cp: Checkpoint) -> bool:
    """True when `cp` was signed with `key`."""
    return hmac.compare_digest(sign_checkpoint(key, cp.seq, cp.head, cp.at).mac, cp.mac)


@dataclass(frozen=True, slots=True)
class CheckpointReading:
    """The newest genuine checkpoint in the file (None when there is none) and forged lines."""

    newest: Checkpoint | None
    forged: int
    exists: bool


class CheckpointFile:
    """An append-only file of checkpoint lines, created 0600 (O_APPEND: concurrent writers'
    lines never interleave)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, cp: Checkpoint) -> None:
        """Add one line and flush it to the file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (cp.line() + "\n").encode())
        finally:
            os.close(fd)

    def read(self, key: bytes) -> CheckpointReading:
        """The newest checkpoint signed with `key`, and how many lines were not."""
        if not self.path.exists():
            return CheckpointReading(None, 0, False)
        newest: Checkpoint | None = None
        forged = 0
        for raw in self.path.read_text(errors="replace").splitlines():
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
                cp = Checkpoint(
                    int(data["seq"]), str(data["head"]), str(data["at"]), str(data["mac"])
                )
            except (ValueError, KeyError, TypeError):
                forged += 1
                continue
            if not checkpoint_is_genuine(key, cp):
                forged += 1
            elif newest is None or cp.seq > newest.seq:
                newest = cp
        return CheckpointReading(newest, forged, True)


def log_checkpoint(cp: Checkpoint) -> None:
    """The checkpoint in the JSON log, for a copy that leaves the machine."""
    log.info(
        "audit checkpoint",
        extra={"audit_seq": cp.seq, "audit_head": cp.head, "audit_at": cp.at, "audit_mac": cp.mac},
    )


def checkpoint_gauge(registry: object) -> Callable[[Checkpoint], None]:
    """A `dugout_audit_checkpoint_records` gauge on `registry`, set by every checkpoint."""
    from prometheus_client import CollectorRegistry, Gauge

    assert isinstance(registry, CollectorRegistry)
    gauge = Gauge(
        "dugout_audit_checkpoint_records",
        "Audit records in the chain at the newest checkpoint (never goes down).",
        registry=registry,
        multiprocess_mode="max",
    )

    def observe(cp: Checkpoint) -> None:
        gauge.set(cp.seq)

    return observe
