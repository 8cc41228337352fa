"""The admin page's break-glass controls through /_dash-update-component, for every role:
ask (reason + confirmation), act, audit, show the outcome; forged POSTs by lower roles refused."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from dash import Input, Output
from dash._utils import create_callback_id
from sqlalchemy import func, select

from app.models import AuditRecord, JobSchedule, PipelineRun, SchedulerCommand, User
from scheduler import stop_scheduler
from scheduler.status import kill_state

JOB_ASK = "..job-confirm.displayed...job-confirm.message...job-intent.data...job-outcome.children.."


@pytest.fixture
def app(make_app):
    """The app, with actions that do not wait for a scheduler leader (none runs here)."""
    application = make_app(command_wait_s=0.0)
    yield application
    stop_scheduler(application)  # joins the executor's threads of any run-now


def _props(response) -> dict[str, Any]:
    assert response.status_code == 200, response.data
    return json.loads(response.data)["response"]


def _audit(db, action: str, outcome: str | None = None) -> list[AuditRecord]:
    with db.session() as s:
        q = select(AuditRecord).where(AuditRecord.action == action)
        if outcome:
            q = q.where(AuditRecord.outcome == outcome)
        return list(s.scalars(q.order_by(AuditRecord.seq)).all())


def _count(db, model) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _page(client, path: str = "/admin") -> str:
    return json.dumps(_props(client.page(path)))


def _ask_job(client, target: str | None, action: str, reason: str | None):
    return client.callback(
        JOB_ASK,
        [{"id": "job-apply", "property": "n_clicks", "value": 1}],
        state=[
            {"id": "job-target", "property": "value", "value": target},
            {"id": "job-action", "property": "value", "value": action},
            {"id": "job-reason", "property": "value", "value": reason},
        ],
    )


def _do(client, prefix: str, intent: dict[str, Any] | None, extra_output: str = ""):
    """Press OK in `prefix`'s confirmation dialog with this intent (possibly forged)."""
    if prefix == "kill":
        return _do_kill(client, intent, "ENGAGE")
    h = _hash(f"{prefix}-confirm", "submit_n_clicks")
    output = f"..{prefix}-outcome.children@{h}...{prefix}-reason.value...{prefix}-intent.data@{h}.."
    if extra_output:  # the accounts form: its outcome, the users table's refresh, the form
        output = (
            f"..{prefix}-outcome.children@{h}...{extra_output}...{prefix}-reason.value"
            f"...{prefix}-intent.data@{h}.."
        )
    return client.callback(
        output,
        [{"id": f"{prefix}-confirm", "property": "submit_n_clicks", "value": 1}],
        state=[{"id": f"{prefix}-intent", "property": "data", "value": intent}],
    )


KILL_DONE = (
    "kill-outcome.children", "kill-reason.value", "kill-intent.data", "kill-modal.is_open",
    "kill-modal-outcome.children", "kill-state.children", "kill-engage.disabled",
    "kill-lift.disabled",
)  # fmt: skip


def _do_kill(client, intent: dict[str, Any] | None, typed: str | None):
    """Press Confirm in the kill switch's dialog, having typed `typed`."""
    h = _hash("kill-confirm-ok", "n_clicks")
    outputs = [o if o == "kill-reason.value" else f"{o}@{h}" for o in KILL_DONE]
    return client.callback(
        ".." + "...".join(outputs) + "..",
        [{"id": "kill-confirm-ok", "property": "n_clicks", "value": 1}],
        state=[
            {"id": "kill-intent", "property": "data", "value": intent},
            {"id": "kill-typed", "property": "value", "value": typed},
        ],
    )


def _hash(component: str, prop: str) -> str:
    """The suffix Dash gives outputs declared with allow_duplicate=True for this input."""
    output = Output("any", "children", allow_duplicate=True)
    key = create_callback_id(output, [Input(component, prop)])
    return key.split("@", 1)[1]


def test_layout_shows_each_role_only_its_controls(login_as) -> None:
    operator = login_as("operator")
    page = _page(operator)
    assert '"job-apply"' in page and '"breaker-reset"' in page
    assert '"executor-apply"' in page
    assert '"kill-engage"' not in page and '"user-apply"' not in page
    for path in ("/admin/accounts", "/admin/audit"):  # the admin pages render only a refusal
        shown = _page(operator, path)
        assert "page-forbidden" in shown and '"user-apply"' not in shown, path
        assert '"audit-verify"' not in shown, path
    admin = login_as("admin")
    page = _page(admin)
    for control in ("job-apply", "breaker-reset", "kill-engage", "kill-lift"):
        assert f'"{control}"' in page
    assert '"user-apply"' in _page(admin, "/admin/accounts")
    assert '"audit-verify"' in _page(admin, "/admin/audit")


def test_run_now_asks_for_a_reason_and_confirmation_then_starts_a_run(login_as, db) -> None:
    operator = login_as("operator")
    refused = _props(_ask_job(operator, "collection", "run_now", "  "))
    assert refused["job-confirm"]["displayed"] is False
    assert "reason is required" in json.dumps(refused["job-outcome"])

    asked = _props(_ask_job(operator, "collection", "run_now", "odds look stale"))
    assert asked["job-confirm"]["displayed"] is True
    assert "odds look stale" in asked["job-confirm"]["message"]
    intent = asked["job-intent"]["data"]
    assert _count(db, PipelineRun) == 0  # asking does nothing

    done = json.dumps(_props(_do(operator, "job", intent)))
    assert "Started collection" in done and "job-run-link" in done
    deadline = time.monotonic() + 30
    while True:  # the executor runs it in its own thread
        with db.session() as s:
            run = s.scalars(select(PipelineRun)).first()
            if run is not None and run.finished_at is not None:
                break
        assert time.monotonic() < deadline, "the run never finished"
        time.sleep(0.05)
    assert str(run.id) in done
    assert (run.pipeline, run.trigger, run.actor) == ("collection", "manual", operator.username)
    (record,) = _audit(db, "run_now", "requested")
    assert record.actor == operator.username and record.reason == "odds look stale"
    assert record.target == f"collection:{run.id}"


def test_pause_writes_an_audited_command_and_shows_where_it_stands(login_as, db) -> None:
    with db.session() as s:
        s.add(JobSchedule(job_id="grading", pipeline="grading", interval_s=900, priority="default"))
    operator = login_as("operator")
    intent = _props(_ask_job(operator, "grading", "pause", "games delayed"))["job-intent"]["data"]
    done = json.dumps(_props(_do(operator, "job", intent)))
    with db.session() as s:
        (command,) = s.scalars(select(SchedulerCommand)).all()
    assert (command.command, command.target, command.status) == ("pause", "grading", "pending")
    assert str(command.id) in done and "pending" in done  # no leader here to apply it
    assert _audit(db, "pause", "requested")[0].reason == "games delayed"


EXECUTOR_ASK = (
    "..executor-confirm.displayed...executor-confirm.message...executor-intent.data"
    "...executor-outcome.children.."
)


def test_operator_switches_the_executor_with_an_audited_command(login_as, app, db) -> None:
    from scheduler.status import scheduler_status

    operator = login_as("operator")
    asked = _props(
        operator.callback(
            EXECUTOR_ASK,
            [{"id": "executor-apply", "property": "n_clicks", "value": 1}],
            state=[
                {"id": "executor-target", "property": "value", "value": "local"},
                {"id": "executor-reason", "property": "value", "value": "redis is down"},
            ],
        )
    )
    assert asked["executor-confirm"]["displayed"] is True
    intent = asked["executor-intent"]["data"]
    assert scheduler_status(app)["executor"]["override"] is None  # asking does nothing

    done = json.dumps(_props(_do(operator, "executor", intent)))
    assert "Switch executor to local" in done
    executor = scheduler_status(app)["executor"]
    assert (executor["mode"], executor["override"]) == ("local", "local")
    assert all(b["name"] != "executor" for b in scheduler_status(app)["breakers"])
    with db.session() as s:
        (command,) = s.scalars(select(SchedulerCommand)).all()
    assert (command.command, command.params["mode"]) == ("executor", "local")
    assert _audit(db, "executor", "requested")[0].reason == "redis is down"

    viewer = login_as("viewer")
    forged = {"action": "switch executor to", "target": "celery", "reason": "forged"}
    assert _do(viewer, "executor", forged).status_code == 403
    assert scheduler_status(app)["executor"]["mode"] == "local"
    assert [r.role for r in _audit(db, "executor", "denied")] == ["viewer"]


def test_forged_posts_by_lower_roles_are_refused_audited_and_change_nothing(
    login_as, app, db
) -> None:
    viewer = login_as("viewer")
    forged_run = {"action": "run_now", "target": "collection", "reason": "forged"}
    assert _do(viewer, "job", forged_run).status_code == 403
    assert _ask_job(viewer, "collection", "run_now", "forged").status_code == 403
    assert (
        _do(
            viewer, "breaker", {"action": "reset breaker", "target": "collection", "reason": "x"}
        ).status_code
        == 403
    )
    operator = login_as("operator")
    forged_kill = {"action": "engage the kill switch", "target": "all", "reason": "forged"}
    assert _do(operator, "kill", forged_kill).status_code == 403
    forged_user = {"action": "add", "target": "mallory", "role": "admin", "reason": "forged"}
    r = _do(operator, "user", forged_user, "admin-accounts-refresh.n_intervals")
    assert r.status_code == 403

    assert _count(db, PipelineRun) == 0 and _count(db, SchedulerCommand) == 0
    assert kill_state(app)["engaged"] is False
    with db.session() as s:
        assert s.scalar(select(User).where(User.username == "mallory")) is None
    denied = {(r.action, r.role) for r in _audit(db, "job_control", "denied")}
    denied |= {(r.action, r.role) for r in _audit(db, "breaker_reset", "denied")}
    denied |= {(r.action, r.role) for r in _audit(db, "kill_switch", "denied")}
    denied |= {(r.action, r.role) for r in _audit(db, "manage_users", "denied")}
    assert denied == {
        ("job_control", "viewer"),
        ("breaker_reset", "viewer"),
        ("kill_switch", "operator"),
        ("manage_users", "operator"),
    }


KILL_ASK = (
    "..kill-modal.is_open...kill-question.children...kill-intent.data...kill-outcome.children"
    "...kill-typed.value...kill-typed-group.hidden...kill-modal-outcome.children.."
)


def _ask_kill(client, action: str, reason: str | None):
    return client.callback(
        KILL_ASK,
        [
            {
                "id": "kill-engage",
                "property": "n_clicks",
                "value": 1 if action == "engage" else None,
            },
            {"id": "kill-lift", "property": "n_clicks", "value": 1 if action == "lift" else None},
        ],
        state=[{"id": "kill-reason", "property": "value", "value": reason}],
        changedPropIds=[f"kill-{action}.n_clicks"],
    )


def test_kill_switch_banner_on_every_page_while_engaged(login_as, db) -> None:
    admin, viewer = login_as("admin"), login_as("viewer")

    def banner() -> str:
        r = viewer.callback(
            "kill-switch-banner.children",
            [
                {"id": "shell-refresh", "property": "n_intervals", "value": 1},
                {"id": "_pages_location", "property": "pathname", "value": "/strategies"},
            ],
        )
        return json.dumps(_props(r))

    assert "Kill switch engaged" not in banner()
    asked = _props(_ask_kill(admin, "engage", "bad feed"))
    assert asked["kill-modal"]["is_open"] is True
    assert "engaged" in json.dumps(_props(_do(admin, "kill", asked["kill-intent"]["data"])))
    shown = banner()
    assert "Kill switch engaged" in shown and admin.username in shown and "bad feed" in shown
    # under the switch an operator may not run a pipeline; the refusal is audited
    operator = login_as("operator")
    refused = json.dumps(
        _props(_do(operator, "job", {"action": "run_now", "target": "grading", "reason": "try"}))
    )
    assert "kill switch is engaged" in refused and _count(db, PipelineRun) == 0
    lift = {"action": "lift the kill switch", "target": "all pipelines", "reason": "feed fixed"}
    _props(_do(admin, "kill", lift))
    assert "Kill switch engaged" not in banner()
    assert [r.target for r in _audit(db, "kill_switch", "requested")] == ["engage", "lift"]


def test_admin_manages_accounts_with_a_password_shown_once(login_as, app, db) -> None:
    admin = login_as("admin")
    add = {"action": "add", "target": "dana", "role": "operator", "reason": "new on-call"}
    done = _props(_do(admin, "user", add, "admin-accounts-refresh.n_intervals"))
    text = json.dumps(done)
    assert "Added dana as operator" in text
    password = done["user-outcome"]["children"]["props"]["children"][1]["props"]["children"]
    from tests.conftest import Client

    dana = Client(app)
    assert dana.login("dana", password).status_code == 302
    self_demote = {"action": "set_role", "target": admin.username, "role": "viewer", "reason": "x"}
    refused = json.dumps(
        _props(_do(admin, "user", self_demote, "admin-accounts-refresh.n_intervals"))
    )
    assert "cannot demote or disable your own account" in refused
    outcomes = [(r.action, r.outcome) for r in _audit(db, "user_add")]
    assert outcomes == [("user_add", "requested"), ("user_add", "succeeded")]
    assert _audit(db, "user_set_role", "refused")


def test_every_callback_of_the_privileged_pages_is_a_guarded_callback(app) -> None:
    from app.auth import guard_of

    dash_app = app.extensions["dugout.dash"]
    app.test_client().get("/healthz")  # Dash moves page callbacks onto the app on a request
    guards: dict[str, list[str | None]] = {}
    for entry in dash_app.callback_map.values():
        fn = entry.get("callback")
        module = getattr(fn, "__module__", "").rsplit(".", 1)[-1]
        if module in {"admin", "accounts", "audit"}:
            guards.setdefault(module, []).append(guard_of(fn))
    assert sorted(guards["admin"]) == ["admin"] * 3 + ["operator"] * 7
    assert guards["accounts"] == ["admin"] * 3 and guards["audit"] == ["admin"] * 3  # + its blocks


def test_a_forged_intent_with_a_huge_or_empty_reason_is_refused(login_as, db) -> None:
    """Before the fix an operator's 5 MB reason went into the audit log."""
    operator = login_as("operator")
    for reason in ("x" * 1000, "", None):
        intent = {"action": "run_now", "target": "collection", "reason": reason}
        shown = json.dumps(_props(_do(operator, "job", intent)))
        assert "Refused" in shown and "reason" in shown
    assert _count(db, PipelineRun) == 0
    with db.session() as s:
        assert all(len(r.reason or "") <= 2000 for r in s.scalars(select(AuditRecord)))


# --- confirmation polish: plain sentences, checked before asking, forms spent after acting ----


def _seed_grading(db) -> None:
    with db.session() as s:
        s.add(JobSchedule(job_id="grading", pipeline="grading", interval_s=900, priority="default"))


def test_confirmations_are_plain_sentences_asked_only_after_the_checks(login_as, db) -> None:
    _seed_grading(db)
    operator = login_as("operator")
    asked = _props(_ask_job(operator, "grading", "pause", "games delayed"))
    message = asked["job-confirm"]["message"]
    assert message.startswith("Pause job grading? It stops firing until someone resumes it.")
    assert "Reason: games delayed" in message and "grading grading" not in message
    run = _props(_ask_job(operator, "grading", "run_now", "stale"))["job-confirm"]["message"]
    assert run.startswith("Run grading now? It starts at once through the configured executor.")
    unknown = _props(_ask_job(operator, "nope", "pause", "x"))
    assert unknown["job-confirm"]["displayed"] is False
    assert "No job 'nope' in the schedule." in json.dumps(unknown["job-outcome"])
    admin = login_as("admin")
    _props(_do_kill(admin, _props(_ask_kill(admin, "engage", "bad feed"))["kill-intent"]["data"],
                    "ENGAGE"))  # fmt: skip
    blocked = _props(_ask_job(operator, "grading", "run_now", "please"))
    assert blocked["job-confirm"]["displayed"] is False  # refused before any dialog
    assert "kill switch is engaged" in json.dumps(blocked["job-outcome"])
    assert _audit(db, "run_now") == []  # checking before asking writes nothing


def test_after_success_the_form_is_spent_so_a_second_click_repeats_nothing(login_as, db) -> None:
    _seed_grading(db)
    operator = login_as("operator")
    intent = _props(_ask_job(operator, "grading", "pause", "games delayed"))["job-intent"]["data"]
    done = _props(_do(operator, "job", intent))
    assert done["job-reason"]["value"] == "" and done["job-intent"]["data"] is None
    again = _props(_ask_job(operator, "grading", "pause", done["job-reason"]["value"]))
    assert again["job-confirm"]["displayed"] is False  # the reason box is empty now
    assert _count(db, SchedulerCommand) == 1
    refused = _props(_do(operator, "job", {**intent, "target": "nope"}))
    assert "job-reason" not in refused  # a refusal keeps the reason to correct it
    assert refused["job-intent"]["data"] is None


def test_the_kill_switch_needs_the_word_typed_and_its_card_offers_only_what_makes_sense(
    login_as, app, db
) -> None:
    admin = login_as("admin")

    def card() -> dict[str, Any]:
        r = admin.callback(
            "..kill-state.children...kill-engage.disabled...kill-lift.disabled..",
            [{"id": "kill-refresh", "property": "n_intervals", "value": 1}],
        )
        return _props(r)

    lifted = card()
    assert (lifted["kill-engage"]["disabled"], lifted["kill-lift"]["disabled"]) == (False, True)
    assert "Not engaged" in json.dumps(lifted["kill-state"])
    needless = _props(_ask_kill(admin, "lift", "why not"))
    assert needless["kill-modal"]["is_open"] is False
    assert "not engaged" in json.dumps(needless["kill-outcome"])
    asked = _props(_ask_kill(admin, "engage", "bad feed"))
    assert asked["kill-modal"]["is_open"] is True
    assert asked["kill-typed-group"]["hidden"] is False  # engaging: type the word
    assert asked["kill-question"]["children"].startswith("Engage the kill switch? Every scheduled")
    intent = asked["kill-intent"]["data"]
    for typed in (None, "", "engage", "ENGAGED"):
        wrong = _props(_do_kill(admin, intent, typed))
        assert "type ENGAGE (in capitals)" in json.dumps(wrong["kill-modal-outcome"])
        assert "kill-modal" not in wrong  # the dialog stays open
    assert kill_state(app)["engaged"] is False and _count(db, SchedulerCommand) == 0
    done = _props(_do_kill(admin, intent, " ENGAGE "))
    assert kill_state(app)["engaged"] is True
    assert done["kill-modal"]["is_open"] is False and done["kill-reason"]["value"] == ""
    assert done["kill-intent"]["data"] is None
    assert (done["kill-engage"]["disabled"], done["kill-lift"]["disabled"]) == (True, False)
    assert f"by {admin.username}: bad feed" in json.dumps(done["kill-state"])
    assert _props(_ask_kill(admin, "engage", "again"))["kill-modal"]["is_open"] is False
    lift = _props(_ask_kill(admin, "lift", "feed fixed"))
    assert lift["kill-typed-group"]["hidden"] is True  # lifting needs no word
    _props(_do_kill(admin, lift["kill-intent"]["data"], None))
    assert kill_state(app)["engaged"] is False
    assert card()["kill-engage"]["disabled"] is False


def test_account_confirmations_say_what_happens_and_check_the_account_first(login_as) -> None:
    admin = login_as("admin")

    def ask(action: str, name: str, role: str = "viewer") -> dict[str, Any]:
        return _props(
            admin.callback(
                "..user-confirm.displayed...user-confirm.message...user-intent.data"
                "...user-outcome.children..",
                [{"id": "user-apply", "property": "n_clicks", "value": 1}],
                state=[
                    {"id": "user-name", "property": "value", "value": name},
                    {"id": "user-role", "property": "value", "value": role},
                    {"id": "user-action", "property": "value", "value": action},
                    {"id": "user-reason", "property": "value", "value": "rota"},
                ],
            )
        )

    nobody = ask("disable", "nobody")
    assert nobody["user-confirm"]["displayed"] is False  # was: "disable nobody nobody?"
    assert "no user named" in json.dumps(nobody["user-outcome"])
    message = ask("add", "dana", "operator")["user-confirm"]["message"]
    assert message.startswith("Add the account dana as operator? Its password is shown once.")
    assert ask("disable", admin.username)["user-confirm"]["displayed"] is False
