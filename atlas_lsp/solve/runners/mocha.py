"""mocha: the project's own installed mocha (its node_modules, linked into the copy), run on the selected test files
with a --grep pattern, and read from its JSON reporter's file (each test's file, full title and error)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from atlas_lsp.solve.runners.jest_like import clean_message
from atlas_lsp.solve.runners.node_test import NamedResults, name_pattern, named_outcomes
from atlas_lsp.solve.runs import FinishedRun, Limits, RunCommand, RunPlace, TestOutcome, TestReport
from atlas_lsp.solve.sandbox import base_environment, run_problem, whole_run_failed

REPORT_FILE = ".atlas-report.json"


def _joined(node_id: str) -> str:
    """``file::suite::test`` as mocha names it: ``file::suite test`` (its full title joins the titles with spaces)."""
    file, *names = node_id.split("::")
    return f"{file}::{' '.join(names)}"


class MochaRunner:
    name = "mocha"
    kind = "mocha"
    linked_folders: tuple[str, ...] = ("node_modules",)
    note = ""  # which Node.js runs the tests, when it is not plainly the one on PATH (node_versions.py)

    def __init__(self, package: str, binary: str, node: str) -> None:
        self.package = package  # the folder (relative to the project) whose package.json uses mocha: it runs there
        self.binary = binary  # node_modules/.bin/mocha, relative to the project
        self.node = node

    def command(self, place: RunPlace, node_ids: list[str], limits: Limits) -> RunCommand:
        cwd = place.workdir / self.package
        report = place.workdir / REPORT_FILE
        files = list(dict.fromkeys(node_id.split("::", 1)[0] for node_id in node_ids))
        relative = [os.path.relpath(place.workdir / file, cwd) for file in files]
        names = list(dict.fromkeys(node_id.split("::")[-1] for node_id in node_ids))
        pattern = "(?:" + "|".join(name_pattern(name) for name in names) + ")"
        argv = [
            str(place.workdir / self.binary), "--reporter", "json", "--reporter-option", f"output={report}",
            "--grep", pattern, "--no-color", *relative,
        ]  # fmt: skip
        environment = {**base_environment(place.workdir, [str(Path(self.node).parent)]), "CI": "true"}
        environment["NODE_ENV"] = "test"
        return RunCommand(argv, environment, report, limit_address_space=False, cwd=cwd)

    def outcomes(self, place: RunPlace, command: RunCommand, node_ids: list[str], run: FinishedRun) -> TestReport:
        problem = run.problem  # (timed out, cancelled; mocha exits with the number of failed tests, any is its own)
        try:
            loaded = json.loads(command.report.read_text(encoding="utf-8")) if command.report else {}
        except (OSError, ValueError):
            loaded = {}
        pending = {(t.get("file"), t.get("fullTitle")) for t in loaded.get("pending", [])} if loaded else set()
        results: NamedResults = {}
        for test in loaded.get("tests", []) if isinstance(loaded, dict) else []:
            try:
                relative = Path(str(test.get("file", ""))).relative_to(place.workdir).as_posix()
            except ValueError:
                continue
            if (test.get("file"), test.get("fullTitle")) in pending:
                continue  # (skipped: a selected one is then "not run")
            error = test.get("err") or {}
            message = clean_message(str(error.get("stack") or error.get("message") or ""), place.workdir)
            results.setdefault((relative, (str(test.get("fullTitle", "")),)), []).append((not error, message))
        if not results:  # (a test file that does not load stops mocha before its report: its error is in the output)
            lines = run.output.split("\n")
            first = next((i for i, line in enumerate(lines) if re.match(r"^\w*Error\b", line.strip())), None)
            if run.problem or first is None:
                return whole_run_failed(run, node_ids, run_problem(run, (0,)) or "mocha reported no test")
            error = clean_message("\n".join(lines[max(0, first - 4) :]), place.workdir, 16)
            problem = f"the test files did not load:\n{error}"
            return TestReport([TestOutcome(node_id, False, problem) for node_id in node_ids], 0.0, problem)
        joined = named_outcomes([_joined(node_id) for node_id in node_ids], results, {})
        outcomes = [TestOutcome(node_id, o.passed, o.message) for node_id, o in zip(node_ids, joined, strict=True)]
        return TestReport(outcomes, 0.0, problem)
