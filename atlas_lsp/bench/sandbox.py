"""`atlas-lsp bench sandbox`: what each candidate's test run costs before its tests start, the project copied vs
seen through an overlay, in one synthetic Python project; and a project over the copy's limits."""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from atlas_lsp.bench.context import synthetic_module
from atlas_lsp.bench.report import header
from atlas_lsp.solve import sandbox as sandbox_module
from atlas_lsp.solve.runs import Limits
from atlas_lsp.solve.sandbox import ProjectTooLarge, Sandbox, overlay_works

TEST = "from pkg.target import twice\n\n\ndef test_twice():\n    assert twice(2) == 4\n"
CANDIDATE = "def twice(x):\n    return 2 * x\n"


@dataclass
class Runs:
    """One way of running candidates: each run's preparation (copy or overlay, before the runner starts) and whole
    time, in seconds."""

    preparation: list[float]
    whole: list[float]
    passed: int


@dataclass
class SandboxBench:
    files: int
    megabytes: float
    overlay_available: bool
    probe_seconds: float  # finding out whether an overlay works here, once per solve job
    copy: Runs
    overlay: Runs | None
    large_files: int  # a project over the copy's file limit
    large_overlay: Runs | None  # (None: no overlay here)
    large_copy_refused: bool  # whether a copy refused it


def make_project(root: Path, files: int) -> None:
    """A Python project: ``files`` modules (their text as the context benchmark's), a function and its test."""
    rng = random.Random(5)
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "target.py").write_text("def twice(x):\n    return 0\n")
    (root / "tests").mkdir()
    (root / "tests" / "test_target.py").write_text(TEST)
    for number in range(files - 3):
        (root / "pkg" / f"mod{number}.py").write_text(synthetic_module(number, files, rng))


def _candidate_runs(root: Path, overlay: bool, rounds: int) -> Runs:
    sandbox = Sandbox(root, {}, Limits(wall_seconds=120), overlay=overlay)
    preparation: list[float] = []
    whole: list[float] = []
    passed = 0
    try:
        for _ in range(rounds):
            started = time.perf_counter()
            candidate = {str(root / "pkg" / "target.py"): CANDIDATE}
            report = sandbox.run(candidate, ["tests/test_target.py::test_twice"], {}, None)
            whole.append(time.perf_counter() - started)
            preparation.append(whole[-1] - report.seconds)  # (report.seconds: from the runner's start)
            passed += report.all_passed
    finally:
        sandbox.close()
    return Runs(preparation, whole, passed)


def run(files: int = 2000, rounds: int = 5, large_files: int | None = None) -> SandboxBench:
    """``large_files``: the project over the copy's limit (default: 1,000 files over it)."""
    large_files = sandbox_module.MAX_PROJECT_FILES + 1000 if large_files is None else large_files
    with tempfile.TemporaryDirectory(prefix="atlas-bench-sandbox-") as folder:
        root = Path(folder) / "project"
        make_project(root, files)
        megabytes = sum(path.stat().st_size for path in root.rglob("*.py")) / 1e6
        probed = time.perf_counter()
        available = overlay_works(root)
        probe_seconds = time.perf_counter() - probed
        copies: list[Runs] = []
        overlays: list[Runs] = []
        for _ in range(rounds):  # (alternating, so both meet the same machine)
            copies.append(_candidate_runs(root, False, 1))
            if available:
                overlays.append(_candidate_runs(root, True, 1))
        large = Path(folder) / "large"
        make_project(large, large_files)
        large_overlay = _candidate_runs(large, True, rounds) if available else None
        try:
            Sandbox(large, {}, Limits(), overlay=False).close()
            refused = False
        except ProjectTooLarge:
            refused = True
    return SandboxBench(files, megabytes, available, probe_seconds, _joined(copies),
                        _joined(overlays) if available else None, large_files, large_overlay, refused)  # fmt: skip


def _joined(runs: list[Runs]) -> Runs:
    preparation = [seconds for one in runs for seconds in one.preparation]
    return Runs(preparation, [seconds for one in runs for seconds in one.whole], sum(one.passed for one in runs))


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f}"


def markdown(bench: SandboxBench) -> str:
    rounds = len(bench.copy.whole)
    lines = [
        header("Sandbox (`atlas-lsp bench sandbox`)"),
        f"A Python project of {bench.files:,} files ({bench.megabytes:.1f} MB), one candidate's run of one pytest test,"
        f" {rounds} runs each way, alternating; medians.",
        "",
        "| measure | copy | overlay | overlay / copy |",
        "|---|---|---|---|",
    ]
    overlay = bench.overlay
    if overlay is None:
        lines.append(f"| preparation, ms | {_ms(bench.copy.preparation)} | not available here | |")
        lines.append(f"| whole run, ms | {_ms(bench.copy.whole)} | not available here | |")
    else:
        for name, copied, overlaid in (
            ("preparation (before the test runner starts), ms", bench.copy.preparation, overlay.preparation),
            ("whole run, ms", bench.copy.whole, overlay.whole),
        ):
            ratio = statistics.median(overlaid) / statistics.median(copied)
            lines.append(f"| {name} | {_ms(copied)} | {_ms(overlaid)} | {ratio:.2f} |")
    passed = f"{bench.copy.passed}/{rounds}" + (f" / {overlay.passed}/{rounds}" if overlay else "")
    lines.append(f"| runs whose test passed (copy / overlay) | {passed} | | |")
    probe_ms = bench.probe_seconds * 1000
    lines.append(f"| finding out whether an overlay works (once per solve job), ms | | {probe_ms:.0f} | |")
    large = bench.large_overlay
    copy = "a copy refused it" if bench.large_copy_refused else "a copy took it"
    lines += ["", f"A project of {bench.large_files:,} files (the copy's limit: {sandbox_module.MAX_PROJECT_FILES:,}):"]
    if large is None:
        lines.append(f"no overlay here; {copy}.")
    else:
        lines.append(
            f"through the overlay, preparation {_ms(large.preparation)} ms, whole run {_ms(large.whole)} ms (medians of"
            f" {len(large.whole)}), {large.passed}/{len(large.whole)} passed; {copy}."
        )
    return "\n".join(lines) + "\n"
