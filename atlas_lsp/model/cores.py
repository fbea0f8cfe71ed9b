"""How many CPU threads generation uses by default: one per physical core this process may run on."""

from __future__ import annotations

import os
from pathlib import Path

SYSFS_CPUS = Path("/sys/devices/system/cpu")


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
