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
    position = {"line": 2, "character": 4}
    server.request(
        "textDocument/inlineCompletion",
        {"textDocument": {"uri": uri}, "position": position, "context": {"triggerKind": 1}},
    )
    last = server.request("workspace/executeCommand", {"command": "atlas.lastCompletion"})
    assert last["prompt"].endswith("mark = '\ufffd\ufffd'\ndef add(a, b):\n    ")
    assert server.close() == 0


def test_exit_without_shutdown_is_status_1() -> None:
    """LSP: `exit` before `shutdown` (a client that crashed or gave up) ends the server with status 1."""
    server = RawLspProcess(SERVER)
    server.initialize({})
    server.send({"method": "exit"})
    assert server.process.wait(timeout=30) == 1
