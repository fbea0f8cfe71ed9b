"""The default generation threads: one per physical core the process may run on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from atlas_lsp.model import cores
from atlas_lsp.model.cores import cpu_quota, physical_cores


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


def cgroup_files(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_cgroup_v2_quota_of_the_process_group_or_the_containers_root(tmp_path: Path) -> None:
    proc = tmp_path / "proc-cgroup"
    proc.write_text("0::/user.slice/editor.scope\n")
    own = cgroup_files(
        tmp_path / "a", {"user.slice/editor.scope/cpu.max": "150000 100000\n", "cpu.max": "max 100000\n"}
    )
    assert cpu_quota(own, proc) == 1.5
    root = cgroup_files(tmp_path / "b", {"cpu.max": "200000 100000\n"})  # a container sees its group as the root
    assert cpu_quota(root, proc) == 2.0
    unlimited = cgroup_files(tmp_path / "c", {"cpu.max": "max 100000\n"})
    assert cpu_quota(unlimited, proc) is None


def test_cgroup_v1_quota(tmp_path: Path) -> None:
    proc = tmp_path / "none"
    limited = cgroup_files(tmp_path / "a", {"cpu/cpu.cfs_quota_us": "300000\n", "cpu/cpu.cfs_period_us": "100000\n"})
    assert cpu_quota(limited, proc) == 3.0
    unlimited = cgroup_files(tmp_path / "b", {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"})
    assert cpu_quota(unlimited, proc) is None
    assert cpu_quota(tmp_path / "missing", proc) is None


def test_default_threads_are_the_physical_cores_within_the_quota(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cores, "physical_cores", lambda: 32)
    monkeypatch.setattr(cores, "cpu_quota", lambda: 2.5)
    assert cores.default_threads() == 3
    monkeypatch.setattr(cores, "cpu_quota", lambda: None)
    assert cores.default_threads() == 32
    monkeypatch.setattr(cores, "cpu_quota", lambda: 0.5)
    assert cores.default_threads() == 1


def test_batch_threads_are_the_logical_cpus_within_the_quota(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cores.os, "sched_getaffinity", lambda _pid: set(range(64)))
    monkeypatch.setattr(cores, "cpu_quota", lambda: None)
    assert cores.batch_threads() == 64
    monkeypatch.setattr(cores, "cpu_quota", lambda: 2.0)
    assert cores.batch_threads() == 2
