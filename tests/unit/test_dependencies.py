"""The lock files and the declared dependencies agree: every import of ours is declared, every
declared dependency is imported, the locks pin each with hashes, the app's and the test set pin
the same versions but for the one the test tools force, and this environment is consistent."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
OURS = ("app", "pages", "components", "scheduler")
# Declared but never imported by name, each for a reason.
NOT_IMPORTED = {
    "psycopg": "imported as psycopg, installed with its binary extra",
    "tzdata": "zoneinfo's time-zone data where the system has none (slim images)",
    "gunicorn": "the server; gunicorn.conf.py and the CLI import it",
    "pydantic": "engineer cfg gives it the settings tree (dash requires it anyway)",
}
# import name -> distribution name, where they differ
DISTRIBUTION = {
    "flask_login": "flask-login",
    "flask_wtf": "flask-wtf",
    "dash_bootstrap_components": "dash-bootstrap-components",
    "prometheus_client": "prometheus-client",
    "prometheus_flask_exporter": "prometheus-flask-exporter",
    "argon2": "argon2-cffi",
    "yaml": "pyyaml",
}
OTEL = {
    "opentelemetry.sdk": "opentelemetry-sdk",
    "opentelemetry.instrumentation.flask": "opentelemetry-instrumentation-flask",
    "opentelemetry.instrumentation.celery": "opentelemetry-instrumentation-celery",
    "opentelemetry.exporter.otlp.proto.http": "opentelemetry-exporter-otlp-proto-http",
}
# The one pin the test set may differ in: dash[testing]'s selenium 4.2 needs urllib3 1.26.
TEST_ONLY_DOWNGRADES = {"urllib3"}


def _project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def _declared() -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in _project()["dependencies"]}


def _third_party_imports() -> set[str]:
    stdlib = set(sys.stdlib_module_names)
    found: set[str] = set()
    files = [p for top in OURS for p in (REPO / top).rglob("*.py")] + [REPO / "gunicorn.conf.py"]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in stdlib or top in OURS or top == "__future__":
                    continue
                otel = next((d for m, d in OTEL.items() if name.startswith(m)), None)
                found.add(otel or canonicalize_name(DISTRIBUTION.get(top, top)))
    found.discard("opentelemetry")  # the API package, declared as opentelemetry-api
    return found | ({"opentelemetry-api"} if "opentelemetry-sdk" in found else set())


def _pins(lock: str) -> dict[str, str]:
    text = (REPO / lock).read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+) \\$", text, re.M))
    blocks = re.split(r"\n(?=[A-Za-z0-9_.\-]+==)", text.split("\n\n", 1)[-1])
    for block in blocks:
        if "==" in block.splitlines()[0]:
            assert "--hash=sha256:" in block, block.splitlines()[0]  # every pin has its hashes
    return {canonicalize_name(k): v for k, v in pins.items()}


def test_every_import_is_declared_and_every_declaration_is_used() -> None:
    imported, declared = _third_party_imports(), _declared()
    assert imported - declared == set(), "imported but not declared in pyproject.toml"
    unused = declared - imported - set(NOT_IMPORTED)
    assert unused == set(), "declared but never imported"


def test_the_locks_pin_every_declared_dependency_with_hashes() -> None:
    app, test = _pins("requirements.txt"), _pins("requirements-test.txt")
    assert _declared() <= set(app)
    extras = {
        canonicalize_name(Requirement(r).name) for r in _project()["optional-dependencies"]["test"]
    }
    assert extras <= set(test)
    assert set(app) <= set(test)
    assert "selenium" not in app and "pytest" not in app  # test tools stay out of the app's set
    differ = {name for name in app if app[name] != test[name]}
    assert differ <= TEST_ONLY_DOWNGRADES, {n: (app[n], test[n]) for n in differ}


def test_this_environment_matches_the_test_lock_and_pip_check_is_clean() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    from importlib.metadata import version

    for name, pinned in _pins("requirements-test.txt").items():
        assert version(name) == pinned, name
