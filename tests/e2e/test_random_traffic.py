"""Random editor traffic, pipelined as editors send it: the server answers every request, keeps each document's
text the same as the editor's, and ends cleanly.

A seeded generator sends opens, edits (CRLF, tabs, emoji, whole-text replacements), closes, saves, completion and
inline-completion requests (some cancelled at once), code actions and commands, settings of the wrong shape, files
changed on disk that are not there and folders that do not exist, without waiting for answers. Two kinds
of documents: *tracked* ones get valid edits only, and the test keeps its own copy of their text (LSP positions in
UTF-16 units, as a client without `positionEncodings` sends); *chaos* ones also get what a confused client sends
(ranges past the end or backwards, stale versions, changes to documents never opened, positions far outside,
unknown languages), and the server only has to survive them. At the end, each tracked document's text is read back
from the prompt of a request at its end (the server's other copy, its syntax trees', is checked against the editor's
text edit by edit in tests/unit/test_document_sync_fuzz.py), and the log holds no traceback: a client's mistakes are
answered with errors and logged in a line each."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest

from atlas_lsp.bench.lsp_client import RawLspProcess
from atlas_lsp.lsp.documents import IDLE_PARSE_S, uri_to_path
from tests.e2e.conftest import SERVER
from tests.support.openai_server import OpenAIServer
from tests.support.random_edits import (
    PIECES,
    START,
    after_wide_character,
    inserted,
    lsp_position,
    random_change,
    valid_index,
)

SEEDS = (7, 2024)
STEPS = 300
MOST_TRACKED = 4  # documents whose text the test keeps: a few, each edited often
OPTIONS = {
    "completion": {"debounceMs": 0, "maxTokens": 3, "timeLimitMs": 20000, "warmUp": "on", "speculate": "on"},
    "context": {"budgetTokens": 1500},
}
# a carriage return alone ends a line too (the syntax copy stops parsing such a file; the prompt's copy keeps it)
TRACKED_PIECES = (*PIECES, "\r")
CHAOS_LANGUAGES = ("python", "javascript", "typescript", "go", "rust", "java", "c", "cpp", "plaintext", "cobol", "")


class Traffic:
    def __init__(self, server: RawLspProcess, folder: Path, rng: random.Random) -> None:
        self.server, self.folder, self.rng = server, folder, rng
        self.tracked: dict[str, str] = {}  # uri -> the text the editor holds
        self.versions: dict[str, int] = {}
        self.chaos: list[str] = []
        self.pending: list[str] = []  # request ids not answered yet
        self.after_wide = 0  # edits of tracked text after a character outside the BMP on the same line
        self.unopened_changes = 0  # changes sent to documents never opened
        self.sent = 0

    def request(self, method: str, params: Any) -> str:
        self.sent += 1
        request_id = f"q{self.sent}"
        self.server.send({"id": request_id, "method": method, "params": params})
        self.pending.append(request_id)
        return request_id

    def open(self, uri: str, text: str, language: str = "python") -> None:
        self.versions[uri] = 1
        item = {"uri": uri, "languageId": language, "version": 1, "text": text}
        self.server.notify("textDocument/didOpen", {"textDocument": item})

    def change(self, uri: str, changes: list[dict[str, Any]], version: int | None = None) -> None:
        self.versions[uri] = self.versions.get(uri, 1) + 1
        document = {"uri": uri, "version": self.versions[uri] if version is None else version}
        self.server.notify("textDocument/didChange", {"textDocument": document, "contentChanges": changes})

    def edit_tracked(self, uri: str) -> None:
        """One to three valid changes in one message, each applied to the text the one before left."""
        text = self.tracked[uri]
        changes = []
        for _ in range(self.rng.randint(1, 3)):
            change, after, at = random_change(self.rng, text, TRACKED_PIECES)
            if at is not None and after_wide_character(text, at):
                self.after_wide += 1  # its columns in UTF-16 units differ from code points
            changes.append(change)
            text = after
        self.tracked[uri] = text
        self.change(uri, changes)

    def edit_chaos(self, uri: str) -> None:
        rng = self.rng
        far = {"line": rng.choice([0, 3, 500, 10**6]), "character": rng.choice([0, 2, 400, 10**6])}
        near = {"line": rng.randint(0, 12), "character": rng.randint(0, 30)}
        kind = rng.randrange(5)
        if kind == 0:  # past the end, or backwards
            self.change(uri, [{"range": {"start": far, "end": near}, "text": inserted(rng)}])
        elif kind == 1:  # a stale version
            self.change(uri, [{"range": {"start": near, "end": near}, "text": inserted(rng)}], version=1)
        elif kind == 2:  # no changes at all, or a whole text with a lone surrogate
            self.change(uri, rng.choice([[], [{"text": "x = '\ud800'\n" + START}]]))
        elif kind == 3:  # to a document never opened
            self.unopened_changes += 1
            never = (self.folder / f"never{rng.randrange(3)}.py").as_uri()
            self.change(never, [{"range": {"start": near, "end": near}, "text": "y"}])
        else:
            self.change(uri, [{"range": {"start": near, "end": near}, "text": inserted(rng)}])

    def ask(self, uri: str, position: dict[str, int]) -> None:
        rng = self.rng
        params: dict[str, Any] = {"textDocument": {"uri": uri}, "position": position}
        if rng.random() < 0.5:
            request_id = self.request("textDocument/inlineCompletion", {**params, "context": {"triggerKind": 2}})
        else:
            request_id = self.request("textDocument/completion", params)
        if rng.random() < 0.3:
            self.server.notify("$/cancelRequest", {"id": request_id})

    def step(self) -> None:
        rng = self.rng
        roll = rng.random()
        tracked = list(self.tracked)
        if (roll < 0.03 and len(tracked) < MOST_TRACKED) or not tracked:
            uri = (self.folder / f"t{len(self.tracked) + len(self.chaos)}.py").as_uri()
            self.tracked[uri] = START
            self.open(uri, START)
        elif roll < 0.10:
            uri = (self.folder / f"c{len(self.chaos)}.{rng.choice(['py', 'js', 'go', 'txt', 'weird'])}").as_uri()
            self.chaos.append(uri)
            self.open(uri, rng.choice([START, "", "\ud800", "x" * 5000]), rng.choice(CHAOS_LANGUAGES))
        elif roll < 0.45:
            self.edit_tracked(rng.choice(tracked))
        elif roll < 0.55 and self.chaos:
            self.edit_chaos(rng.choice(self.chaos))
        elif roll < 0.75:
            uri = rng.choice(tracked)
            self.ask(uri, lsp_position(self.tracked[uri], valid_index(rng, self.tracked[uri])))
        elif roll < 0.80:
            uri = rng.choice(self.chaos or tracked)
            self.ask(uri, {"line": rng.choice([0, 7, 10**6]), "character": rng.choice([0, 3, 10**6])})
        elif roll < 0.85:
            uri = rng.choice(tracked)
            where = lsp_position(self.tracked[uri], valid_index(rng, self.tracked[uri]))
            params = {
                "textDocument": {"uri": uri},
                "range": {"start": where, "end": where},
                "context": {"diagnostics": []},
            }
            self.request("textDocument/codeAction", params)
        elif roll < 0.90:
            command, arguments = rng.choice(
                [
                    ("atlas.didAcceptCompletion", [{"chars": 3}]),
                    ("atlas.didAcceptCompletion", []),
                    ("atlas.didAcceptCompletion", [{"chars": "many"}]),
                    ("atlas.solveFunction", [None]),
                    ("atlas.solveFunction", [{"uri": 42}]),
                    ("atlas.cancelSolve", ["nothing"]),
                    ("atlas.status", []),
                    ("atlas.lastCompletion", []),
                    ("atlas.noSuchCommand", []),
                ]
            )
            self.request("workspace/executeCommand", {"command": command, "arguments": arguments})
        elif roll < 0.93 and len(tracked) > 1:
            uri = tracked[0]  # closed, then opened again with the text the editor has
            self.server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
            self.open(uri, self.tracked[uri])
        elif roll < 0.94:
            uri = rng.choice(tracked + self.chaos)
            self.server.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
        elif roll < 0.98:
            self.workspace_chaos()
        else:
            self.server.notify("textDocument/didClose", {"textDocument": {"uri": (self.folder / "never.py").as_uri()}})

    def workspace_chaos(self) -> None:
        """Settings of the wrong shape (the model's section left alone: a reload would stop the completions that the
        test reads texts back with), files changed on disk that are not there, folders that do not exist."""
        rng = self.rng
        kind = rng.randrange(3)
        if kind == 0:
            settings = rng.choice(
                [
                    {"atlas": {"completion": {"maxTokens": "many", "debounceMs": -5}}},
                    {"atlas": {"context": {"stepLines": 0, "budgetTokens": None}, "nothing": {"at": "all"}}},
                    {"atlas": 5},
                    {"atlas": {"completion": {"enabled": True, "maxTokens": 3}}},
                    None,
                ]
            )
            self.server.notify("workspace/didChangeConfiguration", {"settings": settings})
        elif kind == 1:
            uri = rng.choice(
                [(self.folder / "gone.py").as_uri(), "untitled:Untitled-1", rng.choice(list(self.tracked))]
            )
            self.server.notify(
                "workspace/didChangeWatchedFiles", {"changes": [{"uri": uri, "type": rng.randint(1, 3)}]}
            )
        else:
            folder = {"uri": (self.folder / "no_such_folder").as_uri(), "name": "missing"}
            added, removed = ([folder], []) if rng.random() < 0.5 else ([], [folder])
            event = {"event": {"added": added, "removed": removed}}
            self.server.notify("workspace/didChangeWorkspaceFolders", event)


def _answers(server: RawLspProcess, request_ids: list[str], timeout: float = 120) -> list[dict[str, Any]]:
    """The responses to ``request_ids``, in whatever order they come (a superseded request is answered before the
    one that superseded it)."""
    waiting = set(request_ids)
    answers: list[dict[str, Any]] = []

    def collect(message: dict[str, Any]) -> bool:
        if message.get("id") in waiting and "method" not in message:
            waiting.discard(message["id"])
            answers.append(message)
        return not waiting

    if waiting:
        server._read_until(collect, f"responses to {len(waiting)} requests", timeout)
    return answers


def _has_lone_cr(text: str) -> bool:
    return "\r" in text.replace("\r\n", "")


def _normalised(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


@pytest.mark.parametrize(("seed", "backend"), [(seed, "llama-cpp") for seed in SEEDS] + [(SEEDS[0], "openai")])
def test_random_traffic_is_answered_and_leaves_every_text_as_the_editor_has_it(
    tmp_path: Path, seed: int, backend: str, request: pytest.FixtureRequest
) -> None:
    """In-process model, and (one seed) through an OpenAI-compatible endpoint: cancelled and superseded requests
    there stop a streaming HTTP response part-way."""
    options: dict[str, Any] = dict(OPTIONS)
    if backend == "openai":
        endpoint: OpenAIServer = request.getfixturevalue("openai_endpoint")
        options["model"] = {"backend": "openai", "url": endpoint.url}
    log = tmp_path / "server.log"
    with log.open("w") as stderr:
        server = RawLspProcess(SERVER, stderr=stderr)
        try:
            server.initialize(options, tmp_path.as_uri(), {"textDocument": {"inlineCompletion": {}}})
            traffic = Traffic(server, tmp_path, random.Random(seed))
            for _ in range(STEPS):
                traffic.step()
            for answer in _answers(server, traffic.pending):
                assert "result" in answer or answer["error"]["code"] in (-32800, -32602, -32601, -32603), answer
            assert len(traffic.tracked) >= 2 and traffic.chaos, "the generator made too few documents"
            assert traffic.after_wide >= 3, "the generator made too few edits after an emoji on the same line"
            for number, (uri, text) in enumerate(traffic.tracked.items()):
                # a line of its own at the end (a request inside an identifier is not made), then a request there
                end = lsp_position(text, len(text))
                marker = f"\nchecked_{number} = "
                traffic.change(uri, [{"range": {"start": end, "end": end}, "text": marker}])
                text += marker
                tail = lsp_position(text, len(text))
                params = {"textDocument": {"uri": uri}, "position": tail, "context": {"triggerKind": 1}}
                server.request("textDocument/inlineCompletion", params)
                last = server.request("workspace/executeCommand", {"command": "atlas.lastCompletion"})
                expected = _normalised(text)[-600:]
                assert _normalised(last["prompt"]).endswith(expected), (uri, last["prompt"][-300:], expected[-300:])
            time.sleep(10 * IDLE_PARSE_S)  # (a file set aside is checked again in the pause after its last edit)
            status = server.request("workspace/executeCommand", {"command": "atlas.status"})
            assert status["state"] == "ready"
            # the tracked files with a carriage return alone (set aside), and no other of them
            lone_cr = sorted(uri_to_path(uri) for uri, text in traffic.tracked.items() if _has_lone_cr(text))
            assert [
                path for path in status["syntax"]["setAside"] if path in map(uri_to_path, traffic.tracked)
            ] == lone_cr
            assert server.close() == 0
        finally:
            if server.process.poll() is None:
                server.process.kill()
    written = log.read_text()
    assert "Traceback" not in written, written[written.index("Traceback") - 2000 :][:6000]
    assert "KeyError" not in written  # (a change to a document never opened: a line of its own, no internal error)
    assert ("ignored changes to a document that is not open" in written) == (traffic.unopened_changes > 0)
    assert sum(1 for path in tmp_path.iterdir() if path.suffix != ".log") == 0  # nothing written to the workspace
