// The VS Code side of atlas-lsp: starts the server, mirrors the `atlas.*` settings, shows the model status in the
// status bar and offers "Solve this function" in the command palette. Ghost text (inline completion), the light
// bulb, progress with Cancel and the evidence messages come through vscode-languageclient's standard features.
import * as vscode from "vscode";
import { LanguageClient, LanguageClientOptions, ServerOptions, TransportKind } from "vscode-languageclient/node";

import {
  AtlasStatus,
  CodeActionLike,
  describeSolveStart,
  documentSelector,
  findDisabledSolveReason,
  findSolveCommand,
  serverCommand,
  serverSettings,
  solveUnavailable,
  statusBarView,
} from "./logic";

const LANGUAGES = [
  "python",
  "javascript",
  "javascriptreact",
  "typescript",
  "typescriptreact",
  "go",
  "rust",
  "java",
  "c",
  "cpp",
];

let client: LanguageClient | undefined;
let lastStatus: AtlasStatus | undefined;
let lastError: string | undefined;
let lastJob: string | undefined;

function atlasConfiguration(): Record<string, unknown> {
  return (vscode.workspace.getConfiguration().get<Record<string, unknown>>("atlas") ?? {}) as Record<string, unknown>;
}

function render(item: vscode.StatusBarItem): void {
  const view = statusBarView(lastStatus);
  item.text = view.text;
  item.tooltip = view.tooltip;
  item.backgroundColor =
    view.severity === "error"
      ? new vscode.ThemeColor("statusBarItem.errorBackground")
      : view.severity === "warning"
        ? new vscode.ThemeColor("statusBarItem.warningBackground")
        : undefined;
}

function createClient(output: vscode.LogOutputChannel, item: vscode.StatusBarItem): LanguageClient {
  const config = vscode.workspace.getConfiguration("atlas");
  const { command, args } = serverCommand(
    config.get<string[]>("server.command"),
    config.get<string>("server.pythonPath"),
    config.get<string>("server.logLevel"),
  );
  const serverOptions: ServerOptions = { command, args, transport: TransportKind.stdio };
  const clientOptions: LanguageClientOptions = {
    documentSelector: documentSelector(LANGUAGES),
    initializationOptions: serverSettings(atlasConfiguration()),
    synchronize: { configurationSection: "atlas" },
    outputChannel: output,
  };
  const created = new LanguageClient("atlas", "atlas-lsp", serverOptions, clientOptions);
  created.onNotification("atlas/status", (status: AtlasStatus) => {
    lastStatus = status;
    render(item);
    if (status.state === "error" && status.message !== lastError) {
      lastError = status.message;
      vscode.window.showWarningMessage(`atlas: ${status.message}`, "Open settings", "Show log").then((choice) => {
        if (choice === "Open settings") {
          vscode.commands.executeCommand("workbench.action.openSettings", "atlas.");
        } else if (choice === "Show log") {
          output.show();
        }
      });
    } else if (status.state === "ready") {
      lastError = undefined;
    }
  });
  return created;
}

async function startClient(output: vscode.LogOutputChannel, item: vscode.StatusBarItem): Promise<void> {
  client = createClient(output, item);
  try {
    await client.start();
  } catch (error) {
    lastStatus = { state: "error", message: `the server did not start: ${error}` };
    render(item);
    vscode.window.showErrorMessage(
      `atlas: the server did not start (${error}). Install it (pip install atlas-lsp) or set atlas.server.command.`,
    );
  }
}

async function solveAtCursor(): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor || !client) {
    vscode.window.showWarningMessage("atlas: open a file of a supported language first");
    return;
  }
  const unavailable = solveUnavailable(editor.document.uri.scheme, editor.document.languageId);
  if (unavailable) {
    vscode.window.showInformationMessage(unavailable);
    return;
  }
  const position = editor.selection.active;
  // asked of the server itself: VS Code's own code-action command leaves out disabled actions, whose reason is
  // what the user needs here
  const actions = (await client.sendRequest("textDocument/codeAction", {
    textDocument: { uri: client.code2ProtocolConverter.asUri(editor.document.uri) },
    range: client.code2ProtocolConverter.asRange(new vscode.Range(position, position)),
    context: { diagnostics: [] },
  })) as CodeActionLike[] | null;
  const command = findSolveCommand(actions ?? []);
  if (!command) {
    const reason = findDisabledSolveReason(actions ?? []);
    vscode.window.showInformationMessage(
      reason ? `atlas: cannot solve this function: ${reason}` : "atlas: no function under the cursor to solve",
    );
    return;
  }
  const name = String((command.arguments?.[0] as { name?: string } | undefined)?.name ?? "the function");
  const result = await vscode.commands.executeCommand(command.command, ...(command.arguments ?? []));
  const started = describeSolveStart(result, name);
  if (started.ok) {
    lastJob = (result as { job: string }).job;
    vscode.window.setStatusBarMessage(started.message, 5000);
  } else {
    vscode.window.showWarningMessage(started.message);
  }
}

async function cancelSolve(): Promise<void> {
  if (!client) {
    return;
  }
  const answer = (await client.sendRequest("workspace/executeCommand", {
    command: "atlas.cancelSolve",
    arguments: lastJob ? [{ job: lastJob }] : [],
  })) as { cancelled?: string[] } | null;
  const cancelled = answer?.cancelled ?? [];
  vscode.window.showInformationMessage(cancelled.length ? `atlas: cancelled ${cancelled.join(", ")}` : "atlas: no solve is running");
}

async function showStatus(output: vscode.LogOutputChannel): Promise<void> {
  if (!client) {
    return;
  }
  const report = (await client.sendRequest("workspace/executeCommand", { command: "atlas.status" })) as Record<
    string,
    unknown
  >;
  const counts = (report.completions ?? {}) as Record<string, number>;
  const detail = [
    `model: ${report.model} on ${report.device} (backend ${report.backend})`,
    `context: ${report.contextSize} tokens, fill-in-the-middle: ${report.fim}`,
    `completions: ${counts.shown} shown, ${counts.accepted} accepted, ${counts.cacheHits} from cache ` +
      `(${counts.speculationHits} computed ahead while the one before was shown)`,
  ].join("\n");
  const choice = await vscode.window.showInformationMessage(
    `atlas: ${report.state}: ${report.message}`,
    { modal: true, detail },
    "Show log",
  );
  if (choice === "Show log") {
    output.show();
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel("atlas-lsp", { log: true });
  const item = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  item.command = "atlas.showStatus";
  render(item);
  item.show();
  context.subscriptions.push(
    output,
    item,
    vscode.commands.registerCommand("atlas.solveFunctionAtCursor", solveAtCursor),
    vscode.commands.registerCommand("atlas.cancelSolveFromEditor", cancelSolve),
    vscode.commands.registerCommand("atlas.showStatus", () => showStatus(output)),
    vscode.commands.registerCommand("atlas.restartServer", async () => {
      await client?.stop();
      await startClient(output, item);
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration("atlas.server")) {
        await client?.stop();
        await startClient(output, item);
      }
    }),
  );
  await startClient(output, item);
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
