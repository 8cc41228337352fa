"""Break-glass from a terminal: `dugout jobs list|pause|resume|run`, `dugout breaker list|reset`,
`dugout kill-switch status|engage|lift`.

Locally (this machine holds the database) the commands go through the same policy object as
the buttons (scheduler.breakglass.BreakGlass): the role, a reason, the kill switch, audit
first. The actor is this CLI's operator (`cli:<os user>`, who holds the database and so acts as
an admin, as `dugout users` does), or with `--as USER` that account with its own role. With
`--url` (and `--token`, an API token from `dugout users token`) they call a running server's
JSON API instead, and the server decides with the token's role.

Exit status: 0 done (applied), 1 refused or failed (the sentence says why), 3 accepted but not
applied yet (no scheduler leader took it within --wait seconds; it stays queued).
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from app.accounts import CLI_ROLE, find_user
from app.cli_context import Context, pass_ctx
from app.config import ConfigError

PENDING_EXIT = 3
DEFAULT_WAIT_S = 5.0


class DeskError(click.ClickException):
    """A refusal or failure: one sentence and exit 1."""


# --- the two ways to reach the policy -------------------------------------------------------


class LocalDesk:
    """The policy over this machine's database, acting as the CLI's operator or `--as` user."""

    def __init__(self, ctx: Context, as_user: str | None) -> None:
        from scheduler.breakglass import BreakGlass

        self.ctx = ctx
        sessions = ctx.db.sessionmaker
        assert sessions is not None
        self.sessions = sessions
        self.actor, self.role = self._identity(as_user)
        self._executor: Any = None
        self.policy = BreakGlass(
            sessions=sessions,
            audit=ctx.audit_log,
            celery_configured=ctx.settings.executor == "celery",
            executor=self._build_executor,
            meta=lambda: {
                "source_ip": "local",
                "user_agent": f"dugout-cli (os user {getpass.getuser()})",
            },
        )

    def _identity(self, as_user: str | None) -> tuple[str, str]:
        if as_user is None:
            return f"cli:{getpass.getuser()}", CLI_ROLE
        with self.sessions() as session:
            user = find_user(session, as_user)
            if user is None or not user.is_active:
                raise DeskError(f"no active account named {as_user!r} (see `dugout users list`)")
            return user.username, user.role

    def _build_executor(self) -> Any:
        if self._executor is None:
            from app.pipelines.build import build_context
            from scheduler.alerts import AlertBook
            from scheduler.executors import build_executor
            from scheduler.resilience import source_breakers

            settings, sessions = self.ctx.settings, self.sessions
            self._executor = build_executor(
                settings,
                sessions,
                lambda: build_context(
                    settings,
                    sessions,
                    breakers=source_breakers(sessions, settings),
                    alerts=AlertBook(sessions),
                ),
            )
        return self._executor

    def _refusal(self, call: Callable[[], Any]) -> Any:
        from scheduler.breakglass import BreakGlassRefused

        try:
            return call()
        except BreakGlassRefused as exc:
            hint = " (--reason)" if "reason" in str(exc) else ""
            raise DeskError(f"{exc}{hint}") from exc

    def picture(self) -> dict[str, Any]:
        """Jobs, breakers, the leader and the kill switch, from the database."""
        from scheduler.status import breaker_list, scheduler_picture

        status = scheduler_picture(self.sessions, configured_executor=self.ctx.settings.executor)
        return {**status, "breakers": breaker_list(status)}

    def command(
        self, command: str, target: str | None, reason: str | None, wait_s: float, **params: Any
    ) -> dict[str, Any]:
        """Submit a command through the policy and wait up to `wait_s` for the leader."""
        from app.api_control import command_json

        command_id = self._refusal(
            lambda: self.policy.submit_command(
                command, target, actor=self.actor, role=self.role, reason=reason, params=params
            )
        )
        state = self.policy.wait_for_command(command_id, timeout_s=wait_s)
        assert state is not None
        return command_json(state)

    def run(self, name: str, reason: str | None) -> dict[str, Any]:
        """Run now through the configured executor, here, and wait for the run to end."""
        from app.models import PipelineRun

        run_id = self._refusal(
            lambda: self.policy.run_now(name, actor=self.actor, role=self.role, reason=reason)
        )
        if self._executor is not None:
            self._executor.shutdown(wait=True)  # a local run ends before this process does
        with self.sessions() as session:
            row = session.get(PipelineRun, run_id)
            status = row.status if row is not None else "dispatched"
        return {"run_id": str(run_id), "status": status}


class RemoteDesk:
    """A running server's JSON API, with an API token (the server applies the policy)."""

    def __init__(self, url: str, token: str | None) -> None:
        import httpx

        if not token:
            raise DeskError("--url needs --token (or DUGOUT_API_TOKEN): see `dugout users token`")
        self.url = url.rstrip("/")
        self.http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=45.0,
        )

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        import httpx

        try:
            response = self.http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise DeskError(f"cannot reach {self.url}: {exc}") from exc
        try:
            payload = response.json()
        except ValueError:
            payload = {"error": response.text[:200]}
        if response.status_code >= 400:
            error = payload.get("error") if isinstance(payload, dict) else None
            hint = " (--reason)" if response.status_code == 400 and "reason" in str(error) else ""
            raise DeskError(f"{error or f'HTTP {response.status_code}'}{hint}")
        return payload

    def picture(self) -> dict[str, Any]:
        """Jobs, breakers, the leader and the kill switch, from the server."""
        jobs = self._call("GET", "/api/jobs")
        return {**jobs, "breakers": self._call("GET", "/api/breakers")["items"]}

    def command(
        self, command: str, target: str | None, reason: str | None, wait_s: float, **params: Any
    ) -> dict[str, Any]:
        """The API call for `command`; the command's state as the server answers it."""
        body: dict[str, Any] = {"wait_s": wait_s}
        if reason is not None:
            body["reason"] = reason
        if command == "kill_switch":
            body["action"] = "engage" if params["engage"] else "lift"
            return dict(self._call("POST", "/api/kill-switch", body))
        path = (
            f"/api/breakers/{_segment(target)}/reset"
            if command == "breaker_reset"
            else f"/api/jobs/{_segment(target)}/{command}"
        )
        return dict(self._call("POST", path, body))

    def run(self, name: str, reason: str | None) -> dict[str, Any]:
        """Ask the server to run now; it dispatches and answers at once."""
        body = {"reason": reason} if reason is not None else {}
        return dict(self._call("POST", f"/api/jobs/{_segment(name)}/run", body))


def _segment(name: str | None) -> str:
    from urllib.parse import quote

    return quote(name or "", safe="")


Desk = LocalDesk | RemoteDesk


@dataclass(frozen=True, slots=True)
class Where:
    """Where the commands go: --url/--token for a server, else this machine's database."""

    url: str | None
    token: str | None
    as_user: str | None
    as_json: bool

    def desk(self, ctx: Context) -> Desk:
        if self.url:
            if self.as_user:
                raise DeskError("--as is for local use; with --url the token says who you are")
            return RemoteDesk(self.url, self.token)
        try:
            return LocalDesk(ctx, self.as_user)
        except ConfigError as exc:  # pragma: no cover - Context turns these into ClickException
            raise DeskError(str(exc)) from exc


def _where(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options every break-glass command takes."""
    options = [
        click.option(
            "--url",
            envvar="DUGOUT_URL",
            default=None,
            help="A running Dugout server (else this machine's database).",
        ),
        click.option(
            "--token",
            envvar="DUGOUT_API_TOKEN",
            default=None,
            help="API token for --url (dugout users token NAME).",
        ),
        click.option(
            "--as",
            "as_user",
            default=None,
            help="Locally, act as this account with its role (default: the CLI operator).",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print JSON."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


REASON = click.option("--reason", default=None, help="Why (required; written to the audit log).")
WAIT = click.option(
    "--wait",
    "wait_s",
    default=DEFAULT_WAIT_S,
    show_default=True,
    type=click.FloatRange(0, 30),
    help="Seconds to wait for the scheduler leader to apply it.",
)


# --- output ---------------------------------------------------------------------------------


def _emit(as_json: bool, payload: Any, lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(payload, indent=2, default=str))
    else:
        for line in lines:
            click.echo(line)


def _finish_command(what: str, answer: dict[str, Any], as_json: bool) -> None:
    """Print where a command stands; exit 1 when it failed or expired, 3 while pending."""
    status, result = answer.get("status"), answer.get("result")
    if status == "applied":
        _emit(as_json, answer, [f"{what}: applied: {result or 'done'}"])
        return
    if status in ("failed", "expired"):
        _emit(as_json, answer, [f"{what}: {status}: {result or 'no detail'}"])
        sys.exit(1)
    _emit(
        as_json,
        answer,
        [
            f"{what}: requested and audited (command {answer.get('command_id')}, {status}); "
            "no scheduler leader has applied it yet. It stays queued: the leader applies it "
            "within seconds of taking the lease (see `dugout jobs list` for the leader)."
        ],
    )
    sys.exit(PENDING_EXIT)


def _age(iso: str | None) -> str:
    return iso[:19].replace("T", " ") if iso else "—"


# --- dugout jobs ----------------------------------------------------------------------------


@click.group("jobs")
def jobs_group() -> None:
    """The scheduler's jobs: list, pause, resume, run now (audited; --reason required)."""


@jobs_group.command("list")
@_where
@pass_ctx
def jobs_list(ctx: Context, url: str | None, token: str | None, as_user: str | None,
              as_json: bool) -> None:  # fmt: skip
    """Every job: enabled, breaker, last status, next run; the leader and the kill switch."""
    picture = Where(url, token, as_user, as_json).desk(ctx).picture()
    leader, kill = picture["leader"], picture["kill_switch"]
    lines = [
        f"leader: {leader.get('holder') or 'none'} "
        f"({'alive' if leader.get('alive') else 'NOT alive'}, epoch {leader.get('epoch')})",
        f"kill switch: {'ENGAGED' if kill.get('engaged') else 'lifted'}",
        f"{'JOB':16} {'PIPELINE':16} {'EVERY':>7} {'STATE':8} {'BREAKER':9} {'LAST':11} NEXT (UTC)",
    ]
    for job in picture["jobs"]:
        every = f"{job['interval_s']}s" if job["interval_s"] else "chained"
        lines.append(
            f"{job['job_id']:16} {job['pipeline']:16} {every:>7} "
            f"{'enabled' if job['enabled'] else 'paused':8} {job['breaker']:9} "
            f"{(job.get('last_status') or '—'):11} {_age(job.get('next_run_at'))}"
        )
    _emit(as_json, {k: picture[k] for k in ("leader", "kill_switch", "jobs")}, lines)


def _job_command(command: str) -> Callable[..., None]:
    def run(
        ctx: Context,
        name: str,
        reason: str | None,
        wait_s: float,
        url: str | None,
        token: str | None,
        as_user: str | None,
        as_json: bool,
    ) -> None:
        desk = Where(url, token, as_user, as_json).desk(ctx)
        _finish_command(f"{command} {name}", desk.command(command, name, reason, wait_s), as_json)

    return run


for _command, _help in (
    ("pause", "Stop firing job NAME (applied by the scheduler leader; audited)."),
    ("resume", "Fire job NAME again (applied by the scheduler leader; audited)."),
):
    jobs_group.command(_command, help=_help)(
        click.argument("name")(REASON(WAIT(_where(pass_ctx(_job_command(_command))))))
    )


@jobs_group.command("run")
@click.argument("name")
@REASON
@_where
@pass_ctx
def jobs_run(ctx: Context, name: str, reason: str | None, url: str | None, token: str | None,
             as_user: str | None, as_json: bool) -> None:  # fmt: skip
    """Run job NAME's pipeline (or pipeline NAME) now, through the configured executor; under
    the kill switch only an admin may. Locally it runs here and waits for the run to end."""
    answer = Where(url, token, as_user, as_json).desk(ctx).run(name, reason)
    status = str(answer.get("status"))
    _emit(as_json, answer, [f"run {answer['run_id']} of {name}: {status}"])
    if status in ("failed", "interrupted"):
        sys.exit(1)


# --- dugout breaker -------------------------------------------------------------------------


@click.group("breaker")
def breaker_group() -> None:
    """Circuit breakers: list, reset (audited; --reason required)."""


@breaker_group.command("list")
@_where
@pass_ctx
def breaker_list_cmd(ctx: Context, url: str | None, token: str | None, as_user: str | None,
                     as_json: bool) -> None:  # fmt: skip
    """Every breaker: a job's (closed until it trips) and every one that has tripped."""
    breakers = Where(url, token, as_user, as_json).desk(ctx).picture()["breakers"]
    lines = [f"{'BREAKER':24} {'STATE':10} {'FAILURES':>8} OPENED (UTC)"]
    lines += [
        f"{b['name']:24} {b['state']:10} {b['consecutive_failures']:>8} {_age(b['opened_at'])}"
        for b in breakers
    ]
    _emit(as_json, breakers, lines)


@breaker_group.command("reset")
@click.argument("name")
@REASON
@WAIT
@_where
@pass_ctx
def breaker_reset(ctx: Context, name: str, reason: str | None, wait_s: float, url: str | None,
                  token: str | None, as_user: str | None, as_json: bool) -> None:  # fmt: skip
    """Close breaker NAME so its job runs again (applied by the scheduler leader; audited)."""
    desk = Where(url, token, as_user, as_json).desk(ctx)
    answer = desk.command("breaker_reset", name, reason, wait_s)
    _finish_command(f"reset breaker {name}", answer, as_json)


# --- dugout kill-switch ---------------------------------------------------------------------


@click.group("kill-switch")
def kill_switch_group() -> None:
    """The kill switch: status, engage, lift (admin; audited; --reason required)."""


@kill_switch_group.command("status")
@_where
@pass_ctx
def kill_status(ctx: Context, url: str | None, token: str | None, as_user: str | None,
                as_json: bool) -> None:  # fmt: skip
    """Whether the kill switch is engaged, since when, by whom and why."""
    kill = Where(url, token, as_user, as_json).desk(ctx).picture()["kill_switch"]
    line = (
        f"kill switch ENGAGED since {_age(kill.get('since'))} UTC by {kill.get('by')}: "
        f"{kill.get('reason')}"
        if kill.get("engaged")
        else "kill switch lifted: scheduled runs go ahead"
    )
    _emit(as_json, kill, [line])


def _kill(engage: bool) -> Callable[..., None]:
    def run(
        ctx: Context,
        reason: str | None,
        wait_s: float,
        url: str | None,
        token: str | None,
        as_user: str | None,
        as_json: bool,
    ) -> None:
        desk = Where(url, token, as_user, as_json).desk(ctx)
        answer = desk.command("kill_switch", None, reason, wait_s, engage=engage)
        word = "engaged" if engage else "lifted"
        if answer.get("status") not in ("applied", "failed", "expired"):
            # the switch itself flipped with the command; the leader only pauses the jobs
            _emit(
                as_json,
                answer,
                [
                    f"kill switch {word} (scheduled runs {'stop' if engage else 'resume'} now); "
                    f"no scheduler leader has matched the jobs to it yet (command "
                    f"{answer.get('command_id')})"
                ],
            )
            return
        _finish_command(f"kill switch {word}", answer, as_json)

    return run


kill_switch_group.command(
    "engage", help="Stop every scheduled run at once (admin; only an admin may run by hand)."
)(REASON(WAIT(_where(pass_ctx(_kill(True))))))
kill_switch_group.command("lift", help="Let scheduled runs go ahead again (admin).")(
    REASON(WAIT(_where(pass_ctx(_kill(False)))))
)

COMMANDS = (jobs_group, breaker_group, kill_switch_group)
