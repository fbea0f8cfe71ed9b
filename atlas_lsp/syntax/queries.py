"""The one place that touches tree-sitter's query API (it changed in 0.25 and again in 0.26)."""

from __future__ import annotations

from tree_sitter import Language, Node, Query, QueryCursor

CAPTURE_VOCABULARY = frozenset(
    {
        "name",
        "doc",
        "definition.function",
        "definition.method",
        "definition.class",
        "definition.interface",
        "definition.type",
        "definition.constant",
        "definition.module",
        "definition.field",
        "function.around",
        "function.inside",
        "class.around",
        "class.inside",
        "test.around",
        "test.skipped",
        "test.cases",
        "test.fixture",
        "import",
        "import.module",
        "import.name",
        "reference.call",
        "reference.name",
    }
)


class UnknownCaptureError(ValueError):
    """A query uses a capture name outside the documented vocabulary."""


def compile_query(language: Language, source: str) -> Query:
    """Compile ``source``; raises tree_sitter.QueryError or UnknownCaptureError."""
    query = Query(language, source)
    for index in range(query.capture_count):
        name = query.capture_name(index)
        if not name.startswith("_") and name not in CAPTURE_VOCABULARY:
            raise UnknownCaptureError(f"unknown capture @{name}")
    return query


def matches(query: Query, node: Node, span: tuple[int, int] | None = None) -> list[dict[str, list[Node]]]:
    """Each match as {capture name: nodes}, in document order; with ``span`` (start, end bytes), only matches
    whose nodes intersect it."""
    cursor = QueryCursor(query)
    if span is not None:
        cursor.set_byte_range(*span)
    return [captures for _, captures in cursor.matches(node)]


def captures(query: Query, node: Node, start_byte: int = 0, end_byte: int | None = None) -> dict[str, list[Node]]:
    cursor = QueryCursor(query)
    if end_byte is not None:
        cursor.set_byte_range(start_byte, end_byte)
    return cursor.captures(node)
