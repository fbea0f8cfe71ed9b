"""node:test (Node.js's built-in runner): runs the selected test files with a name pattern per selected test, and reads
the runner's own events through a small reporter written into the copy (one JSON line per finished test, with its
file and the names around it), not its console text."""

from __future__ import annotations

import functools
import json
import re
import subprocess
from pathlib import Path
from typing import Any

from atlas_lsp.solve.runs import NOT_RUN, SKIPPED, FinishedRun, Limits, RunCommand, RunPlace, TestOutcome, TestReport
from atlas_lsp.solve.sandbox import base_environment, run_problem, whole_run_failed

REPORTER_FILE = ".atlas-reporter.mjs"
REPORT_FILE = ".atlas-report.jsonl"
# A node:test custom reporter: for each finished test, its file, the names of the tests/suites around it (from the
# start events' nesting, per file) and its error; for a test file that failed as a whole (it did not load), what it
# wrote to stderr (the SyntaxError). Node runs each test file in a process of its own and forwards
# their events here, in order per file.
REPORTER = """
import { resolve } from 'node:path';

const stacks = new Map();
const stderr = new Map();
// the test standing for a whole file, named by its path (absolute in Node.js 20, relative later)
const isFile = (data, file) => data.nesting === 0 && !!file && (data.name === data.file || file === resolve(data.name));
export default async function* atlasReporter(source) {
  for await (const event of source) {
    const data = event.data ?? {};
    const file = data.file ? resolve(data.file) : null; // (relative in some events of newer Node.js)
    if (event.type === 'test:stderr') {
      stderr.set(file, ((stderr.get(file) ?? '') + data.message).slice(-8192));
    } else if (event.type === 'test:start') {
      const stack = stacks.get(file) ?? [];
      stack.length = data.nesting;
      stack.push(data.name);
      stacks.set(file, stack);
    } else if (event.type === 'test:pass' || event.type === 'test:fail') {
      const names = (stacks.get(file) ?? []).slice(0, data.nesting);
      const error = data.details?.error;
      const cause = error?.cause ?? error;
      yield JSON.stringify({
        passed: event.type === 'test:pass',
        file,
        names: [...names, data.name],
        suite: data.details?.type === 'suite',
        skip: data.skip ?? null,
        todo: data.todo ?? null,
        error: cause ? String(cause.stack ?? cause.message ?? cause) : null,
        stderr: isFile(data, file) ? stderr.get(file) ?? null : null,
      }) + '\\n';
    }
  }
}
"""
UNSELECTED = "test name does not match pattern"  # node's skip reason for the tests the patterns leave out
TYPE_STRIPPING = (22, 6)  # the first Node.js that runs TypeScript (with --experimental-strip-types)
TYPE_STRIPPING_DEFAULT = (23, 6)  # from here on without the flag


# the placeholders of a title template of test.each / describe.each (jest, vitest, bun): printf-style, `%#` (the
# case's index), `$variable` (a table's column)
_PLACEHOLDER = re.compile(r"(%[psdifjo#$]|\$[A-Za-z_][\w.]*)")


def _js_escaped(text: str) -> str:
    return re.sub(r"[\\^$.*+?()[\]{}|]", lambda match: "\\" + match.group(0), text)  # (valid with the u flag too)


def name_pattern(name: str) -> str:
    """A --test-name-pattern matching the test called ``name``: its own name (Node 20 matches a test's own name) or
    its full name, the suites' names in front, separated by spaces (newer Node.js matches that). A title template
    of test.each matches every case's title (its placeholders match anything)."""
    parts = _PLACEHOLDER.split(name.replace("%%", "%"))
    escaped = "".join(".*" if index % 2 else _js_escaped(part) for index, part in enumerate(parts))
    # (a case's title may go on after the template: vitest appends the case's values to a title with a stray %)
    return f"(?:^| ){escaped}" + ("" if len(parts) > 1 else "$")


def _same_or_case(title: str, template: str) -> bool:
    return title == template or title_matches(template, title)


def title_matches(template: str, title: str) -> bool:
    """Whether ``title`` is a case of the title template ``template`` (test.each: "adds %i + %i" -> "adds 1 + 2"),
    with what a runner may append to it."""
    parts = _PLACEHOLDER.split(template.replace("%%", "%"))
    if len(parts) == 1:
        return False
    pattern = "".join(".*" if index % 2 else re.escape(part) for index, part in enumerate(parts))
    return re.match(pattern, title, re.S) is not None  # (what follows the template: see name_pattern)


@functools.cache
def node_version(node: str) -> tuple[int, int] | None:
    """(major, minor) of the ``node`` binary, or None when it cannot be run."""
    try:
        done = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.match(r"v(\d+)\.(\d+)", done.stdout.strip())
    return (int(found.group(1)), int(found.group(2))) if found else None


def _error_text(error: str | None, workdir: Path, limit_lines: int = 12) -> str:
    """The error's message and the stack frames in the project's code (not Node.js's own), paths relative to the
    copy, at most ``limit_lines`` lines."""
    if not error:
        return ""
    noise = ("(node:", "at node:", "Node.js v", "(Use `node --trace-warnings", "node:internal/")
    lines = [line for line in error.split("\n") if not any(part in line for part in noise)]
    return "\n".join(lines[:limit_lines]).strip().replace(f"file://{workdir}/", "").replace(f"{workdir}/", "")


def json_lines(report: Path | None) -> list[dict[str, Any]]:
    """The objects a reporter wrote to ``report``, one JSON line each (none when it wrote nothing; a line cut short
    by a kill, or one that is not an object, left out)."""
    try:
        lines = report.read_text(encoding="utf-8").split("\n") if report is not None and report.exists() else []
    except OSError:
        return []
    found = []
    for line in lines:
        try:
            loaded = json.loads(line)
        except ValueError:
            continue
        if isinstance(loaded, dict):
            found.append(loaded)
    return found


def strip_types_flags(node: str, typescript: bool) -> list[str]:
    """What ``node`` needs to run TypeScript files (nothing from Node.js 23.6 on)."""
    version = node_version(node)
    return (
        ["--experimental-strip-types"]
        if typescript and version is not None and version < TYPE_STRIPPING_DEFAULT
        else []
    )


class NodeTestRunner:
    name = "node:test"
    linked_folders: tuple[str, ...] = ("node_modules",)
    note = ""  # which Node.js runs the tests, when it is not plainly the one on PATH (node_versions.py)

    def __init__(self, node: str, typescript: bool = False) -> None:
        self.node = node
        self.typescript = typescript

    def command(self, place: RunPlace, node_ids: list[str], limits: Limits) -> RunCommand:
        place.own(place.workdir / REPORTER_FILE).write_text(REPORTER, encoding="utf-8")
        report = place.workdir / REPORT_FILE
        files = list(dict.fromkeys(node_id.split("::", 1)[0] for node_id in node_ids))
        names = dict.fromkeys(node_id.split("::")[-1] for node_id in node_ids)
        flags = strip_types_flags(self.node, self.typescript)
        argv = [
            self.node, *flags, "--test", f"--test-reporter=./{REPORTER_FILE}",
            f"--test-reporter-destination={report}", *(f"--test-name-pattern={name_pattern(n)}" for n in names),
            *files,
        ]  # fmt: skip
        environment = {**base_environment(place.workdir, [str(Path(self.node).parent)]), "NODE_ENV": "test"}
        return RunCommand(argv, environment, report, limit_address_space=False)

    def outcomes(self, place: RunPlace, command: RunCommand, node_ids: list[str], run: FinishedRun) -> TestReport:
        results: NamedResults = {}
        file_errors: dict[str, str] = {}  # a test file that failed as a whole (it did not load: a syntax error)
        for event in json_lines(command.report):
            file = str(event.get("file") or "")
            try:
                relative = Path(file).relative_to(place.workdir).as_posix()
            except ValueError:
                continue
            names = tuple(str(n) for n in event.get("names") or [])
            error = _error_text(event.get("error"), place.workdir)
            if len(names) == 1 and (names[0] == file or file.endswith("/" + names[0])) and not event.get("passed"):
                file_errors[relative] = _error_text(event.get("stderr"), place.workdir, 20) or error or "it failed"
                continue
            if event.get("suite") or event.get("skip") == UNSELECTED:
                continue
            skipped = event.get("skip") is not None or event.get("todo") is not None
            passed = bool(event.get("passed")) and not skipped
            message = error if not passed and error else (SKIPPED if skipped else "")
            results.setdefault((relative, names), []).append((passed, message))
        problem = run_problem(run, (0, 1))
        if not results and not file_errors:
            return whole_run_failed(run, node_ids, problem or "node --test reported no test")
        return TestReport(named_outcomes(node_ids, results, file_errors), 0.0, problem)


NamedResults = dict[tuple[str, tuple[str, ...]], list[tuple[bool, str]]]  # (file, names) -> (passed, message) each


def named_outcomes(node_ids: list[str], results: NamedResults, file_errors: dict[str, str]) -> list[TestOutcome]:
    """The outcome of each of ``node_ids`` (``file::suite::test``) from the results of a JavaScript runner, by file
    and full name (else by file and the test's own name); a test that ran more than once passes when every run did;
    a test in a file that failed as a whole (``file_errors``) fails with that file's error."""
    outcomes: list[TestOutcome] = []
    for node_id in node_ids:
        file, *names = node_id.split("::")
        found = results.get((file, tuple(names))) or [
            outcome for (f, n), group in results.items() if f == file and n[-1:] == tuple(names[-1:])
            for outcome in group
        ] or [  # (test.each: each case of its title template)
            outcome for (f, n), group in results.items()
            if f == file and len(n) == len(names) and all(map(_same_or_case, n, names))
            for outcome in group
        ]  # fmt: skip
        ran = [(passed, message) for passed, message in found if passed or message != SKIPPED]
        if found and not ran:
            outcomes.append(TestOutcome(node_id, False, SKIPPED, skipped=True))
        elif ran:
            failed = [message for passed, message in ran if not passed]
            outcomes.append(TestOutcome(node_id, not failed, "\n".join(failed[:2])))
        elif file in file_errors:
            outcomes.append(TestOutcome(node_id, False, f"the test file {file} failed:\n{file_errors[file]}"))
        else:
            outcomes.append(TestOutcome(node_id, False, f"{NOT_RUN} (no test by that name ran)"))
    return outcomes
