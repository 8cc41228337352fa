"""The `dugout` command's shared state: settings (every DUGOUT_* family checked once) and a
database handle, built lazily so `--help` needs neither; the audit trail of CLI actions."""

from __future__ import annotations

import click

from app.audit import AuditEntry, AuditLog, append_audit, settings_audit_log
from app.config import ConfigError, Settings
from app.db import Database
from app.deployment import private_sqlite_files
from app.migrate import upgrade


class Context:
    """Settings and a database handle, built lazily so `--help` needs neither."""

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._db: Database | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                from scheduler.config import load_every_setting

                self._settings = load_every_setting()
            except ConfigError as exc:
                raise click.ClickException(str(exc)) from exc
        return self._settings

    @property
    def db(self) -> Database:
        if self._db is None:
            if self.settings.is_sqlite and not self.settings.database_url:
                private_sqlite_files(self.settings.sqlite_path)
            self._db = Database(self.settings.resolved_database_url)
            if self.settings.is_sqlite:  # the embedded default migrates itself
                self.settings.var_dir.mkdir(parents=True, exist_ok=True)
                assert self._db.engine is not None
                upgrade(self._db.engine)
        return self._db

    @property
    def audit_log(self) -> AuditLog:
        """The audit chain, keyed and checkpointed as the server's is."""
        assert self.db.sessionmaker is not None
        return settings_audit_log(self.settings, self.db.sessionmaker)

    def audit(
        self,
        action: str,
        outcome: str,
        target: str | None = None,
        reason: str | None = None,
        request_seq: int | None = None,
    ) -> int:
        """Record a CLI action in the audit chain (the operator's OS user is the actor); its
        seq. An outcome names its request's seq."""
        import getpass

        return append_audit(
            self.audit_log,
            AuditEntry(
                actor=f"cli:{getpass.getuser()}",
                role="cli",
                action=action,
                outcome=outcome,
                target=target,
                reason=reason,
                source_ip="local",
                request_seq=request_seq,
            ),
        ).seq


pass_ctx = click.make_pass_decorator(Context, ensure=True)
