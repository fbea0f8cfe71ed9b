"""The default generation threads: one per physical core the process may run on."""

from __future__ import annotations

import os
from pathlib import Path

from atlas_lsp.model.cores import physical_cores


def fake_sysfs(root: Path, cores: list[tuple[int, int]]) -> Path:
    """CPU n's (package, core) is cores[n]."""
    for cpu, (package, core) in enumerate(cores):
        topology = root / f"cpu{cpu}" / "topology"
        topology.mkdir(parents=True)
        (topology / "physical_package_id").write_text(f"{package}\n")
        (topology / "core_id").write_text(f"{core}\n")
    return root


def test_hyper_threads_of_a_core_count_once(tmp_path: Path) -> None:
    sysfs = fake_sysfs(tmp_path, [(0, 0), (0, 1), (0, 0), (0, 1)])  # 2 cores, 2 threads each
    assert physical_cores({0, 1, 2, 3}, sysfs) == 2
    assert physical_cores({0, 2}, sysfs) == 1  # the process may run on one core's two threads only


def test_cores_without_hyper_threads_each_count(tmp_path: Path) -> None:
    sysfs = fake_sysfs(tmp_path, [(0, 0), (0, 1), (1, 0), (1, 1)])  # two packages: core ids repeat
    assert physical_cores({0, 1, 2, 3}, sysfs) == 4


def test_without_a_readable_topology_half_the_logical_cpus(tmp_path: Path) -> None:
    sysfs = fake_sysfs(tmp_path, [(0, 0)])
    assert physical_cores({0, 1}, sysfs) == max(1, (os.cpu_count() or 2) // 2)  # cpu1 has no topology


def test_this_machine() -> None:
    assert 1 <= physical_cores() <= (os.cpu_count() or 1)
