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
