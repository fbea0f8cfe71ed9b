"""node-tap: each selected test file runs as the plain Node.js script a tap test file is (tap prints its TAP on
stdout by itself), with tap's own name filter (``TAP_GREP``: a pattern per level of subtests) selecting the tests;
its nested TAP is read per file. tap's command line would wrap the same run in its coverage and TypeScript loaders
(one small file: 2.3-3.3 s against 0.22 s on a 2-core Xeon); what it adds besides (a tap config's
``node-arg``, ``before`` and ``after``) is not applied.

The files run one after the other through `node_files.py`'s driver, which records each one's TAP."""

from __future__ import annotations

import os
import re
from pathlib import Path

from atlas_lsp.solve.runners.node_files import ScriptFilesRunner, file_failure, files_argv
from atlas_lsp.solve.runners.node_test import (
    NamedResults,
    _js_escaped,
    json_lines,
    named_outcomes,
    strip_types_flags,
)
from atlas_lsp.solve.runs import SKIPPED, FinishedRun, Limits, RunCommand, RunPlace, TestReport
from atlas_lsp.solve.sandbox import base_environment, run_problem, whole_run_failed

REPORT_FILE = ".atlas-tap-report.jsonl"
_RESULT = re.compile(
    r"^(?P<indent>(?:    )*)(?P<ok>ok|not ok) \d+(?: - (?P<name>.*?))?(?P<directive> # (?:SKIP|TODO)\b.*| # time=.*)?$"
)
_SUBTEST = re.compile(r"^(?P<indent>(?:    )*)# Subtest: (?P<name>.*)$")
UNSELECTED = " # SKIP filter:"  # how tap marks the tests its filter left out
_DROPPED_KEYS = ("stack", "at", "compare", "tapCaught", "test", "type", "time")


def grep_levels(node_ids: list[str]) -> str:
    """``TAP_GREP``: for each level of subtests down to the shallowest selected test's, a pattern matching the
    names of the selected tests there exactly (deeper levels unfiltered: a selected test's subtests all run)."""
    paths = [node_id.split("::")[1:] for node_id in node_ids]
    depth = min((len(path) for path in paths), default=0)
    levels = []
    for level in range(depth):
        names = dict.fromkeys(path[level] for path in paths)
        levels.append("^(?:" + "|".join(_js_escaped(name) for name in names) + ")$")
    return "\n".join(levels)


def _unescaped(name: str) -> str:
    """A test's name as written: TAP escapes ``#`` and ``\\`` in names (``issue \\#12``)."""
    return re.sub(r"\\(.)", r"\1", name)


def tap_tree(tap: str) -> list[tuple[tuple[str, ...], bool, str, str]]:
    """(names from the outermost test down, passed, directive, YAML block) of each result line of nested TAP (its
    subtests' lines indented four spaces a level, each after a ``# Subtest:`` line naming it)."""
    results: list[tuple[tuple[str, ...], bool, str, str]] = []
    opened: dict[int, str] = {}  # level -> the subtest open there
    block: list[str] | None = None
    block_indent = ""
    for line in tap.split("\n"):
        if block is not None:
            if line.strip() == "...":
                names, passed, directive, _ = results[-1]
                results[-1] = (names, passed, directive, "\n".join(block))
                block = None
            else:
                block.append(line[len(block_indent) :] if line.startswith(block_indent) else line.strip())
            continue
        subtest = _SUBTEST.match(line)
        if subtest:
            level = len(subtest.group("indent")) // 4
            opened = {k: v for k, v in opened.items() if k < level}
            opened[level] = _unescaped(subtest.group("name"))
            continue
        found = _RESULT.match(line)
        if found:
            level = len(found.group("indent")) // 4
            parents = tuple(opened[k] for k in range(level) if k in opened)
            name = _unescaped(found.group("name") or "")
            results.append(((*parents, name), found.group("ok") == "ok", found.group("directive") or "", ""))
            opened = {k: v for k, v in opened.items() if k < level}
            continue
        if line.strip() == "---" and results:
            block, block_indent = [], line[: len(line) - len(line.lstrip())]
    return results


def _readable(block: str) -> str:
    """An assertion's YAML block without what repeats the message or says nothing to a repair (its stack, ``at``,
    tap's bookkeeping), with where it failed (``at test/math.test.js:4``) in front."""
    kept: list[str] = []
    at: dict[str, str] = {}
    key = ""
    for line in block.split("\n"):
        found = re.match(r"^([A-Za-z]+):", line)
        if found:
            key = found.group(1)
        elif key == "at":
            field, _, value = line.strip().partition(": ")
            at[field] = value
        if key not in _DROPPED_KEYS:
            kept.append(line)
    file, number = at.get("fileName") or at.get("file"), at.get("lineNumber") or at.get("line")
    where = f"at {file}:{number}\n" if file and number else ""
    return where + "\n".join(kept).rstrip()


def _test_message(tree: list[tuple[tuple[str, ...], bool, str, str]], names: tuple[str, ...], block: str) -> str:
    """Why the test ``names`` failed: its failing assertions (and subtests), each with its YAML block."""
    failing = [
        f"{own[-1]}\n{_readable(text)}".rstrip()
        for own, passed, _, text in tree
        if not passed and len(own) == len(names) + 1 and own[: len(names)] == names
    ]
    return "\n".join(failing[:2]) or _readable(block) or "failed"


class TapRunner(ScriptFilesRunner):
    name = "tap"

    def command(self, place: RunPlace, node_ids: list[str], limits: Limits) -> RunCommand:
        report = place.workdir / REPORT_FILE
        cwd = place.workdir / self.package
        files = dict.fromkeys(os.path.relpath(place.workdir / node_id.split("::", 1)[0], cwd) for node_id in node_ids)
        grep = {"TAP_GREP": grep_levels(node_ids)}
        argv = files_argv(
            place, self.node, report, {file: grep for file in files}, strip_types_flags(self.node, self.typescript)
        )
        environment = {**base_environment(place.workdir, [str(Path(self.node).parent)]), "NODE_ENV": "test"}
        environment["TAP_COLORS"] = "0"
        return RunCommand(argv, environment, report, limit_address_space=False, cwd=cwd)

    def outcomes(self, place: RunPlace, command: RunCommand, node_ids: list[str], run: FinishedRun) -> TestReport:
        results: NamedResults = {}
        file_errors: dict[str, str] = {}  # a test file that failed as a whole (it did not load: a syntax error)
        cwd = place.workdir / self.package
        for ran in json_lines(command.report):
            file = (cwd / str(ran.get("file") or "")).resolve()
            try:
                relative = file.relative_to(place.workdir.resolve()).as_posix()
            except ValueError:
                continue
            tree = tap_tree(str(ran.get("stdout") or ""))
            for names, passed, directive, block in tree:
                if directive.startswith(UNSELECTED):
                    continue
                skipped = directive.startswith((" # SKIP", " # TODO"))
                message = SKIPPED if skipped else ("" if passed else _test_message(tree, names, block))
                results.setdefault((relative, names), []).append((passed and not skipped, message))
            failure = file_failure(ran, place.workdir) if not tree else None
            if failure is not None:
                file_errors[relative] = failure
        problem = run_problem(run, (0, 1))
        if not results and not file_errors:
            return whole_run_failed(run, node_ids, problem or "tap reported no test")
        return TestReport(named_outcomes(node_ids, results, file_errors), 0.0, problem)
