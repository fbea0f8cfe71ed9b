"""Malformed traffic never takes the server down, and stdout carries nothing but the protocol."""

from __future__ import annotations

from pathlib import Path

from atlas_lsp.bench.lsp_client import RawLspProcess
from tests.e2e.conftest import SERVER

INITIALIZE = {"processId": None, "rootUri": None, "capabilities": {}, "initializationOptions": {}}


def test_malformed_messages_get_errors_and_the_server_keeps_answering(tmp_path: Path) -> None:
    server = RawLspProcess(SERVER)
    server.send({"id": 1, "method": "initialize", "params": INITIALIZE})
    assert "capabilities" in server.response(1)["result"]
    server.send({"method": "initialized", "params": {}})
    status = server.notification("atlas/status")
    while status["params"]["state"] == "loading":
        status = server.notification("atlas/status")
    assert status["params"]["state"] == "ready"

    server.send_bytes(b"{this is not json")
    server.send({"id": 2, "method": "textDocument/inlineCompletion", "params": {"textDocument": 42}})
    bad_params = server.response(2)
    assert "error" in bad_params

    server.send({"id": 3, "method": "atlas/noSuchMethod", "params": {}})
    assert server.response(3)["error"]["code"] == -32601

    uri = (tmp_path / "a.py").as_uri()
    server.send(
        {
            "method": "textDocument/didOpen",
            "params": {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": "def f():\n    "}},
        }
    )
    server.send(
        {
            "id": 4,
            "method": "textDocument/inlineCompletion",
            "params": {
                "textDocument": {"uri": uri},
                "position": {"line": 1, "character": 4},
                "context": {"triggerKind": 1},
            },
        }
    )
    answer = server.response(4)
    assert "result" in answer  # a list of items or null: an answer either way
    assert server.close() == 0


def _prompt_at(server: RawLspProcess, uri: str, line: int, character: int) -> str:
    """The prompt of an inline completion asked at (line, character) of ``uri``."""
    position = {"line": line, "character": character}
    server.request(
        "textDocument/inlineCompletion",
        {"textDocument": {"uri": uri}, "position": position, "context": {"triggerKind": 1}},
    )
    return server.request("workspace/executeCommand", {"command": "atlas.lastCompletion"})["prompt"]


def test_a_lone_surrogate_in_the_text_does_not_break_the_file(tmp_path: Path) -> None:
    """JSON can carry a lone UTF-16 surrogate (a JavaScript editor's string can hold one); Python cannot encode it.
    It stands as U+FFFD, so the file still parses and completes, and positions after it still match."""
    server = RawLspProcess(SERVER)
    server.initialize({"completion": {"debounceMs": 0, "timeLimitMs": 60000}}, capabilities={})
    uri = (tmp_path / "s.py").as_uri()
    text = "mark = '\ud800'\ndef add(a, b):\n    "
    server.notify(
        "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}
    )
    change = {"range": {"start": {"line": 0, "character": 9}, "end": {"line": 0, "character": 9}}, "text": "\udc00"}
    server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [change]})
    assert _prompt_at(server, uri, 2, 4).endswith("mark = '\ufffd\ufffd'\ndef add(a, b):\n    ")
    assert server.close() == 0


def test_exit_without_shutdown_is_status_1() -> None:
    """LSP: `exit` before `shutdown` (a client that crashed or gave up) ends the server with status 1."""
    server = RawLspProcess(SERVER)
    server.initialize({})
    server.send({"method": "exit"})
    assert server.process.wait(timeout=30) == 1


def test_notebook_cells_with_lone_surrogates_and_changes_of_unknown_notebooks(tmp_path: Path) -> None:
    """The same for the text of notebook cells (opened, and typed into); a change of a notebook that was never
    opened is logged and the server answers on."""
    server = RawLspProcess(SERVER)
    notebook_sync = {"notebookDocument": {"synchronization": {}}}
    server.initialize({"completion": {"debounceMs": 0, "timeLimitMs": 60000}}, capabilities=notebook_sync)
    notebook, cell = (tmp_path / "n.ipynb").as_uri(), f"vscode-notebook-cell:{tmp_path}/n.ipynb#a"
    server.notify(
        "notebookDocument/didOpen",
        {
            "notebookDocument": {
                "uri": notebook,
                "notebookType": "jupyter-notebook",
                "version": 1,
                "cells": [{"kind": 2, "document": cell}],
            },
            "cellTextDocuments": [{"uri": cell, "languageId": "python", "version": 1, "text": "mark = '\ud800'\n"}],
        },
    )
    typed = {
        "range": {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 0}},
        "text": "x = '\udc00'",
    }
    cells = {"textContent": [{"document": {"uri": cell, "version": 2}, "changes": [typed]}]}
    server.notify(
        "notebookDocument/didChange", {"notebookDocument": {"uri": notebook, "version": 2}, "change": {"cells": cells}}
    )
    stranger = {
        "notebookDocument": {"uri": (tmp_path / "never.ipynb").as_uri(), "version": 2},
        "change": {"cells": cells},
    }
    server.notify("notebookDocument/didChange", stranger)
    assert _prompt_at(server, cell, 1, 8).endswith("# %%\nmark = '\ufffd'\nx = '\ufffd'")
    assert server.close() == 0
