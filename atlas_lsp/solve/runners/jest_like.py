"""jest and vitest: the project's own installed runner (its node_modules, linked into the copy), run on the selected
test files with a name pattern, and read from the JSON report both write in the same shape (per file: each test's
ancestor titles, title, status and failure messages)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from atlas_lsp.solve.runners.node_test import NamedResults, name_pattern, named_outcomes
from atlas_lsp.solve.runs import FinishedRun, Limits, RunCommand, RunPlace, TestReport
from atlas_lsp.solve.sandbox import base_environment, run_problem, whole_run_failed

REPORT_FILE = ".atlas-report.json"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def clean_message(text: str, workdir: Path, limit_lines: int = 14) -> str:
    """A failure message without colours, node's internals or the copy's own path, at most ``limit_lines`` lines."""
    lines = [line for line in _ANSI.sub("", text).split("\n") if "node:internal" not in line]
    lines = [line for line in lines if "/node_modules/" not in line or not line.strip().startswith("at ")]
    return "\n".join(lines[:limit_lines]).strip().replace(f"file://{workdir}/", "").replace(f"{workdir}/", "")


class JestLikeRunner:
    linked_folders: tuple[str, ...] = ("node_modules",)
    note = ""  # which Node.js runs the tests, when it is not plainly the one on PATH (node_versions.py)

    def __init__(self, kind: str, package: str, binary: str, node: str) -> None:
        self.kind = kind  # "jest" or "vitest"
        self.name = kind
        self.package = package  # the folder (relative to the project) whose package.json uses the runner: it runs there
        self.binary = binary  # node_modules/.bin/<kind>, relative to the project (the package's or one above it)
        self.node = node

    def command(self, place: RunPlace, node_ids: list[str], limits: Limits) -> RunCommand:
        cwd = place.workdir / self.package
        report = place.workdir / REPORT_FILE
        files = list(dict.fromkeys(node_id.split("::", 1)[0] for node_id in node_ids))
        relative = [os.path.relpath(place.workdir / file, cwd) for file in files]  # (../ for one outside it)
        names = list(dict.fromkeys(node_id.split("::")[-1] for node_id in node_ids))
        pattern = "(?:" + "|".join(name_pattern(name) for name in names) + ")"
        binary = str(place.workdir / self.binary)
        if self.kind == "vitest":
            argv = [binary, "run", "--reporter=json", f"--outputFile={report}", "-t", pattern, *relative]
        else:
            argv = [
                binary, "--ci", "--json", f"--outputFile={report}", "--watchman=false",
                f"--cacheDirectory={place.workdir / '.tmp' / 'jest'}", "-t", pattern, "--runTestsByPath", *relative,
            ]  # fmt: skip
        environment = {**base_environment(place.workdir, [str(Path(self.node).parent)]), "CI": "true"}
        environment["NODE_ENV"] = "test"
        return RunCommand(argv, environment, report, limit_address_space=False, cwd=cwd)

    def outcomes(self, place: RunPlace, command: RunCommand, node_ids: list[str], run: FinishedRun) -> TestReport:
        problem = run_problem(run, (0, 1))
        try:
            loaded = json.loads(command.report.read_text(encoding="utf-8")) if command.report else {}
        except (OSError, ValueError):
            loaded = {}
        results: NamedResults = {}
        file_errors: dict[str, str] = {}
        for suite in loaded.get("testResults", []) if isinstance(loaded, dict) else []:
            try:
                relative = Path(str(suite.get("name", ""))).relative_to(place.workdir).as_posix()
            except ValueError:
                continue
            assertions = suite.get("assertionResults") or []
            if suite.get("status") == "failed" and not assertions:
                message = _ANSI.sub("", str(suite.get("message") or "it failed"))
                message = message.split("Details:", 1)[-1]  # (jest explains its transforms first, then the error)
                file_errors[relative] = clean_message(message, place.workdir, 24)
            for test in assertions:
                names = (*[str(t) for t in test.get("ancestorTitles") or []], str(test.get("title", "")))
                status = test.get("status")
                if status in ("pending", "skipped", "todo", "disabled"):
                    continue  # (left out by the name pattern, or skipped: a selected one is then "not run")
                passed = status == "passed"
                failures = "\n".join(test.get("failureMessages") or [str(status)])
                message = "" if passed else clean_message(failures, place.workdir)
                results.setdefault((relative, names), []).append((passed, message))
        if not results and not file_errors:
            return whole_run_failed(run, node_ids, problem or f"{self.kind} reported no test")
        return TestReport(named_outcomes(node_ids, results, file_errors), 0.0, problem)
