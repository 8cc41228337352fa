"""The container deployment, checked without a Docker engine (none here): `docker compose
config` accepts docker-compose.yml, which has every service with a healthcheck, two web replicas,
the worker line, Prometheus loading the generated rules; the Dockerfile serves gunicorn as a
non-root user; gunicorn.conf.py drains."""

from __future__ import annotations

import fnmatch
import re
import runpy
import shutil
import subprocess

import yaml
from pg_scheduler import REPO


def _compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_compose_has_the_services_replicas_and_healthchecks() -> None:
    services = _compose()["services"]
    names = (
        "dugout",
        "postgres",
        "redis",
        "celery-worker",
        "prometheus",
        "alertmanager",
        "grafana",
    )
    assert set(names) <= set(services)
    for name in names:
        assert "test" in services[name]["healthcheck"], name
    web = services["dugout"]
    assert web["deploy"]["replicas"] == 2
    assert web["environment"]["DUGOUT_EXECUTOR"] == "celery"
    grace = int(web["environment"]["DUGOUT_GRACEFUL_TIMEOUT"])
    assert int(web["stop_grace_period"].rstrip("s")) > grace
    assert services["celery-worker"]["command"][:3] == ["dugout", "worker", "--celery"]
    mounts = " ".join(services["prometheus"]["volumes"])
    assert "deploy/prometheus/rules.yml:/etc/prometheus/rules.yml" in mounts
    prom = yaml.safe_load((REPO / "deploy/prometheus/compose.yml").read_text())
    assert prom["rule_files"] == ["rules.yml"]
    (alerting,) = prom["alerting"]["alertmanagers"]
    assert alerting["static_configs"][0]["targets"] == ["alertmanager:9093"]
    assert "alertmanager" in services["prometheus"]["depends_on"]
    mounted = " ".join(services["alertmanager"]["volumes"])
    assert "deploy/alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml" in mounted
    assert {j["job_name"] for j in prom["scrape_configs"]} == {"dugout", "dugout-celery"}
    for volume in services["grafana"]["volumes"] + services["prometheus"]["volumes"]:
        assert (REPO / volume.split(":")[0]).exists(), volume


def _compose_command() -> list[str]:
    """`docker compose` where the plugin is installed, else Debian's `docker-compose` (1.29,
    which reads the Compose specification; `make system-deps` installs it)."""
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    assert legacy, "neither `docker compose` nor `docker-compose`: run `make system-deps`"
    return [legacy]


def test_compose_config_accepts_the_file() -> None:
    env = {"PATH": "/usr/bin:/usr/local/bin:/bin", "HOME": str(REPO)}
    command = [*_compose_command(), "-f", str(REPO / "docker-compose.yml"), "config"]
    done = subprocess.run(
        command, capture_output=True, text=True, env={**env, "DUGOUT_SECRET_KEY": "test"}
    )
    assert done.returncode == 0, done.stderr
    rendered = yaml.safe_load(done.stdout)
    assert rendered["services"]["dugout"]["environment"]["DUGOUT_SECRET_KEY"] == "test"
    assert rendered["services"]["dugout"]["deploy"]["replicas"] == 2
    unset = subprocess.run(command, capture_output=True, text=True, env=env)
    assert unset.returncode != 0 and "DUGOUT_SECRET_KEY" in unset.stderr  # no default secret


def test_dockerfile_serves_gunicorn_as_non_root_with_healthcheck() -> None:
    text = (REPO / "Dockerfile").read_text()
    base = re.search(r"^ARG BASE=(\S+)$", text, re.M)
    assert base and re.fullmatch(r"python:3\.11[.\w-]*-slim[\w-]*@sha256:[0-9a-f]{64}", base[1])
    assert text.count("FROM ${BASE}") == 2  # build and runtime stages share the pinned base
    user = re.search(r"^USER (\S+)$", text, re.M)
    assert user and re.fullmatch(r"[1-9]\d*:[1-9]\d*", user[1])  # numeric uid:gid, not root
    assert "STOPSIGNAL SIGTERM" in text
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert "PROMETHEUS_MULTIPROC_DIR" in text
    assert 'CMD ["gunicorn", "-c", "/etc/dugout/gunicorn.conf.py", "app:create_app()"]' in text
    runtime = text[text.index("AS runtime") :]
    deps = runtime.index("pip install --require-hashes -r /tmp/requirements.txt")
    code = runtime.index("COPY --from=build /wheels")
    assert deps < code  # locked dependencies are a layer of their own, cached across code changes
    assert "COPY app" not in runtime  # the runtime serves the installed wheel, not a source tree
    assert re.search(r"^WORKDIR /var/lib/dugout$", runtime, re.M)


def _docker_ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.lstrip("!")
        if glob.startswith("**/"):
            hit = any(fnmatch.fnmatchcase(part, glob[3:]) for part in parts)
        else:
            hit = any(
                fnmatch.fnmatchcase(c, glob) and c.count("/") == glob.count("/") for c in candidates
            )
        if hit:
            ignored = not negated
    return ignored


def test_dockerignore_sends_only_what_the_image_is_built_from() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for secret_or_state in (
        "var/secret_key",
        "var/dugout.sqlite3",
        ".venv/bin/python",
        ".git/config",
        "tests/conftest.py",
        ".env",
        "app/__pycache__/db.cpython-311.pyc",
    ):
        assert _docker_ignored(secret_or_state, patterns), secret_or_state
    dockerfile = (REPO / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (?!--from)(\S+)", dockerfile, re.M):
        assert (REPO / source).exists(), source
        assert not _docker_ignored(source, patterns), source
    for shipped in ("app/__init__.py", "assets/dugout.css", "pages/overview.py"):
        assert not _docker_ignored(shipped, patterns), shipped


def test_gunicorn_config_reads_the_environment_and_has_the_hooks(monkeypatch) -> None:
    monkeypatch.setenv("DUGOUT_WORKERS", "3")
    monkeypatch.setenv("DUGOUT_THREADS", "5")
    monkeypatch.setenv("DUGOUT_GRACEFUL_TIMEOUT", "12")
    conf = runpy.run_path(str(REPO / "gunicorn.conf.py"))
    assert (conf["workers"], conf["threads"], conf["graceful_timeout"]) == (3, 5, 12)
    assert conf["preload_app"] is False
    for hook in ("on_starting", "child_exit", "worker_exit", "post_worker_init"):
        assert callable(conf[hook]), hook
