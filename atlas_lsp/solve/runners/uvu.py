"""uvu: each selected test file runs as the Node.js script an uvu test file is, with uvu's ``suite`` and ``test``
wrapped (a ``--require`` hook for CommonJS, a ``module.register`` resolve hook for ES modules): only the selected
tests are registered, and each one's outcome is written to a report as it ends. uvu itself has no name filter and
prints only the failing tests' names.

Test ids: ``test/math.test.js::adds`` for a test of uvu's own ``test``, ``test/math.test.js::add::adds`` for one of
``const Add = suite('add')``. The files run one after the other through `node_files.py`'s driver, which records
how each exited (a file that does not load: its error)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from atlas_lsp.solve.runners.jest_like import clean_message
from atlas_lsp.solve.runners.node_files import ScriptFilesRunner, file_failure, files_argv
from atlas_lsp.solve.runners.node_test import (
    NamedResults,
    json_lines,
    named_outcomes,
    strip_types_flags,
)
from atlas_lsp.solve.runs import FinishedRun, Limits, RunCommand, RunPlace, TestReport
from atlas_lsp.solve.sandbox import base_environment, run_problem, whole_run_failed

HOOKS_FOLDER = ".atlas-uvu"
REPORT_FILE = ".atlas-uvu-report.jsonl"
HOOKS = {
    "wrap.cjs": """// atlas-lsp: records each uvu test's outcome and registers only the selected ones
// (ATLAS_UVU_SELECTED: [suite, name] pairs)
const { appendFileSync } = require('node:fs');
const report = process.env.ATLAS_UVU_REPORT;
const file = process.env.ATLAS_UVU_FILE;
const selected = new Set(JSON.parse(process.env.ATLAS_UVU_SELECTED || '[]').map((pair) => JSON.stringify(pair)));
const wrapped = new WeakMap();
const record = (entry) => appendFileSync(report, JSON.stringify({ file, ...entry }) + '\\n');
function instrument(suiteName, name, handler) {
  return async (state) => {
    try {
      await handler(state);
      record({ suite: suiteName, name, passed: true });
    } catch (error) {
      const details = error && typeof error.details === 'string' ? error.details : '';
      const text = error && error.stack ? String(error.stack) : String(error);
      record({ suite: suiteName, name, passed: false, error: text, details });
      throw error;
    }
  };
}
function wrapSuite(real, suiteName) {
  const chosen = (name) => selected.has(JSON.stringify([suiteName, name]));
  const test = (name, handler) => { if (chosen(name)) real(name, instrument(suiteName, name, handler)); };
  test.only = (name, handler) => { if (chosen(name)) real.only(name, instrument(suiteName, name, handler)); };
  test.skip = real.skip;
  test.before = real.before;
  test.after = real.after;
  test.run = real.run;
  return test;
}
function wrap(uvu) {
  if (!uvu || typeof uvu.suite !== 'function') return uvu;
  if (!wrapped.has(uvu)) {
    const suite = (name = '', state) => wrapSuite(uvu.suite(name, state), name);
    wrapped.set(uvu, { ...uvu, suite, test: suite() });
  }
  return wrapped.get(uvu);
}
module.exports = { wrap };
""",
    "require-hook.cjs": """const Module = require('node:module');
const { wrap } = require('./wrap.cjs');
const load = Module._load;
Module._load = function (request, ...rest) {
  const loaded = load.call(this, request, ...rest);
  return request === 'uvu' ? wrap(loaded) : loaded;
};
""",
    "register.mjs": """import { register } from 'node:module';
register('./resolve-hook.mjs', import.meta.url);
""",
    "resolve-hook.mjs": """const WRAPPER = new URL('./esm-wrapper.mjs', import.meta.url);
export async function resolve(specifier, context, next) {
  if (specifier !== 'uvu' || (context.parentURL || '').startsWith(WRAPPER.href)) return next(specifier, context);
  const real = await next(specifier, context);
  return { url: `${WRAPPER.href}?real=${encodeURIComponent(real.url)}`, shortCircuit: true };
}
""",
    "esm-wrapper.mjs": """import { createRequire } from 'node:module';
const real = await import(new URL(import.meta.url).searchParams.get('real'));
const { wrap } = createRequire(import.meta.url)('./wrap.cjs');
const uvu = wrap(real);
export const suite = uvu.suite;
export const test = uvu.test;
export const exec = uvu.exec;
""",
}


def _without_hooks(text: str) -> str:
    """A message without the stack frames of the hooks (they are atlas-lsp's, not the project's)."""
    return "\n".join(line for line in text.split("\n") if f"{HOOKS_FOLDER}/" not in line)


class UvuRunner(ScriptFilesRunner):
    name = "uvu"

    def command(self, place: RunPlace, node_ids: list[str], limits: Limits) -> RunCommand:
        hooks = place.own(place.workdir / HOOKS_FOLDER)
        hooks.mkdir(parents=True, exist_ok=True)
        for name, text in HOOKS.items():
            (hooks / name).write_text(text, encoding="utf-8")
        report = place.workdir / REPORT_FILE
        cwd = place.workdir / self.package
        selected: dict[str, list[list[str]]] = {}  # file -> its selected tests, [suite, name] each
        for node_id in node_ids:
            file, *names = node_id.split("::")
            pair = [names[0], names[1]] if len(names) == 2 else ["", names[-1]]
            selected.setdefault(os.path.relpath(place.workdir / file, cwd), []).append(pair)
        variables = {
            file: {"ATLAS_UVU_FILE": file, "ATLAS_UVU_SELECTED": json.dumps(pairs)} for file, pairs in selected.items()
        }
        folder = place.workdir / HOOKS_FOLDER
        flags = ["--require", str(folder / "require-hook.cjs"), "--import", str(folder / "register.mjs")]
        argv = files_argv(place, self.node, report, variables, [*strip_types_flags(self.node, self.typescript), *flags])
        environment = {**base_environment(place.workdir, [str(Path(self.node).parent)]), "NODE_ENV": "test"}
        environment.update({"NO_COLOR": "1", "ATLAS_UVU_REPORT": str(report)})
        return RunCommand(argv, environment, report, limit_address_space=False, cwd=cwd)

    def outcomes(self, place: RunPlace, command: RunCommand, node_ids: list[str], run: FinishedRun) -> TestReport:
        results: NamedResults = {}
        file_errors: dict[str, str] = {}  # a test file that failed as a whole (it did not load: a syntax error)
        cwd = place.workdir / self.package
        for entry in json_lines(command.report):
            try:
                relative = (cwd / str(entry.get("file") or "")).resolve().relative_to(place.workdir.resolve())
            except ValueError:
                continue
            file = relative.as_posix()
            if entry.get("kind") == "file":
                ran = any(f == file for f, _ in results)
                failure = file_failure(entry, place.workdir, _without_hooks) if not ran else None
                if failure is not None:
                    file_errors[file] = failure
                continue
            suite, name = str(entry.get("suite") or ""), str(entry.get("name") or "")
            names = (suite, name) if suite else (name,)
            message = ""
            if not entry.get("passed"):
                details = str(entry.get("details") or "")
                text = f"{entry.get('error') or 'failed'}\n{details}".strip()
                message = clean_message(_without_hooks(text), place.workdir)
            results.setdefault((file, names), []).append((bool(entry.get("passed")), message))
        problem = run_problem(run, (0, 1))
        if not results and not file_errors:
            return whole_run_failed(run, node_ids, problem or "uvu reported no test")
        return TestReport(named_outcomes(node_ids, results, file_errors), 0.0, problem)
