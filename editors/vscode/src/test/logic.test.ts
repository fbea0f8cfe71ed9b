import assert from "node:assert/strict";
import { test } from "node:test";

import {
  describeSolveStart,
  documentSelector,
  findDisabledSolveReason,
  findSolveCommand,
  serverCommand,
  serverSettings,
  solveUnavailable,
  statusBarView,
} from "../logic";

test("status bar shows each state with the model and the cause", () => {
  assert.equal(statusBarView(undefined).text, "$(circle-outline) atlas");
  const ready = statusBarView({ state: "ready", message: "SmolLM2 ready on cpu", model: "SmolLM2", device: "cpu" });
  assert.equal(ready.text, "$(check) atlas");
  assert.match(ready.tooltip, /model: SmolLM2/);
  assert.match(ready.tooltip, /device: cpu/);
  assert.equal(statusBarView({ state: "loading" }).text, "$(sync~spin) atlas");
  const broken = statusBarView({ state: "error", message: "model file not found: /m.gguf" });
  assert.equal(broken.severity, "error");
  assert.match(broken.tooltip, /model file not found/);
  const remote = statusBarView({ state: "ready", backend: "openai", latencyMs: 12.5 });
  assert.match(remote.tooltip, /endpoint round trip: 12.5 ms/);
});

test("server settings drop the extension's own section and unset values", () => {
  const settings = serverSettings({
    server: { command: ["x"], pythonPath: "" },
    model: { path: null, contextSize: 4096, fimTokens: null },
    completion: { debounceMs: 60, enabled: true },
    logging: { level: null },
  });
  assert.deepEqual(settings, { model: { contextSize: 4096 }, completion: { debounceMs: 60, enabled: true } });
});

test("server command: configured, then python -m atlas_lsp, then atlas-lsp", () => {
  assert.deepEqual(serverCommand(["/venv/bin/atlas-lsp", "--stdio"], "/usr/bin/python3", "debug"), {
    command: "/venv/bin/atlas-lsp",
    args: ["--stdio", "--log-level", "debug"],
  });
  assert.deepEqual(serverCommand([], "/venv/bin/python", undefined), {
    command: "/venv/bin/python",
    args: ["-m", "atlas_lsp", "--log-level", "info"],
  });
  assert.deepEqual(serverCommand(undefined, "", "warning"), { command: "atlas-lsp", args: ["--log-level", "warning"] });
});

test("the solve command is found in code actions and bare commands", () => {
  const args = [{ uri: "file:///p/calc.py", version: 3, name: "add", line: 4 }];
  const viaAction = findSolveCommand([
    { title: "Organize imports", command: { command: "other" } },
    { title: "Solve this function", command: { title: "Solve", command: "atlas.solveFunction", arguments: args } },
  ]);
  assert.deepEqual(viaAction?.arguments, args);
  const bare = findSolveCommand([{ title: "Solve", command: "atlas.solveFunction", arguments: args }]);
  assert.equal(bare?.command, "atlas.solveFunction");
  assert.equal(findSolveCommand([{ title: "x", command: { command: "other" } }]), undefined);
  assert.equal(findSolveCommand(undefined), undefined);
});

test("a disabled solve action gives its reason", () => {
  const reason = "this project's tests run with vitest, which is not installed: run npm install";
  const actions = [
    { title: "Organize imports", disabled: { reason: "nothing to organize" } },
    { title: "Solve this function (verify with tests)", disabled: { reason } },
  ];
  assert.equal(findDisabledSolveReason(actions), reason);
  assert.equal(findSolveCommand(actions), undefined);
  assert.equal(findDisabledSolveReason([{ title: "Solve this function (verify with tests)" }]), undefined);
  assert.equal(findDisabledSolveReason(undefined), undefined);
});

test("the solve's answer is explained", () => {
  assert.deepEqual(describeSolveStart({ status: "started", job: "ab12" }, "add"), {
    ok: true,
    message: "atlas: solving add (job ab12); progress shows in the notification",
  });
  const refused = describeSolveStart({ status: "error", message: "file:///x.py is not open" }, "add");
  assert.equal(refused.ok, false);
  assert.match(refused.message, /is not open/);
});

test("completions in files, unsaved editors and notebook cells of each language", () => {
  const selector = documentSelector(["python", "go"]);
  assert.deepEqual(selector, [
    { scheme: "file", language: "python" },
    { scheme: "file", language: "go" },
    { scheme: "untitled", language: "python" },
    { scheme: "untitled", language: "go" },
    { scheme: "vscode-notebook-cell", language: "python" },
    { scheme: "vscode-notebook-cell", language: "go" },
  ]);
});

test("solving is offered in saved Python, JavaScript, TypeScript, Rust, Go and Java files, and says why elsewhere", () => {
  for (const language of ["python", "javascript", "javascriptreact", "typescript", "typescriptreact", "rust", "go", "java"]) {
    assert.equal(solveUnavailable("file", language), undefined);
  }
  assert.match(solveUnavailable("untitled", "python") ?? "", /save this one first/);
  assert.match(solveUnavailable("vscode-notebook-cell", "python") ?? "", /not in a notebook cell/);
  assert.match(solveUnavailable("file", "ruby") ?? "", /pytest, jest, vitest, mocha, jasmine, ava, tap, uvu, bun test, deno test, node --test, cargo test, go test or mvn test/);
  assert.match(solveUnavailable("file", "ruby") ?? "", /Rust, Go and Java functions/);
});
