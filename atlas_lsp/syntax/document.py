"""A document's syntax tree, kept current by incremental edits (tree.edit + reparse with the old tree)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar, cast

import numpy as np
from tree_sitter import Node, Parser, Point, Tree

from atlas_lsp.syntax.registry import LanguageSpec

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class TextEdit:
    """A replacement of the text between two (line, column) positions; columns in code points."""

    start_line: int
    start_column: int
    end_line: int
    end_column: int
    new_text: str


def _line_starts(source: bytes) -> np.ndarray:
    """Byte offset of each line's start (vectorised: this runs on every keystroke)."""
    newlines = np.flatnonzero(np.frombuffer(source, dtype=np.uint8) == 10)
    return np.concatenate(([0], newlines + 1)).astype(np.int64)


class SyntaxDocument:
    """Source bytes and their tree. Syntax errors are normal while typing: the error-tolerant tree is used as is."""

    def __init__(self, spec: LanguageSpec, text: str) -> None:
        self.spec = spec
        self._parser: Parser = spec.parser()
        self.source = text.encode("utf-8")
        self._starts = _line_starts(self.source)
        self.tree: Tree = self._parser.parse(self.source)
        self.incremental_parses = 0
        self.full_parses = 1
        self.revision = 0
        self._derived: dict[str, tuple[int, int, object]] = {}

    def derived(self, key: str, compute: Callable[[], T], stale_edits: int = 0) -> T:
        """``compute()``'s value for this text, computed once per revision (definitions, imports, ...).

        With ``stale_edits``, a value computed up to that many edits ago is reused while the line count is the
        same: typing inside lines does not move definitions between lines, and ranking context can live with a
        name typed a moment ago being missing. Keeps whole-file queries off the per-keystroke path.
        """
        lines = len(self._starts)
        cached = self._derived.get(key)
        if cached is not None:
            revision, line_count, value = cached
            if revision == self.revision or (line_count == lines and self.revision - revision <= stale_edits):
                return cast(T, value)
        value = compute()
        self._derived[key] = (self.revision, lines, value)
        return value

    @property
    def text(self) -> str:
        return self.source.decode("utf-8", errors="replace")

    def _byte_at(self, line: int, column: int) -> tuple[int, Point]:
        """Byte offset and tree-sitter point of a (line, code-point column) position, clamped to the text."""
        if line >= len(self._starts):
            return len(self.source), Point(len(self._starts) - 1, len(self.source) - int(self._starts[-1]))
        start = int(self._starts[line])
        end = int(self._starts[line + 1]) - 1 if line + 1 < len(self._starts) else len(self.source)
        prefix = self.source[start:end].decode("utf-8", errors="replace")[:column]
        offset = start + len(prefix.encode("utf-8"))
        return offset, Point(line, offset - start)

    def apply(self, edit: TextEdit) -> None:
        """Apply one edit to the source and update the tree incrementally."""
        start_byte, start_point = self._byte_at(edit.start_line, edit.start_column)
        old_end_byte, old_end_point = self._byte_at(edit.end_line, edit.end_column)
        old_end_byte = max(old_end_byte, start_byte)
        inserted = edit.new_text.encode("utf-8")
        self.source = self.source[:start_byte] + inserted + self.source[old_end_byte:]
        new_end_byte = start_byte + len(inserted)
        newline = inserted.rfind(b"\n")
        if newline < 0:
            new_end_point = Point(start_point.row, start_point.column + len(inserted))
        else:
            new_end_point = Point(start_point.row + inserted.count(b"\n"), len(inserted) - newline - 1)
        self.tree.edit(
            start_byte=start_byte,
            old_end_byte=old_end_byte,
            new_end_byte=new_end_byte,
            start_point=start_point,
            old_end_point=old_end_point,
            new_end_point=new_end_point,
        )
        self._shift_line_starts(edit.start_line, edit.end_line, inserted, start_byte, new_end_byte - old_end_byte)
        self.tree = self._parser.parse(self.source, self.tree)
        self.incremental_parses += 1
        self.revision += 1

    def _shift_line_starts(self, first: int, last: int, inserted: bytes, start_byte: int, delta: int) -> None:
        """Update the line-start table for an edit of lines ``first``..``last`` without rescanning the file."""
        first = min(first, len(self._starts) - 1)
        last = min(max(last, first), len(self._starts) - 1)
        added = np.flatnonzero(np.frombuffer(inserted, dtype=np.uint8) == 10) + start_byte + 1
        self._starts = np.concatenate((self._starts[: first + 1], added, self._starts[last + 1 :] + delta))

    def replace_all(self, text: str) -> None:
        self.source = text.encode("utf-8")
        self._starts = _line_starts(self.source)
        self.tree = self._parser.parse(self.source)
        self.full_parses += 1
        self.revision += 1

    def line_text(self, line: int) -> str | None:
        """One line's text (no newline), without decoding the whole document; None past the end."""
        if line >= len(self._starts):
            return None
        start = int(self._starts[line])
        end = int(self._starts[line + 1]) - 1 if line + 1 < len(self._starts) else len(self.source)
        return self.source[start:end].decode("utf-8", errors="replace")

    def point(self, line: int, column: int) -> tuple[int, Point]:
        return self._byte_at(line, column)

    def node_text(self, node: Node) -> str:
        return self.source[node.start_byte : node.end_byte].decode("utf-8", errors="replace")
