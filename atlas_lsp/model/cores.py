"""How many CPU threads generation uses by default: one per physical core this process may run on, and no more
than its container's CPU quota allows."""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path

SYSFS_CPUS = Path("/sys/devices/system/cpu")
CGROUPS = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def default_threads() -> int:
    """One thread per physical core, capped by the CPU quota (a container limited to 2 CPUs on a host with 32
    physical cores would otherwise run 32 threads on 2 CPUs' worth of time)."""
    return _within_quota(physical_cores())


def batch_threads() -> int:
    """Threads for evaluating a prompt (a batch): every logical CPU this process may run on, within the quota."""
    try:
        logical = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        logical = os.cpu_count() or 1
    return _within_quota(max(1, logical))


def _within_quota(threads: int) -> int:
    quota = cpu_quota()
    return threads if quota is None else max(1, min(threads, math.ceil(quota)))


def physical_cores(cpus: set[int] | None = None, sysfs: Path = SYSFS_CPUS) -> int:
    """The physical cores among ``cpus`` (default: the CPUs this process may run on), a core's hyper-threads
    counted once, from Linux's CPU topology. Where that is not readable, half the logical CPUs (llama-cpp-python's
    own guess). On the 2-core test machine (no hyper-threads) that guess gave 1 thread: a one-character
    follow-up took 333 ms at p50 with 1 thread, 262 ms with 2 (`bench completion`, ninth session)."""
    if cpus is None:
        try:
            cpus = os.sched_getaffinity(0)
        except AttributeError:  # not Linux
            cpus = set()
    cores: set[tuple[str, str]] = set()
    for cpu in cpus:
        topology = sysfs / f"cpu{cpu}" / "topology"
        try:
            cores.add(
                ((topology / "physical_package_id").read_text().strip(), (topology / "core_id").read_text().strip())
            )
        except OSError:
            cores.clear()
            break
    if cores:
        return len(cores)
    return max(1, (os.cpu_count() or 2) // 2)


def cpu_quota(cgroups: Path = CGROUPS, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """The CPUs' worth of time this process's cgroup may use (quota / period), or None when unlimited or unknown:
    cgroup v2's ``cpu.max`` (the process's own group, then the root a container sees) or v1's CFS quota."""
    own = ""  # the process's cgroup v2 path (none without /proc: the root's file is read)
    with contextlib.suppress(OSError):
        own = next(
            (line[3:].strip().lstrip("/") for line in proc_cgroup.read_text().splitlines() if line[:3] == "0::"), ""
        )
    for cpu_max in dict.fromkeys([cgroups / own / "cpu.max", cgroups / "cpu.max"]):
        try:
            quota, period = cpu_max.read_text().split()[:2]
        except (OSError, ValueError):
            continue
        return None if quota == "max" else _ratio(quota, period)
    try:
        quota = (cgroups / "cpu" / "cpu.cfs_quota_us").read_text().strip()
        period = (cgroups / "cpu" / "cpu.cfs_period_us").read_text().strip()
    except OSError:
        return None
    return _ratio(quota, period)


def _ratio(quota: str, period: str) -> float | None:
    try:
        value = int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None  # v1 writes -1 for no quota
