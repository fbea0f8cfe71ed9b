"""A document's syntax trees, kept current by incremental edits (tree.edit + reparse with the old tree).

Tree-sitter re-walks every top-level statement on each reparse of a module (its grammars mark the module's repeat
nodes fragile, so they are never reused): a keystroke in a 5,000-line Python file costs as much as parsing most of
it. So a large document is parsed as *segments*: runs of whole top-level statements, each with its own tree over
its byte range of the one source (``included_ranges``; node positions are the document's). A keystroke reparses
one segment. Top-level statements do not depend on each other, so on valid code the segments' nodes are the ones a
whole-file parse finds; an unclosed string or bracket stays inside its segment instead of swallowing the rest of
the file while the user types. An edit that touches a boundary merges the two segments; a segment that grows past
twice the target size is split again at its top-level statements.

A file that is mostly one large class has few top-level statements to cut at (before this, a keystroke in a
5,070-line class cost 2.0 / 28.9 ms p50 / p95, and 0.17 / 0.55 ms in the same lines as a module). Inside a
definition of a type the language lists in ``split_inside`` (Python: ``class_definition``), segments are also cut
between the statements of its body; such a piece is parsed with the class's header line(s) and docstring as a
second included range in front of it, so it is still that class's body and its nodes are the whole-file parse's.
The class node then appears once per piece (each ending where its piece ends): `symbols.definitions` joins them
into one. An edit of the header merges the class's pieces into one segment, which is cut again once parsed.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar, cast

import numpy as np
from tree_sitter import Node, Parser, Point, Range, Tree

from atlas_lsp.syntax.registry import LanguageSpec

logger = logging.getLogger(__name__)
T = TypeVar("T")

SEGMENT_BYTES = 4096  # target segment size: a keystroke reparses about this much text
# a file with a longer line (minified code, data) is not parsed: one statement of 900,000 characters took 0.3 s to
# parse and 0.15 s to reparse per keystroke, and holds no definitions worth showing (VS Code stops highlighting
# lines past 20,000 characters too)
LONGEST_PARSED_LINE = 20_000
# nor a larger file (an amalgamation, generated code): its trees are built on the event loop when it opens
# (py-tree-sitter holds the GIL while it parses and cannot stop part-way, so neither a thread nor slices would help):
# on a 2-core Xeon about 0.3 s a megabyte of Python or C at the opening, then its names and its summary for other
# files, about 0.1 s a megabyte each, in later turns; every request waits meanwhile (in the server, a request sent
# right after a 3.7 MB Python file opened waited 1.4 s)
LARGEST_PARSED_CHARS = 2_000_000


_LONE_CARRIAGE_RETURN = re.compile(rb"\r(?!\n)")


def has_overlong_line(text: str) -> bool:
    """``text`` has a line longer than LONGEST_PARSED_LINE characters."""
    return len(text) > LONGEST_PARSED_LINE and max(map(len, text.split("\n"))) > LONGEST_PARSED_LINE


def has_lone_carriage_return(source: bytes) -> bool:
    """``source`` has a carriage return without a line feed after it: a line break to the editor (LSP counts
    "\r" alone as one), not to tree-sitter, so every line after it would be numbered differently here."""
    return b"\r" in source and _LONE_CARRIAGE_RETURN.search(source) is not None


def unparsed_reason(text: str) -> str | None:
    """Why ``text`` is given plain-text context instead of syntax trees, or None. (Its size first: an open file set
    aside is checked again at each pause in its edits, and a large one must cost nothing then.)"""
    if len(text) > LARGEST_PARSED_CHARS:
        return f"over {LARGEST_PARSED_CHARS:,} characters"
    if has_overlong_line(text):
        return f"a line over {LONGEST_PARSED_LINE} characters"
    if "\r" in text and has_lone_carriage_return(text.encode("utf-8")):
        return "a carriage return without a line feed"
    return None


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


Head = tuple[int, int]  # the bytes of a class's header line(s) and docstring line, parsed before each later piece


def _splittable(node: Node, split_inside: tuple[str, ...]) -> Node | None:
    """The definition whose body a large segment may be cut inside (looking through a decorated definition)."""
    if node.type not in split_inside:
        definition = node.child_by_field_name("definition")
        if definition is None or definition.type not in split_inside:
            return None
        node = definition
    body = node.child_by_field_name("body")
    if body is None or body.named_child_count < 2 or body.start_point.row <= node.start_point.row:
        return None
    return node


def _cuttable(previous: Node | None, child: Node, attached: tuple[str, ...]) -> bool:
    return (
        previous is not None
        and previous.end_point.row < child.start_point.row
        and previous.type not in attached
        and not (previous.is_error or child.is_error or previous.is_missing or child.is_missing)
    )


def _head_end(body: Node, source: bytes) -> int:
    """Where a piece's header ends: after the line of the body's docstring when it opens with one (every piece
    then has the class's doc), else at the start of the body's first line."""
    first_line = body.start_byte - body.start_point.column
    opening = body.named_children[0]
    if source and opening.type == "expression_statement" and [c.type for c in opening.named_children] == ["string"]:
        newline = source.find(b"\n", opening.end_byte)
        return newline + 1 if newline >= 0 else first_line
    return first_line


def segment_starts(
    root: Node,
    start: int,
    target: int,
    attached: tuple[str, ...] = ("comment",),
    split_inside: tuple[str, ...] = (),
    source: bytes = b"",
    inherited: Head | None = None,
) -> list[tuple[int, Head | None]]:
    """Where to cut ``root``'s statements into runs of about ``target`` bytes (after ``start``), each cut with the
    header its piece is parsed after (None for a cut between top-level statements).

    A cut goes before a top-level statement that starts a line at column 0, after a statement that ended on an
    earlier line, is not an error and is not ``attached`` to what follows it (a doc comment, a Rust attribute).
    Inside a large definition of a type in ``split_inside`` (a Python class), a cut may also go at the start of
    the line of one of its body's statements aligned with the body, by the same rules; that piece is parsed with
    the definition's header (``class C(Base):`` and its docstring, from ``source``) in front of it, so it is still a
    class body. ``inherited``: the header ``root``'s own tree was parsed after (a piece cut again keeps it: its
    tree's class body starts at the piece, not at the class's first statement).
    """
    cuts: list[tuple[int, Head | None]] = []
    previous: Node | None = None
    current = start
    for child in root.children:
        if (
            child.start_byte - current >= target
            and child.start_point.column == 0
            and _cuttable(previous, child, attached)
        ):
            cuts.append((child.start_byte, None))
            current = child.start_byte
        previous = child
        container = _splittable(child, split_inside) if child.end_byte - current >= 2 * target else None
        if container is None:
            continue
        body = container.child_by_field_name("body")
        assert body is not None  # _splittable checked it
        head = inherited if inherited and inherited[0] == container.start_byte else None
        head = head or (container.start_byte, _head_end(body, source))
        inner: Node | None = None
        for statement in body.children:
            line_start = statement.start_byte - statement.start_point.column
            aligned = statement.start_point.column == body.start_point.column  # a comment at column 0: no
            after_head = line_start >= head[1]
            if line_start - current >= target and aligned and after_head and _cuttable(inner, statement, attached):
                cuts.append((line_start, head))
                current = line_start
            inner = statement
    return cuts


class SyntaxDocument:
    """Source bytes and their trees. Syntax errors are normal while typing: the error-tolerant tree is used as is."""

    def __init__(self, spec: LanguageSpec, text: str, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.spec = spec
        self._parser: Parser = spec.parser()
        self._segment_bytes = segment_bytes
        self.incremental_parses = 0
        self.full_parses = 0
        self.revision = 0
        self._derived: dict[str, tuple[int, int, object]] = {}
        self._load(text.encode("utf-8"))

    # -- trees ---------------------------------------------------------------------------------------------------

    def _load(self, source: bytes) -> None:
        """Parse the whole text once, then (when it is large) once per segment."""
        self.source = source
        self._starts = _line_starts(source)
        self._parser.included_ranges = None
        tree = self._parser.parse(source)
        self.full_parses += 1
        cuts = (
            segment_starts(
                tree.root_node, 0, self._segment_bytes, self.spec.attached_to_next, self.spec.split_inside, source
            )
            if len(source) > 2 * self._segment_bytes
            else []
        )
        self._bounds = [0, *(cut for cut, _ in cuts)]
        self._heads: list[Head | None] = [None, *(head for _, head in cuts)]  # parsed before the segment
        self._trees = [tree] if not cuts else [self._parse(i, None) for i in range(len(self._bounds))]
        self._segment_values: list[dict[str, tuple[int, object]]] = [{} for _ in self._trees]  # key: (edits, value)
        self._segment_edits = [0] * len(self._trees)  # edits inside the segment's lines since it was created
        self._dirty = [False] * len(self._trees)  # edited since parsed: parsed when a tree is next read

    def _end(self, segment: int) -> int:
        return self._bounds[segment + 1] if segment + 1 < len(self._bounds) else len(self.source)

    def _point_of(self, byte: int) -> Point:
        row = self.line_of(byte)
        return Point(row, byte - int(self._starts[row]))

    def _parse(self, segment: int, old: Tree | None) -> Tree:
        if len(self._bounds) == 1:
            self._parser.included_ranges = None
        else:
            start, end = self._bounds[segment], self._end(segment)
            head = self._heads[segment]
            pieces = [(start, end)] if head is None else [head, (start, end)]
            self._parser.included_ranges = [Range(self._point_of(a), self._point_of(b), a, b) for a, b in pieces]
        return self._parser.parse(self.source) if old is None else self._parser.parse(self.source, old)

    def _current_trees(self) -> list[Tree]:
        """The trees, after parsing the segments edited since they were last parsed: edits are applied to the text
        and the old trees at once, and the reparse waits until a tree is read, so a burst of keystrokes (or a
        keystroke answered from the suggestion cache) costs one parse or none."""
        if True in self._dirty:
            for segment in reversed(range(len(self._trees))):  # from the end: a split inserts segments after it
                if self._dirty[segment]:
                    self._trees[segment] = self._parse(segment, self._trees[segment])
                    self._dirty[segment] = False
                    self.incremental_parses += 1
                    if self._end(segment) - self._bounds[segment] > 2 * self._segment_bytes:
                        self._split(segment)
        return self._trees

    def parse(self) -> None:
        """Parse the segments edited since they were last parsed (reading a tree does it too)."""
        self._current_trees()

    @property
    def roots(self) -> list[Node]:
        """The root node of each segment, in document order (one for most files)."""
        return [tree.root_node for tree in self._current_trees()]

    @property
    def segments(self) -> int:
        return len(self._trees)

    def segments_lacking(self, key: str) -> list[int]:
        """The segments (numbers) that hold no value for ``key`` yet, after parsing what was edited."""
        self._current_trees()
        return [segment for segment, values in enumerate(self._segment_values) if key not in values]

    def segment_span(self, segment: int) -> tuple[int, int]:
        """The bytes (start, end) of segment number ``segment``."""
        return self._bounds[segment], self._end(segment)

    @property
    def has_error(self) -> bool:
        return any(tree.root_node.has_error for tree in self._current_trees())

    def segment_root_at(self, byte: int) -> Node:
        """The root of the segment that holds ``byte``."""
        return self._current_trees()[max(bisect.bisect_right(self._bounds, byte) - 1, 0)].root_node

    def node_at(self, byte: int, point: Point) -> Node | None:
        """The smallest named node at a position."""
        return self.segment_root_at(byte).named_descendant_for_point_range(point, point)

    def per_segment(self, key: str, compute: Callable[[Node], T], stale_edits: int = 0) -> list[T]:
        """``compute(root)`` for each segment, remembered until that segment is parsed again: a keystroke
        recomputes one segment's value. Values must not hold positions (an edit above a segment moves its nodes):
        names, kinds, counts. With ``stale_edits``, a segment's value survives that many edits inside its lines
        (typing on a line; an edit that adds or removes lines always recomputes): for values that ranking can
        take a keystroke late, such as the names a file defines."""
        return self.per_segment_span(key, lambda root, _start, _end: compute(root), stale_edits)

    def per_segment_span(self, key: str, compute: Callable[[Node, int, int], T], stale_edits: int = 0) -> list[T]:
        """`per_segment` with each segment's own bytes (start, end): the root of a class's piece parsed after its
        header spans the header too, and so do the pieces between them."""
        trees = self._current_trees()
        return [self._segment_value(segment, trees, key, compute, stale_edits) for segment in range(len(trees))]

    def per_segment_between(
        self, key: str, compute: Callable[[Node, int, int], T], start_byte: int, end_byte: int, stale_edits: int = 0
    ) -> list[tuple[int, T]]:
        """`per_segment_span`'s values of only the segments that hold bytes ``start_byte``..``end_byte``, each
        with the line its segment starts on now (a value must not hold positions; lines counted from its
        segment's first line survive edits elsewhere)."""
        trees = self._current_trees()
        first = max(bisect.bisect_right(self._bounds, start_byte) - 1, 0)
        last = max(bisect.bisect_left(self._bounds, max(end_byte, start_byte + 1)) - 1, first)
        return [
            (self.line_of(self._bounds[segment]), self._segment_value(segment, trees, key, compute, stale_edits))
            for segment in range(first, min(last, len(trees) - 1) + 1)
        ]

    def _segment_value(
        self, segment: int, trees: list[Tree], key: str, compute: Callable[[Node, int, int], T], stale_edits: int
    ) -> T:
        remembered = self._segment_values[segment]
        known = remembered.get(key)
        edits = self._segment_edits[segment]
        if known is None or edits - known[0] > stale_edits:
            known = (edits, compute(trees[segment].root_node, self._bounds[segment], self._end(segment)))
            remembered[key] = known
        return cast(T, known[1])

    def sexp(self) -> str:
        """The trees' top-level statements as one S-expression (tests compare it with a whole-file parse); the
        statements of a class cut into pieces are put back into its body."""
        trees = self._current_trees()
        if len(trees) == 1:
            return str(trees[0].root_node)
        items: list[str] = []
        closers: list[int] = []  # per item: the closing parentheses its class body's statements go before
        extra: dict[int, list[str]] = {}  # per item: the statements of its class found in later pieces
        item_of_class: dict[int, int] = {}  # a class's start byte: the item holding its first piece
        for segment, tree in enumerate(trees):
            children = [child for child in tree.root_node.children if child.is_named]
            head = self._heads[segment]
            if head is not None and children and children[0].start_byte == head[0] and head[0] in item_of_class:
                # the piece's own statements: its body's, and comments before them (placed after the header)
                start = self._bounds[segment]
                container = children.pop(0)
                body = container.child_by_field_name("body")
                statements = [
                    str(child)
                    for part in (container.children, body.children if body is not None else [])
                    for child in part
                    if child.is_named and child.start_byte >= start and child != body
                ]
                extra.setdefault(item_of_class[head[0]], []).extend(statements)
            for child in children:
                definition = child.child_by_field_name("definition")
                item_of_class[child.start_byte] = len(items)
                if definition is not None:
                    item_of_class[definition.start_byte] = len(items)
                items.append(str(child))
                closers.append(2 if definition is None else 3)  # the body's block, the class, the decorated one
        for index, statements in extra.items():
            text, cut = items[index], len(items[index]) - closers[index]
            items[index] = text[:cut] + " " + " ".join(statements) + text[cut:]
        return f"({trees[0].root_node.type} {' '.join(items)})"

    # -- derived values ------------------------------------------------------------------------------------------

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

    # -- text ----------------------------------------------------------------------------------------------------

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
        """Apply one edit to the source and to the trees (positions); the edited segment is parsed again,
        incrementally, when a tree is next read."""
        start_byte, start_point = self._byte_at(edit.start_line, edit.start_column)
        old_end_byte, old_end_point = self._byte_at(edit.end_line, edit.end_column)
        old_end_byte = max(old_end_byte, start_byte)
        old_end_point = max(old_end_point, start_point)
        inserted = edit.new_text.encode("utf-8")
        self.source = self.source[:start_byte] + inserted + self.source[old_end_byte:]
        new_end_byte = start_byte + len(inserted)
        newline = inserted.rfind(b"\n")
        if newline < 0:
            new_end_point = Point(start_point.row, start_point.column + len(inserted))
        else:
            new_end_point = Point(start_point.row + inserted.count(b"\n"), len(inserted) - newline - 1)
        self._shift_line_starts(edit.start_line, edit.end_line, inserted, start_byte, new_end_byte - old_end_byte)
        first = bisect.bisect_right(self._bounds, start_byte) - 1
        last = bisect.bisect_right(self._bounds, old_end_byte) - 1
        if first > 0 and self._bounds[first] == start_byte:
            first -= 1  # an edit at a segment's first column may join its statement to the one above
        while last + 1 < len(self._bounds) and self._edits_head(last + 1, start_byte, old_end_byte):
            last += 1  # an edit of a class's header: its pieces after this one are parsed with the new header
        for tree in self._trees[first:]:
            tree.edit(start_byte, old_end_byte, new_end_byte, start_point, old_end_point, new_end_point)
        delta = new_end_byte - old_end_byte
        del self._trees[first + 1 : last + 1], self._bounds[first + 1 : last + 1]  # boundaries inside the edit
        del self._segment_values[first + 1 : last + 1], self._dirty[first + 1 : last + 1]
        del self._segment_edits[first + 1 : last + 1], self._heads[first + 1 : last + 1]
        if first == last and edit.start_line == edit.end_line and b"\n" not in inserted:
            self._segment_edits[first] += 1  # typing inside a line: values may be reused (see per_segment)
        else:
            self._segment_values[first] = {}
        self._dirty[first] = True
        for segment in range(first + 1, len(self._bounds)):
            self._bounds[segment] += delta
            head = self._heads[segment]
            if head is not None and head[0] >= old_end_byte:
                self._heads[segment] = (head[0] + delta, head[1] + delta)
        self.revision += 1

    def _edits_head(self, segment: int, start_byte: int, old_end_byte: int) -> bool:
        """Whether an edit of bytes ``start_byte``..``old_end_byte`` changes the header ``segment`` is parsed after."""
        head = self._heads[segment]
        return head is not None and start_byte < head[1] and old_end_byte >= head[0]

    def _split(self, segment: int) -> None:
        """Cut a segment that grew too large at its top-level statements (not while it has a syntax error)."""
        tree = self._trees[segment]
        if tree.root_node.has_error:
            return
        cuts = segment_starts(
            tree.root_node,
            self._bounds[segment],
            self._segment_bytes,
            self.spec.attached_to_next,
            self.spec.split_inside,
            self.source,
            self._heads[segment],
        )
        if not cuts:
            return
        self._bounds[segment + 1 : segment + 1] = [cut for cut, _ in cuts]
        self._heads[segment + 1 : segment + 1] = [head for _, head in cuts]
        pieces = range(segment, segment + len(cuts) + 1)
        self._trees[segment : segment + 1] = [tree] * len(pieces)  # placeholders, replaced below
        self._segment_values[segment : segment + 1] = [{} for _ in pieces]
        self._segment_edits[segment : segment + 1] = [0] * len(pieces)
        self._dirty[segment : segment + 1] = [False] * len(pieces)
        for piece in pieces:
            self._trees[piece] = self._parse(piece, None)

    def _shift_line_starts(self, first: int, last: int, inserted: bytes, start_byte: int, delta: int) -> None:
        """Update the line-start table for an edit of lines ``first``..``last`` without rescanning the file."""
        first = min(first, len(self._starts) - 1)
        last = min(max(last, first), len(self._starts) - 1)
        added = np.flatnonzero(np.frombuffer(inserted, dtype=np.uint8) == 10) + start_byte + 1
        self._starts = np.concatenate((self._starts[: first + 1], added, self._starts[last + 1 :] + delta))

    def replace_all(self, text: str) -> None:
        self._load(text.encode("utf-8"))
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

    def line_of(self, byte: int) -> int:
        """The line that holds ``byte``."""
        return int(np.searchsorted(self._starts, byte, side="right")) - 1

    def node_text(self, node: Node) -> str:
        return self.source[node.start_byte : node.end_byte].decode("utf-8", errors="replace")
