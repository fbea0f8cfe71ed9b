"""Test files that run as the Node.js scripts they are (tap's, uvu's): a driver written into the candidate's folder
runs them one after the other, each with its own variables, and writes for each how it exited and what it printed,
one JSON line each (``kind: "file"``), to the report the runner reads."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from atlas_lsp.solve.runners.jest_like import clean_message
from atlas_lsp.solve.runs import RunPlace

DRIVER_FILE = ".atlas-file-driver.mjs"
DRIVER = """
import { spawnSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';

const [report, variablesByFile, ...rest] = process.argv.slice(2);
const variables = JSON.parse(variablesByFile);
const flags = rest.slice(0, rest.indexOf('--'));
for (const file of rest.slice(rest.indexOf('--') + 1)) {
  const env = { ...process.env, ...(variables[file] ?? {}) };
  const done = spawnSync(process.execPath, [...flags, file], { env, encoding: 'utf8', maxBuffer: 1 << 26 });
  appendFileSync(report, JSON.stringify({
    kind: 'file',
    file,
    status: done.status,
    signal: done.signal,
    error: done.error ? String(done.error) : null,
    stdout: done.stdout ?? '',
    stderr: (done.stderr ?? '').slice(-8192),
  }) + '\\n');
}
"""


def files_argv(
    place: RunPlace, node: str, report: Path, variables: dict[str, dict[str, str]], flags: list[str]
) -> list[str]:
    """The command that runs each file of ``variables`` (paths as the run's working folder sees them) with its
    variables and node's ``flags``; the driver is written into the candidate's folder."""
    place.own(place.workdir / DRIVER_FILE).write_text(DRIVER, encoding="utf-8")
    driver = str(place.workdir / DRIVER_FILE)
    return [node, driver, str(report), json.dumps(variables), *flags, "--", *variables]


def file_failure(ran: Mapping[str, object], workdir: Path, noise: Callable[[str], str] = str) -> str | None:
    """Why a file the driver ran failed as a whole (it did not load: its SyntaxError), from its ``kind: "file"``
    line; None when it exited well. ``noise`` takes out what is atlas-lsp's own in its stderr."""
    if ran.get("status") == 0 and not ran.get("error"):
        return None
    stderr = noise(str(ran.get("stderr") or ran.get("error") or ""))
    return clean_message(stderr, workdir, 20) or f"it exited with {ran.get('status')}"


class ScriptFilesRunner:
    """A runner whose test files run as Node.js scripts, in the folder of the package.json that declares it."""

    name = ""
    linked_folders: tuple[str, ...] = ("node_modules",)
    note = ""  # which Node.js runs the tests, when it is not plainly the one on PATH (node_versions.py)

    def __init__(self, package: str, node: str, typescript: bool = False) -> None:
        self.package = package  # the folder (relative to the project) whose package.json uses it: files run there
        self.node = node
        self.typescript = typescript  # (TypeScript files: Node.js strips their types)
