"""Positions between the client's units (UTF-16 by default) and code points, at C speed, and the cursor's.

pygls converts a position by walking the line a character at a time in Python: 0.1 s for a column of 450,000 (a
minified file's one line), and a keystroke converts five (the change's range twice, for the document and for the
syntax trees, and the request's cursor). FastPositionCodec gives pygls's exact results (tested against it) by
encoding the line once instead; an ASCII line needs no encoding at all. The workspace's codec is made one when
pygls builds it (`AtlasProtocol`).
"""

from __future__ import annotations

from collections.abc import Sequence

from lsprotocol import types
from pygls.workspace import PositionCodec, ServerTextPosition
from pygls.workspace.position_codec import UnitCounter, Utf8, Utf16, Utf32

_ENDINGS = ("\r\n", "\n", "\r")


class _FastUtf16(Utf16):
    def num_units(self, chars: str) -> int:
        return len(chars) if chars.isascii() else len(chars.encode("utf-16-le", "surrogatepass")) // 2

    def column_from_utf32(self, line: str, column: int) -> int:
        return self.num_units(line[:column])


class _FastUtf8(Utf8):
    def num_units(self, chars: str) -> int:
        return len(chars) if chars.isascii() else len(chars.encode("utf-8", "surrogatepass"))

    def column_from_utf32(self, line: str, column: int) -> int:
        return self.num_units(line[:column])


def _code_points_within(counter: UnitCounter, line: str, units: int) -> int:
    """The fewest leading code points of ``line`` that take at least ``units`` client units (all of them when the
    line is shorter): pygls's walk, done by encoding. A cut inside a character's units counts that character."""
    if isinstance(counter, Utf32) or line.isascii():
        return min(units, len(line))
    if isinstance(counter, Utf16):
        head = line.encode("utf-16-le", "surrogatepass")[: 2 * units]
        return len(head.decode("utf-16-le", "surrogatepass"))  # half a pair decodes as one (lone) surrogate
    head = line.encode("utf-8", "surrogatepass")[:units]
    return len(head.decode("utf-8", "replace"))  # a cut character's leading bytes decode as one U+FFFD


class FastPositionCodec(PositionCodec):
    """pygls's PositionCodec without its per-character Python loops."""

    def position_from_client_units(self, lines: Sequence[str], position: types.Position) -> ServerTextPosition:
        # pygls's rules, kept exactly (documents must apply edits as pygls does), its quirks included: a line past
        # the end gives the last line's length in client units, and a character past a line's end is moved one
        # back (in the caller's Position)
        if len(lines) == 0:
            return ServerTextPosition(0, 0)
        if position.line >= len(lines):
            return ServerTextPosition(len(lines) - 1, self.impl.num_units(lines[-1]))
        line = lines[position.line].replace("\r\n", "\n")
        length = self.impl.num_units(line)
        if length == 0:
            return ServerTextPosition(position.line, 0)
        if position.character > length:
            position.character = length - 1
        return ServerTextPosition(position.line, _code_points_within(self.impl, line, position.character))


def make_fast(codec: PositionCodec) -> None:
    """Turn pygls's ``codec`` (built by its workspace) into a FastPositionCodec for the same encoding."""
    if isinstance(codec.impl, Utf16):
        codec.impl = _FastUtf16()
    elif isinstance(codec.impl, Utf8):
        codec.impl = _FastUtf8()
    else:
        codec.impl = Utf32()  # (pygls's codecs share one counter per encoding)
    codec.__class__ = FastPositionCodec


def _visible(line: str) -> str:
    """``line`` without its line ending."""
    for ending in _ENDINGS:
        if line.endswith(ending):
            return line[: -len(ending)]
    return line


def cursor_position(codec: PositionCodec, lines: Sequence[str], position: types.Position) -> ServerTextPosition:
    """``position`` (the client's units) as (line, code-point column), for a cursor.

    Where pygls's conversion puts a cursor elsewhere, this keeps it where the editor shows it: on the empty last
    line after a final line ending (VS Code's cursor after Enter at the end of a file; pygls moves it to the end of
    the line before, so the model would continue that line), and at the end of its line when ``character`` is past
    it (pygls moves it one character back on a last line without an ending, and changes the caller's Position).
    """
    count = len(lines)
    if count == 0:
        return ServerTextPosition(0, 0)
    if position.line >= count:
        if lines[-1].endswith(_ENDINGS):
            return ServerTextPosition(count, 0)  # the empty line after the last ending
        return ServerTextPosition(count - 1, len(lines[-1]))
    visible = _visible(lines[position.line])
    if position.character >= codec.client_num_units(visible):
        return ServerTextPosition(position.line, len(visible))
    return codec.position_from_client_units(lines, types.Position(position.line, position.character))
