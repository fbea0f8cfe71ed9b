"""BufferedTextDocument gives exactly pygls's text after any sequence of edits, and the server uses it."""

from __future__ import annotations

import random

import pytest
from lsprotocol import types
from pygls.workspace import PositionCodec, TextDocument

from atlas_lsp.lsp.positions import FastPositionCodec
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
    for row, line in enumerate(ours.lines):  # positions inside a line: pygls's conversion (ends: see below)
        visible = line.rstrip("\r\n")
        for character in range(ours.position_codec.client_num_units(visible)):
            position = types.Position(row, character)
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
    """pygls builds the workspace in its own `initialize` handler; the protocol makes it a BufferedWorkspace, with a
    FastPositionCodec."""
    server = build_server()
    params = types.InitializeParams(capabilities=types.ClientCapabilities(), root_uri=None)
    steps = server.protocol.lsp_initialize(params)
    next(steps)  # pygls has built the workspace and is about to call our initialize handler
    steps.close()
    assert isinstance(server.workspace, BufferedWorkspace)
    assert isinstance(server.workspace.position_codec, FastPositionCodec)
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


@pytest.mark.parametrize("encoding", [types.PositionEncodingKind.Utf16, types.PositionEncodingKind.Utf8])
def test_the_cursor_stays_where_the_editor_shows_it(encoding: types.PositionEncodingKind) -> None:
    """A cursor on the empty line after a final line ending is on that line (pygls puts it at the end of the line
    before, where the model would continue the wrong line); a character past a line's end is its end."""
    codec = PositionCodec(encoding)
    wide = 2 if encoding == types.PositionEncodingKind.Utf16 else 4  # 😋 in the client's units

    def cursor(text: str, line: int, character: int) -> tuple[int, int]:
        document = BufferedTextDocument("file:///t.py", text, position_codec=codec)
        found = document.position_from_client_units(types.Position(line, character))
        return found.line, found.character

    assert cursor("x = 1\n", 1, 0) == (1, 0)
    assert cursor("x = 1\r\n", 1, 0) == (1, 0)
    assert cursor("x = 1\n", 7, 3) == (1, 0)  # past the last line: the empty last line
    assert cursor("x = 1", 7, 3) == (0, 5)  # no final ending: the end of the text
    assert cursor("x = 1", 0, 9) == (0, 5)  # pygls: (0, 4)
    assert cursor("x = 1\ny", 0, 9) == (0, 5)
    assert cursor("s = '😋'\n", 0, 5 + wide) == (0, 6)  # inside the line: pygls's conversion
    assert cursor("s = '😋'\n", 0, 6 + wide) == (0, 7)  # its end
    assert cursor("", 0, 0) == (0, 0)
    position = types.Position(0, 9)
    BufferedTextDocument("file:///t.py", "x = 1", position_codec=codec).position_from_client_units(position)
    assert position == types.Position(0, 9)  # the caller's position is left as it was
