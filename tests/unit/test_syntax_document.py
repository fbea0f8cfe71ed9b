import random

import pytest

from atlas_lsp.syntax.document import SyntaxDocument, TextEdit
from atlas_lsp.syntax.registry import load_registry

REGISTRY = load_registry()
SOURCE = 'def f(x):\n    """Döc ✓."""\n    return x + 1\n\n\nclass C:\n    pass\n'


def full_parse(text: str) -> str:
    return str(REGISTRY.languages["python"].parser().parse(text.encode()).root_node)


def apply_to_text(text: str, edit: TextEdit) -> str:
    lines = text.split("\n")

    def offset(line: int, column: int) -> int:
        return sum(len(row) + 1 for row in lines[:line]) + column

    start, end = offset(edit.start_line, edit.start_column), offset(edit.end_line, edit.end_column)
    return text[:start] + edit.new_text + text[end:]


@pytest.mark.parametrize(
    "edit",
    [
        TextEdit(2, 15, 2, 16, "2"),  # one character replaced
        TextEdit(1, 8, 1, 8, "ü"),  # a multi-byte insert inside a docstring
        TextEdit(2, 4, 2, 16, ""),  # a deletion
        TextEdit(3, 0, 3, 0, "def g():\n    return [\n"),  # a multi-line insert that leaves an error
        TextEdit(0, 0, 6, 8, "x = 1\n"),  # almost everything replaced
    ],
)
def test_incremental_edit_matches_a_full_parse(edit: TextEdit) -> None:
    document = SyntaxDocument(REGISTRY.languages["python"], SOURCE)
    document.apply(edit)
    expected = apply_to_text(SOURCE, edit)
    assert document.text == expected
    assert str(document.tree.root_node) == full_parse(expected)
    assert document.incremental_parses == 1 and document.full_parses == 1


def test_a_typing_session_stays_in_sync() -> None:
    rng = random.Random(7)
    document = SyntaxDocument(REGISTRY.languages["python"], SOURCE)
    text = SOURCE
    for _ in range(200):
        lines = text.split("\n")
        line = rng.randrange(len(lines))
        column = rng.randrange(len(lines[line]) + 1)
        edit = TextEdit(line, column, line, column, rng.choice(["a", " ", "(", ")", "\n", ":", "é"]))
        document.apply(edit)
        text = apply_to_text(text, edit)
    assert document.text == text
    assert str(document.tree.root_node) == full_parse(text)
    assert document.incremental_parses == 200


def test_derived_values_are_cached_per_revision_and_may_be_reused_within_lines() -> None:
    document = SyntaxDocument(REGISTRY.languages["python"], SOURCE)
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert document.derived("k", compute) == 1 and document.derived("k", compute) == 1
    document.apply(TextEdit(2, 15, 2, 15, "0"))  # typing inside a line
    assert document.derived("k", compute) == 2  # exact by default
    document.apply(TextEdit(2, 15, 2, 15, "0"))
    assert document.derived("k", compute, stale_edits=8) == 2  # same line count, a recent value is good enough
    document.apply(TextEdit(2, 15, 2, 15, "\n"))
    assert document.derived("k", compute, stale_edits=8) == 3  # lines moved: recomputed


def test_line_text() -> None:
    document = SyntaxDocument(REGISTRY.languages["python"], SOURCE)
    assert document.line_text(1) == '    """Döc ✓."""'
    assert document.line_text(0) == "def f(x):"
    assert document.line_text(99) is None
