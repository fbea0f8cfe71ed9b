"""Each post-processing filter with its table of input -> output cases."""

import pytest

from atlas_lsp.completion.postprocess import (
    cap_lines,
    clean_completion,
    cut_at_blank_run,
    cut_at_dedent,
    drop_existing_closers,
    drop_repeated_lines,
    drop_repeated_next_line,
    indent_step,
    is_complete,
    line_policy,
    normalize_indentation,
    snap_first_line_indent,
    strip_markdown_fences,
    strip_trailing_whitespace,
)
from atlas_lsp.prompts.completion import CursorText


@pytest.mark.parametrize(
    ("raw", "expected"), [("```python\nx = 1\n```", "x = 1"), ("x = 1", "x = 1"), ("  ```\nreturn 2", "return 2")]
)
def test_strip_markdown_fences(raw: str, expected: str) -> None:
    assert strip_markdown_fences(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"), [("a\nb\n\nc", "a\nb"), ("a\n   \nb", "a"), ("\nx", "\nx"), ("a\nb", "a\nb")]
)
def test_cut_at_blank_run(raw: str, expected: str) -> None:
    assert cut_at_blank_run(raw) == expected


@pytest.mark.parametrize(
    ("raw", "indent", "expected"),
    [
        ("x = 1\n    y = 2\nz = 3", 4, "x = 1\n    y = 2"),  # the block ends where indentation drops
        ("a\n        b\n    c", 4, "a\n        b\n    c"),
        ("a\nb", 0, "a\nb"),
    ],
)
def test_cut_at_dedent(raw: str, indent: int, expected: str) -> None:
    assert cut_at_dedent(raw, indent) == expected


@pytest.mark.parametrize(("raw", "cap", "expected"), [("a\nb\nc", 2, "a\nb"), ("a", 3, "a")])
def test_cap_lines(raw: str, cap: int, expected: str) -> None:
    assert cap_lines(raw, cap) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("x += 1\n    x += 1\n    x += 1", "x += 1\n    x += 1"),  # the same line again
        ("a\n    b\n    c\n    b\n    c", "a\n    b\n    c"),  # the same two-line block again
        ("a\nb\nc", "a\nb\nc"),
    ],
)
def test_drop_repeated_lines(raw: str, expected: str) -> None:
    assert drop_repeated_lines(raw) == expected


@pytest.mark.parametrize(
    ("raw", "after", "expected"),
    [
        ("total = 0\n    return total", "\n    return total\n", "total = 0"),  # already below the cursor
        ("a\n    b", "\n    c", "a\n    b"),
        ("a", "", "a"),
    ],
)
def test_drop_repeated_next_line(raw: str, after: str, expected: str) -> None:
    assert drop_repeated_next_line(raw, after) == expected


@pytest.mark.parametrize(
    ("raw", "line_suffix", "expected"),
    [
        ("a, b)", ")", "a, b"),  # the editor auto-inserted the closing bracket
        ('name"]', '"]', "name"),
        ("x)", "", "x)"),
        ("a, b) + c", ")", "a, b) + c"),  # the bracket is not the end of the suggestion: keep it
        ("value):", "):", "value"),  # the suggestion ends with the rest of the line
    ],
)
def test_drop_existing_closers(raw: str, line_suffix: str, expected: str) -> None:
    assert drop_existing_closers(raw, line_suffix) == expected


@pytest.mark.parametrize(("raw", "expected"), [("a  \nb\t\n\n", "a\nb"), ("x", "x")])
def test_strip_trailing_whitespace(raw: str, expected: str) -> None:
    assert strip_trailing_whitespace(raw) == expected


@pytest.mark.parametrize(
    ("raw", "unit", "expected"),
    [("a\n    b\n        c", "\t", "a\n\tb\n\t\tc"), ("a\n\tb", "    ", "a\n    b"), ("a\n    b", "    ", "a\n    b")],
)
def test_normalize_indentation(raw: str, unit: str, expected: str) -> None:
    assert normalize_indentation(raw, unit) == expected


def cursor(prefix: str, suffix: str = "", before: str = "def f():\n", after: str = "") -> CursorText:
    return CursorText(before, prefix, suffix, after)


SAME = "def f():\n    x = 1\n"  # the cursor's line at the same indentation as the line above


@pytest.mark.parametrize(
    ("raw", "where", "expected"),
    [
        (" return a + b", cursor("    "), "return a + b"),  # "    " + " return": five spaces otherwise
        ("  return a", cursor("    "), "return a"),
        ("    return a", cursor("    "), "return a"),  # inside the block `def f():` opened: its first statement
        ("\treturn a - b", cursor("\t", before="func Sub(a int, b int) int {\n"), "return a - b"),  # Go, tabs
        ("     return a", cursor("    ", before=SAME), "    return a"),  # a level deeper plus a space: the level
        ("    return a", cursor("    ", before=SAME), "    return a"),  # a level deeper than the line above's
        ("return a", cursor("    "), "return a"),
        (" x = 1", cursor("  ", before="function f() {\n  if (a) {\n    b();\n  }\n"), "x = 1"),  # two-space file
        ("  x = 1", cursor("  ", before="function f() {\n  if (a) {\n    b();\n  }\n"), "  x = 1"),
        (" y", cursor("    ", before="f(a,\n  b)\n"), "y"),
        (" y", cursor("   ", before="class A:\n    x = 1\n"), " y"),  # 3 + 1: the step of 4 above
        ("  y", cursor("  ", before="class A:\n    x = 1\n        y = 2\n"), "  y"),  # 2 + 2 = 4: as it is
        (" = 1", cursor("x"), " = 1"),  # not an indentation: the space belongs to the text
        (" y", cursor("    ", "z"), " y"),  # text after the cursor
        ("", cursor("    "), ""),
        (" return a", cursor("\t", before="func f() {\n\tx := 1\n"), "return a"),  # tabs: no spaces after them
        ("\treturn a", cursor("\t", before="func f() {\n\tif a {\n"), "\treturn a"),  # a tab more: as it is
        (" return a", cursor(" \t", before="def f():\n \tx = 1\n"), " return a"),  # mixed: nothing to tell
        ("  \n    b", cursor("    "), "  \n    b"),  # a blank first line: left to the other filters
    ],
)
def test_snap_first_line_indent(raw: str, where: CursorText, expected: str) -> None:
    assert snap_first_line_indent(raw, where) == expected


def test_indent_step() -> None:
    assert indent_step(cursor("    ", before="class A:\n    def f(self):\n        pass\n")) == 4
    assert indent_step(cursor("", before="x = 1\n")) == 0
    assert indent_step(cursor("  ", before="x = 1\n")) == 2  # nothing above: the cursor's own
    aligned = "if (a) {\n      b(a,\n        c)\n         d\n"  # a continuation aligned on a bracket
    assert indent_step(cursor("  ", before=aligned)) == 1


@pytest.mark.parametrize(
    ("raw", "where", "expected"),
    [
        ("a + b\n    more", cursor("    return "), "a + b\n    more"),
        ("a + b)\nnext", cursor("    f(", ")"), "a + b"),  # text after the cursor: one line, no doubled bracket
        ("   \n  ", cursor("    "), ""),  # whitespace only: nothing to show
        ("```\n```", cursor("    "), ""),
        ("x = 1\n    y = 2\nprint(x)", cursor("    "), "x = 1\n    y = 2"),  # stops where the body ends
        (" return a\n    b", cursor("    "), "return a\n    b"),  # the stray space of the first line
    ],
)
def test_clean_completion(raw: str, where: CursorText, expected: str) -> None:
    assert clean_completion(raw, where, max_lines=8) == expected


def test_line_policy() -> None:
    assert not line_policy(cursor("    x = f(", ")"), 8).multiline
    empty_body = line_policy(cursor("    "), 8)
    assert empty_body.multiline and empty_body.block_indent == 4
    assert line_policy(cursor("    return "), 8).block_indent == 4


@pytest.mark.parametrize(
    ("text", "where", "done"),
    [
        ("abc", cursor("x = f(", ")"), False),
        ("abc\n", cursor("x = f(", ")"), True),  # single-line completion: a newline ends it
        ("a\n    b\n", cursor("    "), False),
        ("a\n\n    b", cursor("    "), True),  # a blank line ends the block
        ("a\nz = 1\n", cursor("    "), True),  # a dedent ends it
        ("\n".join("x" * 9), cursor(""), True),  # more lines than the cap
    ],
)
def test_is_complete(text: str, where: CursorText, done: bool) -> None:
    assert is_complete(text, where, max_lines=8) == done
