"""BufferedTextDocument gives exactly pygls's text after any sequence of edits, and the server uses it."""

from __future__ import annotations

import random

import pytest
from lsprotocol import types
from pygls.workspace import PositionCodec, TextDocument

from atlas_lsp.lsp.text_document import BufferedTextDocument, BufferedWorkspace
from atlas_lsp.server import build_server

START = "def f(x):\r\n    return x  # é😋\n\nclass C:\r    pass\n"
PIECES = ["a", "\n", "\r\n", "\r", "😋", "é", "  ", "def g():\n    return 1\n", ""]


def change(start: tuple[int, int], end: tuple[int, int], text: str) -> types.TextDocumentContentChangePartial:
    return types.TextDocumentContentChangePartial(
        range=types.Range(types.Position(*start), types.Position(*end)), text=text
    )


@pytest.mark.parametrize("encoding", [types.PositionEncodingKind.Utf16, types.PositionEncodingKind.Utf8])
def test_random_edits_give_pygls_text(encoding: types.PositionEncodingKind) -> None:
    rng = random.Random(5)
    theirs = TextDocument("file:///t.py", START, position_codec=PositionCodec(encoding))
    ours = BufferedTextDocument("file:///t.py", START, position_codec=PositionCodec(encoding))
    for _ in range(400):
        lines = theirs.lines
        first = rng.randrange(len(lines) + 2)  # now and then past the end: clamped like pygls does
        last = min(first + rng.choice([0, 0, 0, 1, 2]), len(lines) + 1)
        start = (first, rng.randrange(12))
        end = (last, rng.randrange(12)) if last > first else (first, start[1] + rng.randrange(4))
        text = rng.choice(PIECES)
        theirs.apply_change(change(start, end, text))
        ours.apply_change(change(start, end, text))
        assert ours.source == theirs.source
        assert list(ours.lines) == list(theirs.lines)
    position = types.Position(1, 3)
    assert ours.position_from_client_units(position) == theirs.position_from_client_units(position)


def test_a_full_change_and_an_empty_document() -> None:
    ours = BufferedTextDocument("file:///t.py", "")
    ours.apply_change(change((0, 0), (0, 0), "x = 1\n"))
    assert ours.source == "x = 1\n"
    ours.apply_change(types.TextDocumentContentChangeWholeDocument(text="y = 2\nz = 3"))
    assert ours.source == "y = 2\nz = 3" and ours.lines == ("y = 2\n", "z = 3")
    ours.apply_change(change((1, 5), (1, 5), "\n"))
    assert ours.source == "y = 2\nz = 3\n"


def test_the_server_workspace_builds_buffered_documents() -> None:
    """pygls builds the workspace in its own `initialize` handler; the protocol makes it a BufferedWorkspace."""
    server = build_server()
    params = types.InitializeParams(capabilities=types.ClientCapabilities(), root_uri=None)
    steps = server.protocol.lsp_initialize(params)
    next(steps)  # pygls has built the workspace and is about to call our initialize handler
    steps.close()
    assert isinstance(server.workspace, BufferedWorkspace)
    server.workspace.put_text_document(
        types.TextDocumentItem(uri="file:///t.py", language_id="python", version=1, text=START)
    )
    document = server.workspace.get_text_document("file:///t.py")
    assert isinstance(document, BufferedTextDocument)
    server.workspace.update_text_document(
        types.VersionedTextDocumentIdentifier(version=2, uri="file:///t.py"), change((0, 4), (0, 5), "g")
    )
    assert document.source.startswith("def g(x):")
    server.close_services()
