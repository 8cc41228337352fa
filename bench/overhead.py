"""What monitoring costs: a demo pipeline day with metrics, tracing and logging on vs off (CPU
time ratio; goal <= 1.03), and one /metrics scrape with 2 gunicorn workers after 10,000 runs.

Prints figures; asserts nothing about time. Run: .venv/bin/python bench/overhead.py [--step 10]

A global tracer provider cannot be unset, so each arm lives in its own interpreter. Two
long-lived workers (one on, one off) replay the same day block by block, driven in ABBA order
(off, on, on, off, ...), so drift of the machine lands on both arms alike; the figure is the
median of the paired per-block ratios, with its spread, over several pairs of fresh workers.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DAY = date(2026, 7, 4)


class TickClock:
    """Simulated time: each tick's moment plus the wall time spent since, like a live run."""

    def __init__(self) -> None:
        self.tick, self.wall = datetime(2026, 7, 4, tzinfo=UTC), time.perf_counter()

    def set(self, tick: datetime) -> None:
        self.tick, self.wall = tick, time.perf_counter()

    def __call__(self) -> datetime:
        return self.tick + timedelta(seconds=time.perf_counter() - self.wall)


class Arm:
    """One arm in this process: the demo day's ticks, replayed a block at a time.

    BENCH_PARTS (default "metrics,tracing,logging") narrows what "on" turns on, to find costs.
    """

    def __init__(self, on: bool, step_min: int, workdir: Path) -> None:
        parts = set(os.environ.get("BENCH_PARTS", "metrics,tracing,logging").split(","))
        from app.db import Database
        from app.migrate import upgrade
        from app.observability.logging import configure_logging
        from app.pipelines.context import PipelineContext
        from app.pipelines.sources.demo import DemoSource
        from app.pipelines.strategies import build_strategies

        self.on = on
        devnull = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the arm
        level = "INFO" if on and "logging" in parts else "WARNING"
        configure_logging(level, True, stream=devnull)
        name = f"{'on' if on else 'off'}-{uuid.uuid4().hex[:6]}.sqlite3"
        db = Database(f"sqlite:///{workdir / name}")
        assert db.engine is not None and db.sessionmaker is not None
        upgrade(db.engine)
        self.observers: list = []
        if on:
            from opentelemetry.sdk.trace.export import (
                BatchSpanProcessor,
                SpanExporter,
                SpanExportResult,
            )
            from prometheus_client import CollectorRegistry

            from app.observability.metrics import DugoutMetrics
            from app.observability.observer import MetricsObserver
            from app.observability.slo import SLOS
            from app.observability.tracing import process_provider

            class Discard(SpanExporter):
                """Stands in for OTLP: batches are built and handed over, then dropped."""

                def export(self, spans: object) -> SpanExportResult:
                    return SpanExportResult.SUCCESS

            if "tracing" in parts:
                provider, _ = process_provider()
                provider.add_span_processor(BatchSpanProcessor(Discard()))
            if "metrics" in parts:
                metrics = DugoutMetrics(CollectorRegistry(), [s.name for s in SLOS])
                self.observers.append(MetricsObserver(metrics, db.sessionmaker))
        self.clock = TickClock()
        demo = DemoSource(seed=42, day=DAY)
        self.ctx = PipelineContext(
            sessions=db.sessionmaker,
            clock=self.clock,
            sources=[demo],
            strategies=build_strategies(),
            observers=self.observers,
        )
        self.ticks = list(demo.replay_times(step=timedelta(minutes=step_min)))
        self.last_run: object = None

    def block(self, first: int, last: int) -> dict[str, float]:
        """Replay ticks [first, last); CPU seconds of this process (all threads) and wall."""
        from app.pipelines.runner import run_pipeline

        cpu, wall = time.process_time(), time.perf_counter()
        for tick in self.ticks[first:last]:
            self.clock.set(tick)
            self.last_run = run_pipeline(self.ctx, "full", "schedule", scheduled_for=tick).run_id
        return {"cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall}


def serve_arm(on: bool, step_min: int, workdir: Path) -> None:
    """Worker loop: one JSON command per stdin line, one JSON answer per stdout line."""
    arm = Arm(on, step_min, workdir)
    print(json.dumps({"ticks": len(arm.ticks)}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["do"] == "block":
            out = arm.block(cmd["first"], cmd["last"])
        elif cmd["do"] == "costs":
            out = monitoring_cost_per_run(arm.observers, arm.last_run) if on else {}
        else:
            return
        print(json.dumps(out), flush=True)


class ArmProcess:
    """A worker interpreter running `serve_arm`."""

    def __init__(self, name: str, step_min: int, workdir: Path) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--arm",
                name,
                "--step",
                str(step_min),
                "--workdir",
                str(workdir),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},  # same set/dict orders in both arms
        )
        self.ticks = int(self._read()["ticks"])

    def _read(self) -> dict[str, float]:
        assert self.proc.stdout is not None
        while True:  # skip anything else a library printed
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("bench worker exited")
            if line.startswith("{"):
                return dict(json.loads(line))

    def ask(self, **cmd: object) -> dict[str, float]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"do": "quit"}) + "\n")
        self.proc.stdin.close()
        self.proc.wait(30)


def monitoring_cost_per_run(observers: list, run_id: object) -> dict[str, float]:
    """CPU seconds per run of the monitoring work alone, as a real run calls it: the observer's
    hooks, five spans, and seven JSON log lines. Far less noisy than the ratio."""
    from opentelemetry import trace

    from app.pipelines.context import StageOutcome

    n, out = 200, {}
    tick = datetime(2026, 7, 4, 18, tzinfo=UTC)
    rows = [
        {"strategy": "ev", "latency_ms": 850.0, "ev": 0.031, "kelly_fraction": 0.012},
        {"strategy": "steam", "latency_ms": 1200.0, "ev": 0.02, "kelly_fraction": 0.008},
    ]
    if observers:
        obs = observers[0]
        opened = getattr(obs, "run_opened", None)  # absent before the hook existed
        started = time.process_time()
        for _ in range(n):
            obs.run_started(run_id, "full", "schedule")
            if opened is not None:
                opened(run_id, "full", "schedule", tick, tick + timedelta(seconds=0.4))
            obs.source_collected("demo", {"quotes": 500}, 12.0, None, {})
            obs.stage_finished(run_id, "full", "collect", StageOutcome(), 0.01)
            obs.opportunities_found(rows)
            for stage in ("analyze", "recommend", "grade"):
                obs.stage_finished(run_id, "full", stage, StageOutcome(), 0.01)
            obs.run_finished(run_id, "full", "schedule", "succeeded", 0.1)
        out["observer_s"] = (time.process_time() - started) / n
    tracer = trace.get_tracer("bench")
    started = time.process_time()
    for _ in range(n):
        with tracer.start_as_current_span("pipeline full") as span:
            span.set_attribute("dugout.pipeline", "full")
            for stage in ("collect", "analyze", "recommend", "grade"):
                with tracer.start_as_current_span(f"stage {stage}") as child:
                    child.set_attribute("dugout.stage", stage)
    out["spans_s"] = (time.process_time() - started) / n
    log = logging.getLogger("dugout.pipelines")
    started = time.process_time()
    for _ in range(n):
        for _ in range(7):
            log.info("stage finished", extra={"status": "succeeded", "duration_ms": 1.0})
    out["logs_s"] = (time.process_time() - started) / n
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def cpu_ratio(step_min: int, rounds: int, blocks: int, workdir: Path) -> None:
    """Paired, interleaved blocks over `rounds` pairs of fresh workers; prints the ratios."""
    ratios: list[float] = []
    totals: list[tuple[float, float]] = []
    walls = {"on": 0.0, "off": 0.0}
    costs: list[dict[str, float]] = []
    runs = 0
    for r in range(rounds):
        first, second = ("off", "on") if r % 2 == 0 else ("on", "off")
        arms = {name: ArmProcess(name, step_min, workdir) for name in (first, second)}
        ticks = arms["on"].ticks
        runs = ticks
        n_blocks = blocks or ticks  # default: every tick is a block
        edges = [round(i * ticks / n_blocks) for i in range(n_blocks + 1)]
        sums = {"on": 0.0, "off": 0.0}
        for b in range(n_blocks):
            cpu: dict[str, float] = {}
            order = ("off", "on") if (b + r) % 2 == 0 else ("on", "off")  # ABBA
            for name in order:
                out = arms[name].ask(do="block", first=edges[b], last=edges[b + 1])
                cpu[name] = out["cpu"]
                sums[name] += out["cpu"]
                walls[name] += out["wall"]
            ratios.append(cpu["on"] / cpu["off"])
        totals.append((sums["on"], sums["off"]))
        costs.append(arms["on"].ask(do="costs"))
        for arm in arms.values():
            arm.close()
    print(
        f"\n== Demo day, 'full' every {step_min} min ({runs} runs), SQLite: {rounds} pairs of "
        f"workers x {blocks or runs} blocks, interleaved ABBA =="
    )
    for i, (on, off) in enumerate(totals):
        print(f"  pair {i + 1}: CPU on {on:.2f} s, off {off:.2f} s, ratio {on / off:.3f}")
    per_run = statistics.median(off for _, off in totals) / runs
    cost = {k: statistics.median(c[k] for c in costs) for k in costs[0]}
    print(
        "  monitoring work per run: "
        + ", ".join(f"{k[:-2]} {v * 1000:.3f} ms" for k, v in cost.items())
        + f"; pipeline {per_run * 1000:.1f} ms per run -> attributed ratio "
        f"{1 + sum(cost.values()) / per_run:.3f}"
    )
    on_sum, off_sum = sum(t[0] for t in totals), sum(t[1] for t in totals)
    print(
        f"  CPU-time ratio on/off: median of {len(ratios)} paired blocks "
        f"{statistics.median(ratios):.3f} (p25 {_pct(ratios, 0.25):.3f}, "
        f"p75 {_pct(ratios, 0.75):.3f}, min {min(ratios):.3f}, max {max(ratios):.3f}); "
        f"all CPU {on_sum / off_sum:.3f}; wall {walls['on'] / walls['off']:.3f} "
        "(goal <= 1.03; the seed's limit 1.10)"
    )


class _Counter:
    """Counts the engine's commits (one per transaction) or statements sent."""

    def __init__(self) -> None:
        self.n = 0

    def bump(self, *_args: object) -> None:
        self.n += 1


def _noop_stage(src: object) -> object:
    """A stage that does nothing: what is left is the orchestration around it."""
    from app.pipelines.context import StageOutcome

    return StageOutcome()


def _scratch_pg() -> tuple[str, object]:
    """A scratch PostgreSQL database on the test server, and a function that drops it."""
    import psycopg

    admin_url = os.environ.get("DUGOUT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    name = f"dugout_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    admin.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")

    def drop() -> None:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return f"{url}/{name}", drop


PREFECT_NOOP = """
import statistics, sys, time
from prefect import flow, task

@task
def one(): return None

@task
def two(): return None

@task
def three(): return None

@flow
def noop3():
    one(); two(); three()

for _ in range(3):
    noop3()
took = []
for _ in range(int(sys.argv[1])):
    started = time.perf_counter()
    noop3()
    took.append(time.perf_counter() - started)
print(statistics.median(took) * 1000)
"""


def prefect_noop_ms(python: str, runs: int, workdir: Path) -> float | None:
    """Median wall ms of Prefect's 3-task no-op flow, run by the Python at `python` (None, with
    the reason printed, when it did not run). Its first flow starts Prefect's ephemeral API
    server, which a loaded machine needs more than Prefect's default 20 s to bring up; its
    database lives in `workdir` (not ~/.prefect, which another run may be using)."""
    env = {
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300",
        "PREFECT_HOME": str(workdir / "prefect"),
        "DO_NOT_TRACK": "1",  # Prefect's usage telemetry
        **os.environ,
    }
    done = subprocess.run(
        [python, "-c", PREFECT_NOOP, str(runs)], capture_output=True, text=True, env=env
    )
    if done.returncode != 0:
        print(f"  Prefect did not run: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
        return None
    return float(done.stdout.strip().splitlines()[-1])


def noop_overhead(runs: int, workdir: Path) -> None:
    """Per-run cost and database transactions of a 3-stage no-op pipeline through the real
    runner with metrics, spans and logs on, on SQLite and on PostgreSQL; with PREFECT_PYTHON
    (a Python with Prefect 3), Prefect's 3-task no-op flow in the same run, as a ratio."""
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from prometheus_client import CollectorRegistry
    from sqlalchemy import event

    from app.db import Database
    from app.migrate import upgrade
    from app.observability.logging import configure_logging
    from app.observability.metrics import DugoutMetrics
    from app.observability.observer import MetricsObserver
    from app.observability.slo import SLOS
    from app.observability.tracing import process_provider
    from app.pipelines import runner
    from app.pipelines.context import PipelineContext

    class Discard(SpanExporter):
        def export(self, spans: object) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider, _ = process_provider()
    provider.add_span_processor(BatchSpanProcessor(Discard()))
    configure_logging("INFO", True, stream=open(os.devnull, "w"))  # noqa: SIM115
    logging.disable(logging.NOTSET)  # main() silenced INFO: the run's log lines are part of it
    stages = [(n, _noop_stage) for n in ("one", "two", "three")]
    original = runner._stages
    runner._stages = lambda: {**original(), "noop3": stages}  # type: ignore[assignment]
    print(f"\n== 3-stage no-op pipeline, {runs} runs each, metrics + spans + logs on ==")
    pg_url, drop = _scratch_pg()
    medians: dict[str, float] = {}
    try:
        for label, url in (
            ("SQLite", f"sqlite:///{workdir / 'noop.sqlite3'}"),
            ("PostgreSQL", pg_url),
        ):
            db = Database(url)
            assert db.engine is not None and db.sessionmaker is not None
            upgrade(db.engine)
            commits, statements = _Counter(), _Counter()
            event.listen(db.engine, "commit", commits.bump)
            event.listen(db.engine, "before_cursor_execute", statements.bump)
            metrics = DugoutMetrics(CollectorRegistry(), [s.name for s in SLOS])
            ctx = PipelineContext(
                sessions=db.sessionmaker, observers=[MetricsObserver(metrics, db.sessionmaker)]
            )
            for _ in range(20):  # warm-up: pools, statement caches
                runner.run_pipeline(ctx, "noop3", "manual")
            commits.n = statements.n = 0
            took = []
            cpu = time.process_time()
            for _ in range(runs):
                started = time.perf_counter()
                result = runner.run_pipeline(ctx, "noop3", "manual")
                took.append(time.perf_counter() - started)
                assert result.status == "succeeded", result
            cpu_ms = (time.process_time() - cpu) / runs * 1000
            medians[label] = statistics.median(took) * 1000
            print(
                f"  {label}: {commits.n / runs:.1f} transactions, {statements.n / runs:.1f} "
                "statements per run; per-run overhead "
                f"median {statistics.median(took) * 1000:.2f} ms, p95 {_pct(took, 0.95) * 1000:.2f} "
                f"ms wall; {cpu_ms:.2f} ms CPU of this process"
            )
            db.dispose()
    finally:
        runner._stages = original  # type: ignore[assignment]
        drop()  # type: ignore[operator]
    print(f"  (goal: at most 3 ms on SQLite and 6 ms on PostgreSQL; {os.cpu_count()} cores)")
    prefect = os.environ.get("PREFECT_PYTHON")
    ms = prefect_noop_ms(prefect, max(10, runs // 10), workdir) if prefect else None
    if ms is not None:
        print(
            f"  Prefect 3-task no-op flow: median {ms:.1f} ms; Dugout on SQLite is "
            f"1/{ms / medians['SQLite']:.0f} of it (goal: 1/300 or less)"
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def feed_metrics(n: int) -> None:
    """Write n runs' worth of samples into the multiprocess directory (this process's file)."""
    from prometheus_client import CollectorRegistry

    from app.observability.metrics import DugoutMetrics
    from app.observability.observer import MetricsObserver
    from app.observability.slo import SLOS
    from app.pipelines.context import StageOutcome

    rng = random.Random(7)
    observer = MetricsObserver(DugoutMetrics(CollectorRegistry(), [s.name for s in SLOS]))
    strategies = ["ev", "steam", "arbitrage", "stale_line", "sharp_action", "reverse_line"]
    for i in range(n):
        pipeline = rng.choice(["collection", "analysis", "recommendations", "grading", "full"])
        trigger = "schedule" if i % 50 else "manual"
        observer.run_started(i, pipeline, trigger)
        for stage in ("collect", "analyze", "recommend", "grade"):
            observer.stage_finished(i, pipeline, stage, StageOutcome(), rng.random() / 5)
        observer.source_collected(
            "demo", {}, rng.random() * 90, None, {"price {} is zero": 1} if i % 97 == 0 else {}
        )
        observer.opportunities_found(
            [
                {
                    "strategy": rng.choice(strategies),
                    "latency_ms": rng.random() * 4000,
                    "ev": 0.03,
                    "kelly_fraction": 0.01,
                }
                for _ in range(rng.randint(0, 3))
            ]
        )
        status = "failed" if i % 211 == 0 else "succeeded"
        observer.run_finished(i, pipeline, trigger, status, rng.random())


def scrape_after_runs(n: int, workdir: Path) -> None:
    from sqlalchemy import insert

    from app.db import Database
    from app.migrate import upgrade
    from app.models import PipelineRun

    var, prom, port = workdir / "var", workdir / "prom", _free_port()
    var.mkdir()
    prom.mkdir()
    db = Database(f"sqlite:///{(var / 'dugout.sqlite3').resolve()}")
    assert db.engine is not None
    upgrade(db.engine)
    now = datetime.now(UTC)
    rows = []
    for i in range(n):  # 10,000 runs over the last 30 days
        at = now - timedelta(seconds=i * 30 * 86400 / n)
        rows.append(
            {
                "id": uuid.uuid4(),
                "pipeline": "collection" if i % 2 else "full",
                "trigger": "schedule",
                "status": "failed" if i % 211 == 0 else "succeeded",
                "correlation_id": uuid.uuid4().hex,
                "created_at": at,
                "started_at": at,
                "finished_at": at + timedelta(seconds=1),
                "duration_ms": 300.0 + i % 700,
                "params": {},
                "summary": {},
                "attempt": 1,
            }
        )
    with db.engine.begin() as conn:
        conn.execute(insert(PipelineRun), rows)
    (workdir / "conf.py").write_text(
        "from app.observability.metrics import child_exit, on_starting  # noqa: F401\n"
        f'bind = "127.0.0.1:{port}"\nworkers = 2\nworker_class = "gthread"\nthreads = 4\n'
        f'control_socket = "{workdir / "g.ctl"}"\n'
    )
    (workdir / "wsgi_bench.py").write_text(
        "from app import create_app\n\napplication = create_app()\n"
    )
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(prom),
        "DUGOUT_VAR_DIR": str(var),
        "DUGOUT_SCHEDULER_ENABLED": "false",
        "DUGOUT_LOG_LEVEL": "WARNING",
        "PYTHONPATH": f"{ROOT}:{workdir}",
    }
    env.pop("DUGOUT_DATABASE_URL", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(workdir / "conf.py"),
            "wsgi_bench:application",
        ],
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import httpx

    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):  # start-up wait
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        subprocess.run([sys.executable, __file__, "--feed", str(n)], env=env, check=True)
        timings, size = [], 0
        for _ in range(4):
            started = time.perf_counter()
            body = httpx.get(f"{url}/metrics", timeout=60).content
            timings.append(time.perf_counter() - started)
            size = len(body)
        print(
            f"\n== /metrics with 2 gunicorn workers after {n:,} runs "
            f"(ledger: {n:,} runs over 30 days, SQLite) =="
        )
        print(
            f"  first scrape {timings[0] * 1000:.1f} ms (SLOs computed), then "
            + ", ".join(f"{t * 1000:.1f}" for t in timings[1:])
            + f" ms; {size / 1024:.0f} KiB, {len(list(prom.glob('*.db')))} files"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--arm", choices=["on", "off"])
    parser.add_argument("--feed", type=int)
    parser.add_argument("--step", type=int, default=20, help="minutes between demo ticks")
    parser.add_argument("--rounds", type=int, default=4, help="pairs of fresh workers")
    parser.add_argument("--blocks", type=int, default=0, help="paired blocks (0: per tick)")
    parser.add_argument("--skip-scrape", action="store_true")
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--workdir")
    parser.add_argument("--noop", type=int, default=500, help="runs of the no-op pipeline")
    parser.add_argument("--noop-only", action="store_true", help="only the no-op pipeline")
    args = parser.parse_args()
    if args.arm:
        serve_arm(args.arm == "on", args.step, Path(args.workdir))
        return
    if args.feed:
        feed_metrics(args.feed)
        return
    logging.disable(logging.INFO)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dugout-overhead-") as tmp:
        if args.noop_only:  # its own interpreter: it installs a tracer provider
            noop_overhead(args.noop, Path(tmp))
            return
        subprocess.run(
            [sys.executable, __file__, "--noop-only", "--noop", str(args.noop)], check=True
        )
        cpu_ratio(args.step, args.rounds, args.blocks, Path(tmp))
        if not args.skip_scrape:
            (Path(tmp) / "scrape").mkdir()
            scrape_after_runs(args.runs, Path(tmp) / "scrape")
    print(f"\nbenchmark wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
