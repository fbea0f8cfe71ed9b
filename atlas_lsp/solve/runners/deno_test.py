"""deno test: runs the selected test files from the folder of the project's deno.json, its top-level tests chosen by a
name filter, offline (`--cached-only`: the modules come from the user's DENO_DIR, read-only to the run), with all
permissions (the sandbox confines the run, not Deno's prompts), and reads its JUnit report (a step is named
"test > step", as `describe`/`it` of @std/testing/bdd are); a candidate that does not type-check or parse gives
Deno's errors (what a repair needs)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from xml.etree import ElementTree

from atlas_lsp.solve.runners.jest_like import clean_message
from atlas_lsp.solve.runners.node_test import NamedResults, name_pattern, named_outcomes
from atlas_lsp.solve.runs import (
    NOT_COLLECTED,
    SKIPPED,
    FinishedRun,
    Limits,
    RunCommand,
    RunPlace,
    TestOutcome,
    TestReport,
)
from atlas_lsp.solve.sandbox import base_environment, run_problem, whole_run_failed

REPORT_FILE = ".atlas-report.xml"
CONFIG_FILES = ("deno.json", "deno.jsonc")
DOES_NOT_COMPILE = "the code does not compile"
_COMPILE_ERRORS = ("Type checking failed", "could not be parsed", "[ERROR]:", "error: SyntaxError:")  # (the last: 2.9)
_NOT_CACHED = ("not found in cache", "--cached-only", "Specifier not found")
CACHE_HINT = (
    "the sandbox runs offline from your DENO_DIR: run `deno test` (or `deno install`) in the project once, so the "
    "modules its tests import are cached there"
)


def deno_dir() -> str:
    """Where Deno caches modules for the user (DENO_DIR, else its default on Linux)."""
    if os.environ.get("DENO_DIR"):
        return os.environ["DENO_DIR"]
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(cache) / "deno")


def _errors(output: str, workdir: Path, limit_lines: int = 30) -> str:
    """Deno's own error lines (type errors, a parse error), without its hints and stack dumps."""
    lines = output.split("\n")
    start = next((i for i, line in enumerate(lines) if "[ERROR]" in line or line.startswith("error:")), 0)
    kept = [line for line in lines[start:] if not line.strip().startswith(("info:", "hint:", "Stack backtrace"))]
    text = "\n".join(kept).split("Stack backtrace")[0]
    return "\n".join(text.replace(f"file://{workdir}/", "").strip().split("\n")[:limit_lines])


class DenoTestRunner:
    name = "deno test"
    linked_folders: tuple[str, ...] = ("node_modules",)  # (a Deno project with a package.json may have one)

    def __init__(self, deno: str, folder: str) -> None:
        self.deno = deno
        self.folder = folder  # the folder of the deno.json (relative to the project): deno runs there

    def command(self, place: RunPlace, node_ids: list[str], limits: Limits) -> RunCommand:
        cwd = place.workdir / self.folder
        report = place.workdir / REPORT_FILE
        files = list(dict.fromkeys(node_id.split("::", 1)[0] for node_id in node_ids))
        relative = ["./" + os.path.relpath(place.workdir / file, cwd) for file in files]
        tests = dict.fromkeys(node_id.split("::")[1] for node_id in node_ids if "::" in node_id)  # (top-level ones)
        pattern = "/(?:" + "|".join(name_pattern(name) for name in tests) + ")/"
        argv = [
            self.deno, "test", "--allow-all", "--no-prompt", "--cached-only", "--reporter=junit",
            f"--junit-path={report}", "--filter", pattern, *relative,
        ]  # fmt: skip
        environment = {
            **base_environment(place.workdir, [str(Path(self.deno).parent)]),
            "DENO_DIR": deno_dir(),
            "DENO_NO_UPDATE_CHECK": "1",
            "DENO_NO_PROMPT": "1",
            "NO_COLOR": "1",
            "RUST_BACKTRACE": "0",
        }
        return RunCommand(argv, environment, report, limit_address_space=False, cwd=cwd)

    def outcomes(self, place: RunPlace, command: RunCommand, node_ids: list[str], run: FinishedRun) -> TestReport:
        problem = run_problem(run, (0, 1))
        cwd = place.workdir / self.folder
        try:
            tree = ElementTree.parse(command.report) if command.report and command.report.exists() else None
        except (ElementTree.ParseError, OSError):
            tree = None
        results: NamedResults = {}
        for suite in tree.getroot().iter("testsuite") if tree is not None else []:
            file = Path(os.path.normpath(cwd / suite.get("name", ""))).relative_to(place.workdir).as_posix()
            for case in suite.findall("testcase"):
                names = tuple(case.get("name", "").split(" > "))
                if case.find("skipped") is not None:
                    results.setdefault((file, names), []).append((False, SKIPPED))
                    continue
                failure = case.find("failure")
                if failure is None:
                    failure = case.find("error")
                message = "" if failure is None else clean_message(failure.text or failure.get("message", ""), cwd)
                results.setdefault((file, names), []).append((failure is None, message or "failed"))
        if results:
            return TestReport(named_outcomes(node_ids, results, {}), 0.0, problem)
        if not problem and any(marker in run.output for marker in _NOT_CACHED):
            problem = f"{NOT_COLLECTED}: deno could not load a module offline: {_errors(run.output, cwd, 6)}"
            problem += f"\n({CACHE_HINT})"
        elif not problem and any(marker in run.output for marker in _COMPILE_ERRORS):
            problem = f"{DOES_NOT_COMPILE}:\n{_errors(run.output, cwd)}"
        else:
            return whole_run_failed(run, node_ids, problem or "deno test reported no test")
        return TestReport([TestOutcome(node_id, False, problem) for node_id in node_ids], 0.0, problem)


def find_deno() -> str | None:
    """``deno`` on PATH, else its installer's place (~/.deno/bin)."""
    found = shutil.which("deno")
    if found:
        return found
    default = Path(os.environ.get("DENO_INSTALL", Path.home() / ".deno")) / "bin" / "deno"
    return str(default) if default.is_file() else None


def is_deno_project(folder: Path) -> bool:
    return any((folder / name).is_file() for name in CONFIG_FILES)
