"""jasmine: the project's own jasmine (its node_modules, linked into the copy) on the selected spec files, with a
filter on the full names, read through a small reporter written into the copy (one JSON line per finished spec:
its file, the describe titles around it, its status and its failed expectations)."""

from __future__ import annotations

import os
from pathlib import Path

from atlas_lsp.solve.runners.jest_like import clean_message
from atlas_lsp.solve.runners.node_test import NamedResults, json_lines, name_pattern, named_outcomes
from atlas_lsp.solve.runs import SKIPPED, FinishedRun, Limits, RunCommand, RunPlace, TestReport
from atlas_lsp.solve.sandbox import base_environment, run_problem, whole_run_failed

REPORTER_FILE = ".atlas-jasmine-reporter.cjs"
REPORT_FILE = ".atlas-report.jsonl"
# (CommonJS: jasmine loads it in a package of either module type)
REPORTER = """
const fs = require('node:fs');
const out = process.env.ATLAS_JASMINE_REPORT;
const suites = [];
const write = (line) => fs.appendFileSync(out, JSON.stringify(line) + '\\n');
const text = (failure) => [failure.message, failure.stack].filter(Boolean).join('\\n');
module.exports = class AtlasReporter {
  suiteStarted(result) { suites.push(result.description); }
  suiteDone() { suites.pop(); }
  specDone(result) {
    write({ file: result.filename ?? null, names: [...suites, result.description], status: result.status,
            failures: (result.failedExpectations ?? []).map(text) });
  }
  jasmineDone(result) { write({ done: true, failures: (result.failedExpectations ?? []).map(text) }); }
};
"""


class JasmineRunner:
    name = "jasmine"
    linked_folders: tuple[str, ...] = ("node_modules",)
    note = ""  # which Node.js runs the tests, when it is not plainly the one on PATH (node_versions.py)

    def __init__(self, package: str, binary: str, node: str) -> None:
        self.package = package  # the folder (relative to the project) whose package.json uses jasmine: it runs there
        self.binary = binary  # node_modules/.bin/jasmine, relative to the project
        self.node = node

    def command(self, place: RunPlace, node_ids: list[str], limits: Limits) -> RunCommand:
        cwd = place.workdir / self.package
        place.own(place.workdir / REPORTER_FILE).write_text(REPORTER, encoding="utf-8")
        report = place.workdir / REPORT_FILE
        files = list(dict.fromkeys(node_id.split("::", 1)[0] for node_id in node_ids))
        relative = [os.path.relpath(place.workdir / file, cwd) for file in files]
        # jasmine matches a filter against a spec's full name: the describe titles and its own, joined by spaces
        names = dict.fromkeys(" ".join(node_id.split("::")[1:]) for node_id in node_ids)
        pattern = "(?:" + "|".join(name_pattern(name) for name in names) + ")"
        argv = [
            self.node, str(place.workdir / self.binary), f"--reporter={place.workdir / REPORTER_FILE}",
            f"--filter={pattern}", *relative,
        ]  # fmt: skip
        environment = {
            **base_environment(place.workdir, [str(Path(self.node).parent)]),
            "NODE_ENV": "test",
            "ATLAS_JASMINE_REPORT": str(report),
        }
        return RunCommand(argv, environment, report, limit_address_space=False, cwd=cwd)

    def outcomes(self, place: RunPlace, command: RunCommand, node_ids: list[str], run: FinishedRun) -> TestReport:
        problem = run_problem(run, (0, 1, 2, 3, 4))  # (jasmine's statuses: passed, incomplete, failed, …)
        results: NamedResults = {}
        for spec in json_lines(command.report):
            if spec.get("done"):
                if spec.get("failures") and not problem:  # (an afterAll that failed, an error between specs)
                    problem = clean_message("\n".join(spec["failures"]), place.workdir)
                continue
            try:
                relative = Path(str(spec.get("file") or "")).relative_to(place.workdir).as_posix()
            except ValueError:
                continue
            names = tuple(str(name) for name in spec.get("names") or [])
            status = spec.get("status")
            if status == "excluded":
                continue  # (left out by the filter)
            if status == "pending":
                results.setdefault((relative, names), []).append((False, SKIPPED))
                continue
            failures = "\n".join(spec.get("failures") or [])
            message = "" if status == "passed" else clean_message(failures or str(status), place.workdir)
            results.setdefault((relative, names), []).append((status == "passed", message))
        if not results:
            return whole_run_failed(run, node_ids, problem or "jasmine reported no spec")
        return TestReport(named_outcomes(node_ids, results, {}), 0.0, problem)
