"""What a test run is: its limits, its outcome per test, and the seam a test runner (pytest, node:test, cargo test)
plugs into the sandbox through."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

NOT_RUN = "not run"
NOT_COLLECTED = "the tests could not be collected"  # (no candidate's fault: an import the tests need, usually)
SKIPPED = "skipped"  # the message of a test that skipped itself
# the end of the id of a test that its framework expands into cases named under its own name (rstest, test-case):
# the runner runs and reads every case under that name
CASES_SUFFIX = " (cases)"


@dataclass(frozen=True)
class Limits:
    python: str = sys.executable  # the interpreter that runs pytest (the project's environment)
    wall_seconds: float = 60.0
    cpu_seconds: int = 60
    memory_bytes: int = 2 * 1024**3
    file_bytes: int = 64 * 1024**2
    processes: int = 256


@dataclass(frozen=True)
class TestOutcome:
    __test__ = False  # (not a pytest test class)

    node_id: str
    passed: bool
    message: str = ""  # the assertion message and the tail of the traceback
    skipped: bool = False  # the test skipped itself when it ran (skipif, t.Skip): it says nothing either way


@dataclass
class TestReport:
    __test__ = False  # (not a pytest test class)

    outcomes: list[TestOutcome] = field(default_factory=list)
    seconds: float = 0.0
    problem: str = ""  # why the run as a whole failed (timeout, killed, crashed, no report, does not compile)

    @property
    def passed(self) -> int:
        return sum(1 for outcome in self.outcomes if outcome.passed and not outcome.skipped)

    @property
    def total(self) -> int:
        """The tests that ran (the skipped ones left out)."""
        return sum(1 for outcome in self.outcomes if not outcome.skipped)

    @property
    def skipped(self) -> int:
        return sum(1 for outcome in self.outcomes if outcome.skipped)

    @property
    def all_passed(self) -> bool:
        """No problem, and every test that ran passed (at least one ran)."""
        return not self.problem and self.total > 0 and self.passed == self.total

    def failure_text(self, limit: int = 1500) -> str:
        """The run's problem (once, with the tests that failed with it) and each other failed test with its message,
        at most about ``limit`` characters: when they do not fit, each keeps its start and its end, and failures
        past what fits are counted (before, the end of the whole was kept, so one long report, V8's out-of-memory
        dump or a big diff, pushed every other failure out of the repair's prompt)."""
        failed = [o for o in self.outcomes if not o.passed and not o.skipped]
        parts = [f"{o.node_id} failed:\n{o.message}" for o in failed if not self.problem or o.message != self.problem]
        if self.problem:  # (a whole run's problem, which its tests failed with: said once)
            same = [o.node_id for o in failed if o.message == self.problem]
            parts.insert(0, self.problem + (f"\n(failed with it: {', '.join(same)})" if same else ""))
        whole = "\n\n".join(parts)
        if len(whole) <= limit:
            return whole
        shown = parts[: max(1, limit // MIN_FAILURE_CHARS)]
        sizes: dict[int, int] = {}  # what each keeps: a short one all of it, the long ones the rest shared out
        budget, left = limit, len(shown)
        for index in sorted(range(len(shown)), key=lambda i: len(shown[i])):
            sizes[index] = min(len(shown[index]), budget // left)
            budget, left = budget - sizes[index], left - 1
        text = "\n\n".join(_head_and_tail(part, sizes[index]) for index, part in enumerate(shown))
        if len(shown) < len(parts):
            text += f"\n\n… and {len(parts) - len(shown)} more failed"
        return text


MIN_FAILURE_CHARS = 300  # the least of a failure shown in a shortened failure_text


def _head_and_tail(text: str, size: int) -> str:
    """``text`` within about ``size`` characters: its start (which test; a compiler's first error) and its end (a
    traceback's assertion), half each."""
    if len(text) <= size:
        return text
    return f"{text[: size // 2].rstrip()}\n…\n{text[-max(0, size - size // 2 - 3) :].lstrip()}"


@dataclass(frozen=True)
class RunCommand:
    """How a runner runs the selected tests in a copy: the command, its whole environment, and where it writes its
    report (inside the copy; None: the runner reads the console output)."""

    argv: list[str]
    environment: dict[str, str]
    report: Path | None  # (as the run sees it; the sandbox gives `outcomes` where the server reads it: RunPlace.own)
    # memory is limited by address space, else by data segment (Node.js's WebAssembly, which its TypeScript support
    # runs on, reserves far more address space than it uses: under an address-space limit it cannot start)
    limit_address_space: bool = True
    cwd: Path | None = None  # where it runs (default: the copy's root)
    memory_bytes: int | None = None  # its memory limit, when the runner needs another than the limits' (Bun)
    # variables the run gets unless the user's (solve.env, solve.passEnv) say otherwise (DJANGO_SETTINGS_MODULE)
    defaults: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FinishedRun:
    """What the sandbox saw of a run: its exit status (None when it was stopped), its console output's end, and why
    it was stopped or failed as a whole ("" when it ended by itself)."""

    returncode: int | None
    output: str
    problem: str


@dataclass(frozen=True)
class RunPlace:
    """Where a run happens: ``workdir`` is where the run sees the candidate's project (its copy; or, through an
    overlay, the project's own folder with the candidate's own files over it), ``shared`` a folder kept for the
    whole solve job (a build cache: cargo's target folder), ``import_roots`` the folders the candidate's files are
    imported from (Python). With an overlay, ``upper`` holds the candidate's own files, those written for the run
    (the candidate, unsaved buffers, a runner's reporter) and those the run writes (its report): the server, which
    sees the project itself at ``workdir``, writes and reads them there (`own`)."""

    workdir: Path
    shared: Path
    import_roots: tuple[Path, ...] = ()
    upper: Path | None = None

    def own(self, path: Path) -> Path:
        """Where the server, outside the run, writes a file that the run is to see at ``path`` (in ``workdir``), or
        reads one that the run wrote there."""
        if self.upper is None or not path.is_relative_to(self.workdir):
            return path
        return self.upper / path.relative_to(self.workdir)

    def source(self, path: Path) -> Path:
        """Where the server reads a file or folder that the run sees at ``path``: the candidate's own, else the
        project's."""
        own = self.own(path)
        return own if own.exists() else path


class TestRunner(Protocol):
    """One kind of test runner: how the selected tests run and how their outcomes are read. A test's id is its
    file's path relative to the project, then the names around it, outermost first: ``tests/test_x.py::TestC::
    test_y``, ``test/math.test.js::group::adds zero``, ``src/lib.rs::tests::adds``."""

    name: str  # for messages: "pytest", "node:test", "cargo test"
    linked_folders: tuple[str, ...]  # folders of the project linked into each copy (node_modules)

    def command(self, place: RunPlace, node_ids: list[str], limits: Limits) -> RunCommand: ...

    def outcomes(self, place: RunPlace, command: RunCommand, node_ids: list[str], run: FinishedRun) -> TestReport:
        """The outcome of each of ``node_ids`` (and the run's problem, if any) from what the run left."""
        ...
