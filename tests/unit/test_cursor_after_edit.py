"""Where the cursor is after an edit (the warm-up's place, `completion.warmUp`), in the client's position units."""

from __future__ import annotations

import pytest
from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from atlas_lsp.lsp.completion import _after_insert


def _change(line: int, character: int, end_character: int, text: str) -> types.TextDocumentContentChangePartial:
    return types.TextDocumentContentChangePartial(
        range=types.Range(types.Position(line, character), types.Position(line, end_character)), text=text
    )


@pytest.mark.parametrize(
    ("change", "encoding", "where"),
    [
        (_change(3, 4, 4, "x"), types.PositionEncodingKind.Utf16, (3, 5)),  # a character typed
        (_change(3, 4, 9, ""), types.PositionEncodingKind.Utf16, (3, 4)),  # a selection deleted
        (_change(3, 10, 10, "\n    "), types.PositionEncodingKind.Utf16, (4, 4)),  # Enter, and the indentation
        (_change(3, 10, 10, "a\nbc\ndef"), types.PositionEncodingKind.Utf16, (5, 3)),  # a paste of three lines
        (_change(0, 2, 2, "é😀"), types.PositionEncodingKind.Utf16, (0, 5)),  # the emoji is 2 UTF-16 units
        (_change(0, 2, 2, "é😀"), types.PositionEncodingKind.Utf8, (0, 8)),  # 2 + 4 bytes
        (_change(0, 2, 2, "é😀"), types.PositionEncodingKind.Utf32, (0, 4)),
    ],
)
def test_the_cursor_after_an_edit(
    change: types.TextDocumentContentChangePartial, encoding: types.PositionEncodingKind, where: tuple[int, int]
) -> None:
    position = _after_insert(change, PositionCodec(encoding).client_num_units)
    assert (position.line, position.character) == where
