"""Generated Prometheus rules: in sync with the SLO code, valid, and passing promtool unit tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from app.cli_status import slo_group
from app.observability.rules import alert_name, render_rules, rules_document
from app.observability.slo import ALERT_LEVELS, SLOS

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: `make system-deps` installs it (Debian: prometheus)")
    return path


def test_committed_rules_match_the_slo_definitions() -> None:
    assert (DEPLOY / "rules.yml").read_text() == render_rules(), "run `dugout slo rules`"


def test_one_alert_per_slo_and_severity_with_the_slo_targets() -> None:
    alerts = rules_document()["groups"][1]["rules"]
    assert {(a["alert"], a["labels"]["severity"]) for a in alerts} == {
        (alert_name(s, sev), sev) for s in SLOS for sev in ALERT_LEVELS
    }
    exhausted = next(
        a
        for a in alerts
        if a["labels"] == {"severity": "budget_exhausted", "slo": "pipeline_reliability"}
    )
    assert (
        exhausted["expr"] == 'dugout:slo_error_ratio:rate30d{slo="pipeline_reliability"} >= 0.005'
    )
    reliability_page = next(
        a for a in alerts if a["labels"] == {"severity": "page", "slo": "pipeline_reliability"}
    )
    assert (
        "> (14.4 * 0.005)" in reliability_page["expr"]
        and "> (6 * 0.005)" in reliability_page["expr"]
    )
    assert "rate1h" in reliability_page["expr"] and "rate5m" in reliability_page["expr"]


def test_sloths_four_windows_and_the_down_alert_are_generated() -> None:
    alerts = rules_document()["groups"][1]["rules"]
    ticket = next(
        a for a in alerts if a["labels"] == {"severity": "ticket", "slo": "pipeline_reliability"}
    )
    assert "rate1d" in ticket["expr"] and "rate2h" in ticket["expr"]
    assert "> (3 * 0.005)" in ticket["expr"] and "> (1 * 0.005)" in ticket["expr"]
    (down,) = rules_document()["groups"][2]["rules"]
    assert down["alert"] == "DugoutDown" and down["labels"]["severity"] == "page"
    assert down["expr"] == 'absent(up{job="dugout"} == 1)' and down["for"] == "5m"
    for config in ("prometheus.yml", "compose.yml"):
        scrape = yaml.safe_load((DEPLOY / config).read_text())["scrape_configs"]
        assert "dugout" in {job["job_name"] for job in scrape}  # the job the rule watches


def test_amtool_accepts_the_alertmanager_config() -> None:
    amtool = shutil.which("amtool")
    assert amtool, "amtool is missing: `make system-deps` installs it (prometheus-alertmanager)"
    config = DEPLOY.parent / "alertmanager" / "alertmanager.yml"
    done = subprocess.run([amtool, "check-config", str(config)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    routes = yaml.safe_load(config.read_text())["route"]["routes"]
    assert {r["matchers"][0] for r in routes} == {f'severity="{level}"' for level in ALERT_LEVELS}


def test_cli_writes_and_checks_the_rules(tmp_path: Path) -> None:
    out = tmp_path / "rules.yml"
    runner = CliRunner()
    assert runner.invoke(slo_group, ["rules", "-o", str(out)]).exit_code == 0
    assert out.read_text() == render_rules()
    assert runner.invoke(slo_group, ["rules", "-o", str(out), "--check"]).exit_code == 0
    out.write_text("groups: []\n")
    result = runner.invoke(slo_group, ["rules", "-o", str(out), "--check"])
    assert result.exit_code == 1 and "out of date" in result.output
    assert runner.invoke(slo_group, ["rules", "-o", "-"]).output == render_rules()


def test_promtool_checks_rules_and_config(promtool: str, tmp_path: Path) -> None:
    generated = tmp_path / "rules.yml"
    generated.write_text(render_rules())
    for args in (
        ["check", "rules", str(generated)],
        ["check", "config", str(DEPLOY / "prometheus.yml")],
    ):
        done = subprocess.run([promtool, *args], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_unit_tests_fire_and_hold_the_burn_rate_alerts(promtool: str) -> None:
    done = subprocess.run(
        [promtool, "test", "rules", "rules_test.yml"],
        cwd=DEPLOY,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
