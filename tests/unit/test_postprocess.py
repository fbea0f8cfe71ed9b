import pytest

from atlas_lsp.completion.postprocess import (
    cap_lines,
    clean_completion,
    cut_at_blank_run,
    drop_repeated_suffix,
    strip_markdown_fences,
    strip_trailing_whitespace,
)
from atlas_lsp.prompts.completion import CursorText


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("```python\nx = 1\n```", "x = 1"),
        ("x = 1", "x = 1"),
        ("  ```\nreturn 2", "return 2"),
    ],
)
def test_strip_markdown_fences(raw: str, expected: str) -> None:
    assert strip_markdown_fences(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a\nb\n\nc", "a\nb"),
        ("a\n   \nb", "a"),
        ("\nx", "\nx"),  # a completion may start with a newline
        ("a\nb", "a\nb"),
    ],
)
def test_cut_at_blank_run(raw: str, expected: str) -> None:
    assert cut_at_blank_run(raw) == expected


@pytest.mark.parametrize(("raw", "cap", "expected"), [("a\nb\nc", 2, "a\nb"), ("a", 3, "a")])
def test_cap_lines(raw: str, cap: int, expected: str) -> None:
    assert cap_lines(raw, cap) == expected


@pytest.mark.parametrize(("raw", "expected"), [("a  \nb\t\n\n", "a\nb"), ("x", "x")])
def test_strip_trailing_whitespace(raw: str, expected: str) -> None:
    assert strip_trailing_whitespace(raw) == expected


@pytest.mark.parametrize(
    ("raw", "suffix", "expected"), [("a, b)", ")", "a, b"), ("a, b", ")", "a, b"), ("x)", "", "x)")]
)
def test_drop_repeated_suffix(raw: str, suffix: str, expected: str) -> None:
    assert drop_repeated_suffix(raw, suffix) == expected


@pytest.mark.parametrize(
    ("raw", "line_suffix", "expected"),
    [
        ("a + b\n    more", "", "a + b\n    more"),
        ("a + b)\nnext", ")", "a + b"),  # text after the cursor: one line, no doubled bracket
        ("   \n  ", "", ""),  # whitespace only: nothing to show
        ("```\n```", "", ""),
    ],
)
def test_clean_completion(raw: str, line_suffix: str, expected: str) -> None:
    cursor = CursorText("", "x = ", line_suffix, "")
    assert clean_completion(raw, cursor, max_lines=8) == expected
