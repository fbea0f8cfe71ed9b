"""ava: the project's own ava (its node_modules, linked into the copy) on the selected test files with a --match per
selected title, read from its TAP output: a test's line names it by its title, after its file's short name when
several files ran ("math › adds"), and its YAML block holds the assertion's details."""

from __future__ import annotations

import os
import re
from pathlib import Path

from atlas_lsp.solve.runners.jest_like import clean_message
from atlas_lsp.solve.runners.node_test import NamedResults, named_outcomes
from atlas_lsp.solve.runs import SKIPPED, FinishedRun, Limits, RunCommand, RunPlace, TestReport
from atlas_lsp.solve.sandbox import base_environment, run_problem, whole_run_failed

_TAP_LINE = re.compile(r"^(?P<ok>ok|not ok) \d+ - (?P<name>.*?)(?P<skip> # SKIP.*| # TODO.*)?$")


def tap_results(output: str) -> list[tuple[str, bool, bool, str]]:
    """(name, passed, skipped, the YAML block's text) of each TAP result line."""
    results: list[tuple[str, bool, bool, str]] = []
    block: list[str] | None = None
    for line in output.split("\n"):
        found = _TAP_LINE.match(line)
        if found:
            block = None
            results.append((found.group("name"), found.group("ok") == "ok", bool(found.group("skip")), ""))
        elif line.strip() == "---" and results:
            block = []
        elif line.strip() == "..." and block is not None and results:
            name, passed, skipped, _ = results[-1]
            results[-1] = (name, passed, skipped, "\n".join(block))
            block = None
        elif block is not None:
            block.append(line[4:] if line.startswith("    ") else line.strip())
    return results


class AvaRunner:
    name = "ava"
    linked_folders: tuple[str, ...] = ("node_modules",)
    note = ""  # which Node.js runs the tests, when it is not plainly the one on PATH (node_versions.py)

    def __init__(self, package: str, binary: str, node: str) -> None:
        self.package = package  # the folder (relative to the project) whose package.json uses ava: it runs there
        self.binary = binary  # node_modules/.bin/ava, relative to the project
        self.node = node

    def command(self, place: RunPlace, node_ids: list[str], limits: Limits) -> RunCommand:
        cwd = place.workdir / self.package
        files = list(dict.fromkeys(node_id.split("::", 1)[0] for node_id in node_ids))
        relative = [os.path.relpath(place.workdir / file, cwd) for file in files]
        titles = dict.fromkeys(node_id.split("::")[-1] for node_id in node_ids)  # (ava has no groups)
        argv = [
            self.node, str(place.workdir / self.binary), "--tap", "--timeout=1m",
            *(f"--match={title}" for title in titles), *relative,
        ]  # fmt: skip
        environment = {**base_environment(place.workdir, [str(Path(self.node).parent)]), "NODE_ENV": "test"}
        environment["CI"] = "true"  # (no interactive reporter, no watch mode)
        return RunCommand(argv, environment, None, limit_address_space=False, cwd=cwd)

    def outcomes(self, place: RunPlace, command: RunCommand, node_ids: list[str], run: FinishedRun) -> TestReport:
        problem = run_problem(run, (0, 1))
        results: NamedResults = {}
        tap = tap_results(run.output)
        for node_id in node_ids:
            file, *names = node_id.split("::")
            title = names[-1] if names else ""
            for name, passed, skipped, block in tap:
                if name == title or name.endswith(" › " + title):  # (ava names a file by its short form)
                    outcome = (False, SKIPPED) if skipped else (passed, "" if passed else self._message(block, place))
                    results.setdefault((file, tuple(names)), []).append(outcome)
        failed_files = [self._message(f"{name}\n{block}", place) for name, passed, _, block in tap if not passed]
        if not results and failed_files:  # (a test file that did not load: its error, and that it exited)
            file_errors = {node_id.split("::", 1)[0]: "\n".join(failed_files) for node_id in node_ids}
            return TestReport(named_outcomes(node_ids, {}, file_errors), 0.0, problem)
        if not results:
            return whole_run_failed(run, node_ids, problem or "ava reported no test")
        return TestReport(named_outcomes(node_ids, results, {}), 0.0, problem)

    @staticmethod
    def _message(block: str, place: RunPlace) -> str:
        return clean_message(block, place.workdir) or "failed"
