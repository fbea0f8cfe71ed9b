"""bun test (Bun's own runner): runs the selected test files from the package's folder with a name pattern, and
reads its JUnit report (each test's file, describe titles and outcome); a failure's message and a file that did not
load come from its console output, which the report leaves out.

Bun's engine reserves about 5.5 GiB of memory when it starts, so its runs are limited to `BUN_MEMORY_BYTES` of
data segment (at least; more when the limits allow more)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from xml.etree import ElementTree

from atlas_lsp.solve.runners.jest_like import clean_message
from atlas_lsp.solve.runners.node_test import NamedResults, name_pattern, named_outcomes
from atlas_lsp.solve.runs import SKIPPED, FinishedRun, Limits, RunCommand, RunPlace, TestReport
from atlas_lsp.solve.sandbox import base_environment, run_problem, whole_run_failed

REPORT_FILE = ".atlas-report.xml"
BUN_MEMORY_BYTES = 8 * 1024**3
LOCKFILES = ("bun.lock", "bun.lockb", "bunfig.toml")  # a project that uses Bun
_RESULT_LINE = re.compile(r"^\((?P<status>pass|fail|skip|todo)\) (?P<name>.*?)(?: \[[\d.]+m?s\])?$")
_FILE_HEADER = re.compile(r"^(?P<file>\S+\.[cm]?[jt]sx?):$")
_UNHANDLED = "# Unhandled error between tests"


def console_failures(output: str) -> tuple[dict[tuple[str, str], str], dict[str, str]]:
    """From bun's console output: each failed test's message by (file, "describe > test"), and the error of each
    file that failed as a whole (it did not load: bun reports an unhandled error between tests, between two rules)."""
    failures: dict[tuple[str, str], str] = {}
    file_errors: dict[str, str] = {}
    file, pending = "", []

    def whole_file_error() -> None:
        if _UNHANDLED in pending:
            rules = [i for i, line in enumerate(pending) if line.strip() and set(line.strip()) == {"-"}]
            inside = pending[rules[0] + 1 : rules[1]] if len(rules) > 1 else pending[pending.index(_UNHANDLED) + 1 :]
            file_errors[file] = "\n".join(inside).strip()

    for line in output.split("\n"):
        header, result = _FILE_HEADER.match(line), _RESULT_LINE.match(line)
        if header:
            whole_file_error()
            file, pending = header.group("file"), []
        elif result:
            if result.group("status") == "fail":
                failures[(file, result.group("name"))] = "\n".join(pending).strip()
            pending = []
        else:
            pending.append(line)
    whole_file_error()
    return failures, file_errors


class BunTestRunner:
    name = "bun test"
    linked_folders: tuple[str, ...] = ("node_modules",)

    def __init__(self, bun: str, package: str) -> None:
        self.bun = bun
        self.package = package  # the folder (relative to the project) of the package.json: bun runs there

    def command(self, place: RunPlace, node_ids: list[str], limits: Limits) -> RunCommand:
        cwd = place.workdir / self.package
        report = place.workdir / REPORT_FILE
        files = list(dict.fromkeys(node_id.split("::", 1)[0] for node_id in node_ids))
        relative = ["./" + os.path.relpath(place.workdir / file, cwd) for file in files]  # (a path, not a filter)
        # bun matches a pattern against the test's full name: its describe titles and its own, joined by spaces
        names = dict.fromkeys(" ".join(node_id.split("::")[1:]) for node_id in node_ids)
        pattern = "(?:" + "|".join(name_pattern(name) for name in names) + ")"
        argv = [self.bun, "test", "--reporter=junit", f"--reporter-outfile={report}", "-t", pattern, *relative]
        environment = {
            **base_environment(place.workdir, [str(Path(self.bun).parent)]),
            "NODE_ENV": "test",
            "NO_COLOR": "1",
            "BUN_INSTALL_CACHE_DIR": str(place.workdir / ".tmp" / "bun-cache"),  # (never the user's)
        }
        memory = max(limits.memory_bytes, BUN_MEMORY_BYTES)
        return RunCommand(argv, environment, report, limit_address_space=False, cwd=cwd, memory_bytes=memory)

    def outcomes(self, place: RunPlace, command: RunCommand, node_ids: list[str], run: FinishedRun) -> TestReport:
        problem = run_problem(run, (0, 1))
        cwd = place.workdir / self.package
        failures, load_errors = console_failures(run.output)
        file_errors = {
            self._relative(place, cwd, file): clean_message(error, place.workdir, 20)
            for file, error in load_errors.items()
        }
        results: NamedResults = {}
        try:
            tree = ElementTree.parse(command.report) if command.report and command.report.exists() else None
        except (ElementTree.ParseError, OSError):
            tree = None
        for suite in tree.getroot().findall("testsuite") if tree is not None else []:
            file = suite.get("file", suite.get("name", ""))
            relative = self._relative(place, cwd, file)
            for names, case in _cases(suite, ()):
                if case.find("skipped") is not None:
                    results.setdefault((relative, names), []).append((False, SKIPPED))
                    continue
                failed = case.find("failure") is not None or case.find("error") is not None
                message = failures.get((file, " > ".join(names)), "") if failed else ""
                results.setdefault((relative, names), []).append(
                    (not failed, clean_message(message, place.workdir) or "failed" if failed else "")
                )
        if not results and not file_errors:
            return whole_run_failed(run, node_ids, problem or "bun test reported no test")
        return TestReport(named_outcomes(node_ids, results, file_errors), 0.0, problem)

    @staticmethod
    def _relative(place: RunPlace, cwd: Path, file: str) -> str:
        """A file as bun names it (relative to where it ran) relative to the project."""
        return Path(os.path.normpath(cwd / file)).relative_to(place.workdir).as_posix()


def _cases(suite: ElementTree.Element, titles: tuple[str, ...]) -> list[tuple[tuple[str, ...], ElementTree.Element]]:
    """Each test case under ``suite`` with its names (the nested suites' titles, then its own)."""
    found = [((*titles, case.get("name", "")), case) for case in suite.findall("testcase")]
    for inner in suite.findall("testsuite"):
        found += _cases(inner, (*titles, inner.get("name", "")))
    return found


def find_bun(folders: list[Path]) -> str | None:
    """``bun`` in a ``node_modules/.bin`` of ``folders`` (npm's bun package), on PATH, or in ~/.bun/bin."""
    for folder in folders:
        local = folder / "node_modules" / ".bin" / "bun"
        if local.exists():
            return str(local)
    found = shutil.which("bun")
    if found:
        return found
    default = Path(os.environ.get("BUN_INSTALL", Path.home() / ".bun")) / "bin" / "bun"
    return str(default) if default.is_file() else None
