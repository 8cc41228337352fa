"""Memory in use against the cgroup limit (v2, then v1) or the machine, read from fixture
trees laid out as the kernel lays out /sys/fs/cgroup and /proc."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.memory import cgroup_memory_pct, memory_in_use_pct
from scheduler.resilience import LoadSample, Throttle

GIB = 1024**3


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def machine(tmp_path: Path) -> Path:
    """/proc/meminfo of a 24 GiB machine with 20 GiB available (about 17 % in use)."""
    meminfo = tmp_path / "meminfo"
    meminfo.write_text(
        f"MemTotal:       {24 * GIB // 1024} kB\n"
        f"MemFree:        {10 * GIB // 1024} kB\n"
        f"MemAvailable:   {20 * GIB // 1024} kB\n"
    )
    return meminfo


def test_cgroup_v2_limit_counts_the_working_set(tmp_path: Path, machine: Path) -> None:
    root = tmp_path / "sys"
    _write(root / "cgroup.controllers", "cpu memory pids\n")
    _write(root / "memory.max", f"{1 * GIB}\n")  # a container's --memory 1g, namespaced to /
    _write(root / "memory.current", f"{900 * 1024**2}\n")
    _write(root / "memory.stat", f"anon 500\ninactive_file {100 * 1024**2}\nactive_file 7\n")
    proc = tmp_path / "cgroup"
    proc.write_text("0::/\n")
    expected = 100.0 * 800 / 1024
    assert cgroup_memory_pct(root, proc) == pytest.approx(expected)
    assert memory_in_use_pct(root, proc, machine) == pytest.approx(expected)  # not the host's 17 %


def test_cgroup_v2_takes_the_tightest_limit_of_the_ancestors(tmp_path: Path) -> None:
    root = tmp_path / "sys"
    _write(root / "cgroup.controllers", "memory\n")
    slice_dir = root / "app.slice"
    _write(slice_dir / "memory.max", f"{2 * GIB}\n")  # MemoryMax on the slice
    _write(slice_dir / "memory.current", f"{int(1.5 * GIB)}\n")
    leaf = slice_dir / "dugout.service"
    _write(leaf / "memory.max", "max\n")  # the service itself is unlimited
    _write(leaf / "memory.current", f"{1 * GIB}\n")
    proc = tmp_path / "cgroup"
    proc.write_text("0::/app.slice/dugout.service\n")
    assert cgroup_memory_pct(root, proc) == pytest.approx(75.0)


def test_cgroup_v2_without_any_limit_falls_back_to_the_machine(
    tmp_path: Path, machine: Path
) -> None:
    root = tmp_path / "sys"
    _write(root / "cgroup.controllers", "memory\n")
    _write(root / "memory.max", "max\n")
    _write(root / "memory.current", f"{3 * GIB}\n")
    proc = tmp_path / "cgroup"
    proc.write_text("0::/\n")
    assert cgroup_memory_pct(root, proc) is None
    assert memory_in_use_pct(root, proc, machine) == pytest.approx(100.0 * 4 / 24)


def test_cgroup_v1_memory_controller(tmp_path: Path, machine: Path) -> None:
    root = tmp_path / "sys"
    group = root / "memory" / "docker" / "abc123"
    _write(group / "memory.limit_in_bytes", f"{512 * 1024**2}\n")
    _write(group / "memory.usage_in_bytes", f"{500 * 1024**2}\n")
    _write(group / "memory.stat", f"cache 1\ntotal_inactive_file {52 * 1024**2}\n")
    _write(root / "memory" / "memory.limit_in_bytes", "9223372036854771712\n")  # "no limit"
    _write(root / "memory" / "memory.usage_in_bytes", f"{8 * GIB}\n")
    proc = tmp_path / "cgroup"
    proc.write_text("12:pids:/docker/abc123\n4:memory:/docker/abc123\n0::/docker/abc123\n")
    assert memory_in_use_pct(root, proc, machine) == pytest.approx(100.0 * 448 / 512)


def test_cgroup_v1_unlimited_is_no_limit(tmp_path: Path, machine: Path) -> None:
    root = tmp_path / "sys"
    _write(root / "memory" / "memory.limit_in_bytes", "9223372036854771712\n")
    _write(root / "memory" / "memory.usage_in_bytes", f"{23 * GIB}\n")
    proc = tmp_path / "cgroup"
    proc.write_text("4:memory:/\n")
    assert cgroup_memory_pct(root, proc, machine_bytes=24 * GIB) is None
    assert memory_in_use_pct(root, proc, machine) == pytest.approx(100.0 * 4 / 24)


def test_nothing_readable_reports_zero_and_never_throttles(tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    assert memory_in_use_pct(missing, missing, missing) == 0.0


def test_the_throttle_holds_back_low_priority_work_near_the_cgroup_limit(
    tmp_path: Path, machine: Path
) -> None:
    root = tmp_path / "sys"
    _write(root / "cgroup.controllers", "memory\n")
    _write(root / "memory.max", f"{1 * GIB}\n")
    _write(root / "memory.current", f"{int(0.95 * GIB)}\n")
    proc = tmp_path / "cgroup"
    proc.write_text("0::/\n")
    throttle = Throttle(probe=lambda: LoadSample(0.0, memory_in_use_pct(root, proc, machine)))
    assert "memory at 95%" in (throttle.verdict("default", in_flight=0) or "")
    assert throttle.verdict("critical", in_flight=0) is None
