"""Memory in use, as the kernel will judge it: against this process's cgroup limit when it has
one (a container's `--memory`, a systemd slice's MemoryMax), else against the machine.

Inside a container /proc/meminfo describes the host, so a throttle reading it alone never
notices the container nearing its own limit. The working set is usage minus inactive file
pages (reclaimable cache), as the kubelet counts it. cgroup v2 first, v1 as the fallback.
"""

from __future__ import annotations

from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
MEMINFO = Path("/proc/meminfo")


def _read_int(path: Path) -> int | None:
    try:
        raw = path.read_text().strip()
    except OSError:
        return None
    return int(raw) if raw.isdigit() else None  # "max" (no limit) or garbage: None


def _stat(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key and value.strip().isdigit():
                return int(value)
    except OSError:
        pass
    return 0


def _cgroup_paths(proc_self_cgroup: Path) -> tuple[str | None, str | None]:
    """(v2 path, v1 memory-controller path) of this process, from /proc/self/cgroup."""
    v2 = v1 = None
    try:
        lines = proc_self_cgroup.read_text().splitlines()
    except OSError:
        return None, None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            v2 = path
        elif "memory" in controllers.split(","):
            v1 = path
    return v2, v1


def _ancestors(base: Path, path: str) -> list[Path]:
    """The cgroup's directory and every parent up to the mount, nearest first."""
    parts = [p for p in path.strip("/").split("/") if p]
    dirs = [base.joinpath(*parts[:i]) for i in range(len(parts), -1, -1)]
    return [d for d in dirs if d.is_dir()]


def _worst(pairs: list[tuple[int, int]]) -> float | None:
    shares = [100.0 * max(0, used) / limit for used, limit in pairs if limit > 0]
    return max(shares) if shares else None


def cgroup_memory_pct(
    root: Path = CGROUP_ROOT, proc_self_cgroup: Path = PROC_SELF_CGROUP, machine_bytes: int = 0
) -> float | None:
    """The working set as a share of the tightest cgroup limit above this process, or None
    when no cgroup limits it (v1 reports "no limit" as a number above the machine's memory)."""
    v2, v1 = _cgroup_paths(proc_self_cgroup)
    if v2 is not None and (root / "cgroup.controllers").exists():
        pairs = []
        for d in _ancestors(root, v2):
            limit, current = _read_int(d / "memory.max"), _read_int(d / "memory.current")
            if limit is not None and current is not None:
                pairs.append((current - _stat(d / "memory.stat", "inactive_file"), limit))
        found = _worst(pairs)
        if found is not None:
            return found
    if v1 is not None:
        base = root / "memory"
        pairs = []
        for d in _ancestors(base, v1):
            limit = _read_int(d / "memory.limit_in_bytes")
            usage = _read_int(d / "memory.usage_in_bytes")
            if limit is None or usage is None or (machine_bytes and limit >= machine_bytes):
                continue
            pairs.append((usage - _stat(d / "memory.stat", "total_inactive_file"), limit))
        return _worst(pairs)
    return None


def machine_memory(meminfo: Path = MEMINFO) -> tuple[int, int]:
    """(total, available) bytes of the machine from /proc/meminfo; (0, 0) off Linux."""
    info: dict[str, int] = {}
    try:
        for line in meminfo.read_text().splitlines():
            key, _, rest = line.partition(":")
            fields = rest.split()
            if fields and fields[0].isdigit():
                info[key] = int(fields[0]) * 1024
    except OSError:
        return 0, 0
    total = info.get("MemTotal", 0)
    return total, info.get("MemAvailable", total)


def memory_in_use_pct(
    root: Path = CGROUP_ROOT, proc_self_cgroup: Path = PROC_SELF_CGROUP, meminfo: Path = MEMINFO
) -> float:
    """The higher of the cgroup's and the machine's memory in use, in percent (0 if unknown)."""
    total, available = machine_memory(meminfo)
    machine = 100.0 * (1.0 - available / total) if total else 0.0
    limited = cgroup_memory_pct(root, proc_self_cgroup, machine_bytes=total)
    return max(machine, limited) if limited is not None else machine
