"""Hostile candidates end as failed candidates with a reason; nothing outside the sandbox changes."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest

from atlas_lsp.solve import sandbox as sandbox_module
from atlas_lsp.solve.runners.pytest_runner import parse_junit
from atlas_lsp.solve.runs import Limits
from atlas_lsp.solve.sandbox import ProjectTooLarge, Sandbox, isolation_prefix, overlay_works

MODULE = "def f():\n    return 1\n"
TEST = "from mod import f\n\n\ndef test_f():\n    assert f() == 1\n"
NODE = ["tests/test_mod.py::test_f"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "tests").mkdir(parents=True)
    (root / "mod.py").write_text(MODULE)
    (root / "tests" / "test_mod.py").write_text(TEST)
    return root


def run(project: Path, body: str, wall: float = 20) -> object:
    sandbox = Sandbox(project, {}, Limits(wall_seconds=wall, cpu_seconds=int(wall), memory_bytes=1024**3, processes=64))
    try:
        return sandbox.run({str(project / "mod.py"): body}, NODE, {}, None)
    finally:
        sandbox.close()


def test_the_sandbox_is_isolated_here() -> None:
    assert isolation_prefix(), "CI must run tests with namespace isolation (unshare)"


def test_runs_see_the_project_through_an_overlay_here(project: Path) -> None:
    assert overlay_works(project), "CI must run tests where a run's namespace can mount an overlay (Linux 5.11+)"
    assert not overlay_works(Path(tempfile.gettempdir())) and not overlay_works(Path("/"))  # (it holds the sandbox)
    sandbox = Sandbox(project, {}, Limits())
    assert sandbox.overlay
    sandbox.close()


def _files(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


RELATIVE_FILES_TEST = """import os
from mod import f


def test_f():
    assert open("data/input.txt").read() == "3\\n"
    with open("out.txt", "w") as out:
        out.write("written")
    with open("data/new.txt", "w") as out:
        out.write("new")
    with open("mod.py", "a") as module:
        module.write("# changed by the test\\n")
    os.remove("data/input.txt")
    assert f() == 1
"""


@pytest.mark.parametrize("overlay", [True, False], ids=["overlay", "copy"])
def test_tests_read_write_and_delete_files_of_their_folder_and_the_project_stays(project: Path, overlay: bool) -> None:
    """A test reads a data file by a relative path, writes files beside it, changes and deletes project files: the
    run starts in its own folder as the mounts show it (it used to start in the folder as it was before them,
    read-only: such tests failed, and in an overlay would not have found the project's files); the next candidate
    gets the project as it was, and the project itself never changes."""
    (project / "data").mkdir()
    (project / "data" / "input.txt").write_text("3\n")
    (project / "tests" / "test_mod.py").write_text(RELATIVE_FILES_TEST)
    before = _files(project)
    sandbox = Sandbox(project, {}, Limits(wall_seconds=30), overlay=overlay)
    try:
        reports = [sandbox.run({str(project / "mod.py"): MODULE}, NODE, {}, None) for _ in range(2)]
    finally:
        sandbox.close()
    assert [report.all_passed for report in reports] == [True, True], [r.failure_text() for r in reports]
    assert _files(project) == before
    assert not sandbox._base.exists()  # (the overlay's work folders too, which the kernel leaves without permissions)


def test_a_project_over_the_copys_limits_runs_through_an_overlay(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox_module, "MAX_PROJECT_FILES", 1)
    with pytest.raises(ProjectTooLarge):
        Sandbox(project, {}, Limits(), overlay=False)
    report = run(project, MODULE)
    assert report.all_passed  # type: ignore[attr-defined]


def test_a_correct_candidate_passes(project: Path) -> None:
    report = run(project, MODULE)
    assert report.all_passed and report.passed == 1  # type: ignore[attr-defined]


def test_infinite_loop_times_out(project: Path) -> None:
    started = time.monotonic()
    report = run(project, "def f():\n    while True:\n        pass\n", wall=5)
    assert not report.all_passed  # type: ignore[attr-defined]
    assert "timed out" in report.problem or "CPU" in report.failure_text()  # type: ignore[attr-defined]
    assert time.monotonic() - started < 30


def test_fork_bomb_is_contained(project: Path) -> None:
    bomb = (
        "import os\n\ndef f():\n    while True:\n        try:\n            os.fork()\n"
        "        except OSError:\n            pass\n"
    )
    started = time.monotonic()
    report = run(project, bomb, wall=5)
    assert not report.all_passed  # type: ignore[attr-defined]
    assert time.monotonic() - started < 60


def test_memory_bomb_fails(project: Path) -> None:
    report = run(project, "def f():\n    block = bytearray(8 * 1024**3)\n    return 1\n")
    assert not report.all_passed  # type: ignore[attr-defined]
    assert "MemoryError" in report.failure_text()  # type: ignore[attr-defined]


def test_writing_outside_the_sandbox_fails_and_changes_nothing(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    original = (project / "mod.py").read_text()
    hostile = (
        "def f():\n"
        f"    open({str(outside)!r}, 'w').write('pwned')\n"
        f"    open({str(project / 'mod.py')!r}, 'w').write('pwned')\n"
        "    return 1\n"
    )
    report = run(project, hostile)
    assert not report.all_passed  # type: ignore[attr-defined]
    assert "Read-only file system" in report.failure_text()  # type: ignore[attr-defined]
    assert not outside.exists()
    assert (project / "mod.py").read_text() == original


def test_network_is_unreachable(project: Path) -> None:
    hostile = "import socket\n\ndef f():\n    socket.create_connection(('127.0.0.1', 9), timeout=2)\n    return 1\n"
    report = run(project, hostile)
    assert not report.all_passed  # type: ignore[attr-defined]
    text = report.failure_text()  # type: ignore[attr-defined]
    assert "Network is unreachable" in text or "refused" in text


def test_killing_its_parent_only_fails_the_candidate(project: Path) -> None:
    hostile = "import os, signal\n\ndef f():\n    os.kill(os.getppid(), signal.SIGKILL)\n    return 1\n"
    report = run(project, hostile)
    assert not report.all_passed  # type: ignore[attr-defined]
    assert "killed" in report.problem  # type: ignore[attr-defined]
    assert os.getpid() > 0  # this process (the server's stand-in) is alive and running


def test_a_candidate_that_writes_over_its_test_report_fails(project: Path) -> None:
    """It runs in pytest's process, so it can reach the report (the run's own folder is writable: tests write files
    there); what it leaves there reads as a report cut short, and the candidate fails."""
    hostile = (
        "import os\n\ndef f():\n"
        "    with open('.atlas-report.xml', 'w') as report:\n        report.write('<testsuites><testcase')\n"
        "    os._exit(0)\n"
    )
    report = run(project, hostile)
    assert not report.all_passed  # type: ignore[attr-defined]
    assert "the test report is unreadable" in report.failure_text()  # type: ignore[attr-defined]


@pytest.mark.parametrize("content", ["", "<testsuites><testcase name='test_f'", "not xml at all"])
def test_a_report_cut_short_reads_as_no_outcomes(tmp_path: Path, content: str) -> None:
    """A run killed while pytest wrote its report (a candidate that kills its parent) leaves it cut short: the
    candidate fails with the run's problem, and nothing raises out of the sandbox."""
    report = tmp_path / "report.xml"
    report.write_text(content)
    assert parse_junit(report, NODE) == []


def test_killing_every_process_it_can_see_leaves_the_server_alive(project: Path) -> None:
    hostile = (
        "import os, signal\n\ndef f():\n"
        "    for pid in [int(p) for p in os.listdir('/proc') if p.isdigit()]:\n"
        "        if pid != os.getpid():\n"
        "            try:\n                os.kill(pid, signal.SIGKILL)\n"
        "            except OSError:\n                pass\n"
        "    return 1\n"
    )
    report = run(project, hostile)
    assert not report.all_passed  # type: ignore[attr-defined]


def test_a_failing_test_that_prints_much_is_reported_with_its_failure(project: Path) -> None:
    """pytest shows a failing test's captured output: more than a pipe holds (64 KiB) used to block the run on its
    write until the wall-clock limit, and the candidate failed as "timed out", with no assertion to repair from."""
    loud = "def f():\n    print('x' * 300_000)\n    return 2\n"
    report = run(project, loud, wall=15)
    assert not report.all_passed and not report.problem  # type: ignore[attr-defined]  # not timed out
    assert "assert 2 == 1" in report.failure_text()  # type: ignore[attr-defined]
