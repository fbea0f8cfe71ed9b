"""Random editor edits for fuzz tests, with the test's own copy of the text: LSP positions in UTF-16 columns (what a
client without `positionEncodings` sends), lines ended by \\n, \\r\\n or \\r."""

from __future__ import annotations

import random
from typing import Any

PIECES = (
    "x",
    "total",
    " ",
    "\n",
    "\r\n",
    "\t",
    "    ",
    "(",
    ")",
    "]",
    "'",
    '"""',
    "# note",
    "é",
    "😀",
    "值",
    "def g(a):\n    return a\n",
    "class K:\n    pass\n",
    "if x:\n        y = [1,\n",
)
START = "import os\n\n\ndef add(a, b):\n    return a + b\n\n\nclass Box:\n    def area(self):\n        return 1\n"


def line_starts(text: str) -> list[int]:
    """Where each line starts (LSP: \\n, \\r\\n and \\r end lines)."""
    starts = [0]
    index = 0
    while index < len(text):
        if text[index] == "\r" and text[index + 1 : index + 2] == "\n":
            index += 1
        if text[index] in "\r\n":
            starts.append(index + 1)
        index += 1
    return starts


UNITS = {"utf-16": ("utf-16-le", 2), "utf-8": ("utf-8", 1), "utf-32": ("utf-32-le", 4)}  # codec, bytes a unit


def lsp_position(text: str, index: int, encoding: str = "utf-16") -> dict[str, int]:
    """The LSP position of code point ``index``, its column in ``encoding``'s units (UTF-16: what a client without
    `positionEncodings` sends)."""
    starts = line_starts(text)
    line = max(number for number, start in enumerate(starts) if start <= index)
    before = text[starts[line] : index]
    codec, size = UNITS[encoding]
    return {"line": line, "character": len(before.encode(codec)) // size}


def valid_index(rng: random.Random, text: str) -> int:
    """A place an LSP position can name: not between the \\r and \\n of a line end."""
    while True:
        index = rng.randint(0, len(text))
        if not (0 < index < len(text) and text[index - 1] == "\r" and text[index] == "\n"):
            return index


def inserted(rng: random.Random, pieces: tuple[str, ...] = PIECES) -> str:
    return "".join(rng.choice(pieces) for _ in range(rng.randint(1, 4)))


def after_wide_character(text: str, index: int) -> bool:
    """Whether a character outside the BMP stands before ``index`` on its line (its UTF-16 column then differs from
    its code-point column)."""
    line_start = line_starts(text)[lsp_position(text, index)["line"]]
    return any(ord(character) > 0xFFFF for character in text[line_start:index])


def random_change(
    rng: random.Random, text: str, pieces: tuple[str, ...] = PIECES, encoding: str = "utf-16"
) -> tuple[dict[str, Any], str, int | None]:
    """One didChange content change (as JSON), the text after it, and where it starts in the text before (None for
    a whole text): mostly an insertion or a short replacement at a valid position, sometimes the whole text, with
    text made of ``pieces``."""
    if rng.random() < 0.05:
        whole = inserted(rng, pieces) + START
        return {"text": whole}, whole, None
    start = valid_index(rng, text)
    end = min(len(text), start + (0 if rng.random() < 0.6 else rng.randint(1, 8)))
    while 0 < end < len(text) and text[end - 1] == "\r" and text[end] == "\n":
        end += 1  # (after the whole line end)
    added = inserted(rng, pieces) if rng.random() < 0.8 else ""
    span = {"start": lsp_position(text, start, encoding), "end": lsp_position(text, end, encoding)}
    return {"range": span, "text": added}, text[:start] + added + text[end:], start
