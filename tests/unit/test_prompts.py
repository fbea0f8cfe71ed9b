import pytest

from atlas_lsp.model.backend import FimTokens
from atlas_lsp.prompts.completion import build_completion_prompt, split_at_cursor, window_start

SOURCE = "import os\n\ndef add(a, b):\n    return a + b\n\nprint(add(1, 2))\n"
FIM = FimTokens("<PRE>", "<SUF>", "<MID>")


def test_split_at_cursor() -> None:
    cursor = split_at_cursor(SOURCE, 3, 11, prefix_lines=100, suffix_lines=100)
    assert cursor.before_line == "import os\n\ndef add(a, b):\n"
    assert cursor.line_prefix == "    return "
    assert cursor.line_suffix == "a + b"
    assert cursor.after_line.startswith("\nprint")


def test_split_keeps_the_nearest_lines() -> None:
    cursor = split_at_cursor(SOURCE, 3, 4, prefix_lines=1, suffix_lines=1)
    assert cursor.before_line == "def add(a, b):\n"
    assert cursor.after_line == ""


def test_split_clamps_out_of_range_positions() -> None:
    cursor = split_at_cursor("abc", 7, 99, prefix_lines=5, suffix_lines=5)
    assert cursor.line_prefix == "abc"
    cursor = split_at_cursor("abc", 0, 99, prefix_lines=5, suffix_lines=5)
    assert cursor.line_prefix == "abc" and cursor.line_suffix == ""


def test_prefix_prompt_without_fim() -> None:
    cursor = split_at_cursor(SOURCE, 3, 11, 100, 100)
    prompt = build_completion_prompt(cursor, None)
    assert prompt.kind == "prefix"
    assert prompt.text == "import os\n\ndef add(a, b):\n    return "


def test_fim_prompt_puts_the_current_line_prefix_last() -> None:
    cursor = split_at_cursor(SOURCE, 3, 11, 100, 100)
    prompt = build_completion_prompt(cursor, FIM, context="# other.py\nX = 1\n")
    assert prompt.kind == "fim"
    assert prompt.text == (
        "<PRE># other.py\nX = 1\nimport os\n\ndef add(a, b):\n<SUF>a + b\n\nprint(add(1, 2))\n<MID>    return "
    )
    # Typing on the same line only changes the text after the middle marker.
    later = build_completion_prompt(split_at_cursor(SOURCE.replace("return ", "return a"), 3, 12, 100, 100), FIM)
    stable = prompt.text.split("<MID>")[0].replace("# other.py\nX = 1\n", "")
    assert later.text.split("<MID>")[0].startswith(stable.split("<SUF>")[0])


def test_split_at_cursor_on_lines_gives_the_same_as_on_text() -> None:
    """Open documents are split from their line lists (pygls's lines, endings kept): same result as the text."""
    import random

    rng = random.Random(3)
    for _ in range(500):
        rows = [rng.choice(["", "x", "  def f():", "é😋", "a b"]) for _ in range(rng.randrange(0, 6))]
        text = rng.choice(["\n", "\r\n"]).join(rows) + rng.choice(["", "\n", "\r\n"])
        lines = text.splitlines(True)
        line, column = rng.randrange(len(rows) + 3), rng.randrange(12)
        before, after = rng.randrange(4), rng.randrange(4)
        assert split_at_cursor(lines, line, column, before, after) == split_at_cursor(text, line, column, before, after)


@pytest.mark.parametrize(
    ("line", "most", "step", "start"),
    [
        (10, 200, 32, 0),  # the whole file above fits: from its first line
        (200, 200, 32, 0),
        (201, 200, 32, 32),  # one line too many: the start moves a whole step
        (232, 200, 32, 32),  # ... and stays there for the next 31 lines
        (233, 200, 32, 64),
        (500, 200, 1, 300),  # step 1: follows every line
        (52, 10, 32, 45),  # a window shorter than two steps: half its length
        (50, 1, 32, 49),  # one line: not aligned
        (50, 0, 32, 50),  # no line at all
    ],
)
def test_window_start(line: int, most: int, step: int, start: int) -> None:
    assert window_start(line, most, step) == start
    assert line - most <= start <= line


def test_window_start_moves_once_per_step_while_new_lines_are_written() -> None:
    starts = {window_start(line, 200, 32) for line in range(1000, 1032)}
    assert len(starts) == 2  # 32 new lines: the start moved once (where the multiple of 32 was crossed)
    assert len({window_start(line, 200, 1) for line in range(1000, 1032)}) == 32
