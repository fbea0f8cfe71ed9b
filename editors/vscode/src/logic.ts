// Pure logic of the extension (no `vscode` import), unit-tested with node's test runner.

/** What the server's `atlas/status` notification carries. */
export interface AtlasStatus {
  state: "idle" | "loading" | "ready" | "error" | string;
  message?: string;
  model?: string | null;
  path?: string | null;
  device?: string | null;
  contextSize?: number | null;
  loadSeconds?: number | null;
  backend?: string;
  fim?: boolean | null;
  latencyMs?: number | null;
}

export interface StatusBarView {
  text: string;
  tooltip: string;
  severity: "normal" | "warning" | "error";
}

/** The status bar item for a status: a spinner while loading, the model when ready, the cause on error. */
export function statusBarView(status: AtlasStatus | undefined): StatusBarView {
  if (!status) {
    return { text: "$(circle-outline) atlas", tooltip: "atlas-lsp is starting", severity: "normal" };
  }
  const details = [
    status.message,
    status.model ? `model: ${status.model}` : undefined,
    status.device ? `device: ${status.device}` : undefined,
    status.backend ? `backend: ${status.backend}` : undefined,
    status.contextSize ? `context: ${status.contextSize} tokens` : undefined,
    status.latencyMs != null ? `endpoint round trip: ${status.latencyMs} ms` : undefined,
    status.fim != null ? `fill-in-the-middle: ${status.fim ? "yes" : "no"}` : undefined,
    "Click for details",
  ].filter((line): line is string => Boolean(line));
  const tooltip = details.join("\n");
  switch (status.state) {
    case "ready":
      return { text: "$(check) atlas", tooltip, severity: "normal" };
    case "loading":
      return { text: "$(sync~spin) atlas", tooltip, severity: "normal" };
    case "error":
      return { text: "$(error) atlas", tooltip, severity: "error" };
    default:
      return { text: `$(circle-outline) atlas: ${status.state}`, tooltip, severity: "warning" };
  }
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * The server's settings tree from the editor's `atlas` configuration: the `server` section is the extension's own
 * (how to start the process) and unset values (null) are left out so the server keeps its defaults.
 */
export function serverSettings(atlas: Record<string, unknown>): Record<string, Json> {
  const settings: Record<string, Json> = {};
  for (const [section, value] of Object.entries(atlas)) {
    if (section === "server" || value === null || typeof value !== "object" || Array.isArray(value)) {
      continue;
    }
    const kept: Record<string, Json> = {};
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      if (item !== null && item !== undefined && typeof item !== "function") {
        kept[key] = item as Json;
      }
    }
    if (Object.keys(kept).length > 0) {
      settings[section] = kept;
    }
  }
  return settings;
}

/** How to start the server: the configured command, else `python -m atlas_lsp`, else `atlas-lsp` on the PATH. */
export function serverCommand(
  command: string[] | undefined,
  pythonPath: string | undefined,
  logLevel: string | undefined,
): { command: string; args: string[] } {
  const level = ["--log-level", logLevel || "info"];
  if (command && command.length > 0) {
    return { command: command[0], args: [...command.slice(1), ...level] };
  }
  if (pythonPath) {
    return { command: pythonPath, args: ["-m", "atlas_lsp", ...level] };
  }
  return { command: "atlas-lsp", args: level };
}

export interface CommandLike {
  title?: string;
  command: string;
  arguments?: unknown[];
}

export interface CodeActionLike {
  title?: string;
  command?: CommandLike | string;
  arguments?: unknown[];
  disabled?: { reason: string };
}

/** Why the server cannot solve the function under the cursor, when it says so with a disabled solve action (no
 * supported test runner for that project: jest not installed, TypeScript with node --test on an old Node.js, Go). */
export function findDisabledSolveReason(actions: CodeActionLike[] | undefined): string | undefined {
  const disabled = (actions ?? []).find((action) => /^Solve this function/.test(action.title ?? "") && action.disabled);
  return disabled?.disabled?.reason;
}

/** The server's `atlas.solveFunction` command among code actions (CodeActions carrying it, or bare Commands). */
export function findSolveCommand(actions: CodeActionLike[] | undefined): CommandLike | undefined {
  for (const action of actions ?? []) {
    const command: CommandLike | undefined =
      typeof action.command === "string"
        ? { title: action.title, command: action.command, arguments: action.arguments }
        : action.command;
    if (command?.command === "atlas.solveFunction") {
      return command;
    }
  }
  return undefined;
}

/** The answer of `atlas.solveFunction`, for the user: the job started, or why not. */
export function describeSolveStart(result: unknown, name: string): { ok: boolean; message: string } {
  const answer = (result ?? {}) as { status?: string; job?: string; message?: string };
  if (answer.status === "started" && answer.job) {
    return { ok: true, message: `atlas: solving ${name} (job ${answer.job}); progress shows in the notification` };
  }
  return { ok: false, message: `atlas: the solve did not start: ${answer.message ?? "no answer from the server"}` };
}

/** Where the server is asked for completions: files, unsaved ("untitled") editors and notebook cells, in the
 * languages it has grammars for. A notebook's cells reach the server through LSP notebook sync (the server asks for
 * it), so a completion in a cell sees the notebook's other cells. */
export function documentSelector(languages: string[]): { scheme: string; language: string }[] {
  return ["file", "untitled", "vscode-notebook-cell"].flatMap((scheme) =>
    languages.map((language) => ({ scheme, language })),
  );
}

/** The languages whose functions "solve this function" can test: with pytest, the project's jest, vitest, mocha,
 * jasmine, ava, tap or uvu, bun test, deno test, node --test, cargo test, go test or mvn test (JUnit). The server says why a project of one of
 * them cannot be solved (a Yarn Plug'n'Play project, TypeScript with node --test on a Node.js older than 22.6, a Rust file outside
 * any crate). */
export const SOLVABLE_LANGUAGES = [
  "python",
  "javascript",
  "javascriptreact",
  "typescript",
  "typescriptreact",
  "rust",
  "go",
  "java",
];

/** Why "solve this function" cannot run in a document of this URI scheme and language (it runs the project's tests
 * on a saved file), or undefined when it can. */
export function solveUnavailable(scheme: string, languageId: string): string | undefined {
  if (scheme === "vscode-notebook-cell") {
    return "atlas: solving runs your project's tests on a function in a saved file, not in a notebook cell";
  }
  if (scheme !== "file") {
    return "atlas: solving runs your project's tests on a function in a saved file: save this one first";
  }
  if (!SOLVABLE_LANGUAGES.includes(languageId)) {
    return "atlas: solving runs your project's tests with pytest, jest, vitest, mocha, jasmine, ava, tap, uvu, bun test, deno test, node --test, cargo test, go test or mvn test: on Python, JavaScript, TypeScript, Rust, Go and Java functions";
  }
  return undefined;
}
