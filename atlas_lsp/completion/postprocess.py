"""Clean a raw model continuation into a suggestion (pure functions, each one filter)."""

from __future__ import annotations

from atlas_lsp.prompts.completion import CursorText


def strip_markdown_fences(text: str) -> str:
    """Drop ``` fence lines that chat-tuned models wrap code in."""
    return "\n".join(line for line in text.split("\n") if not line.strip().startswith("```"))


def cut_at_blank_run(text: str) -> str:
    """End the suggestion at the first blank line (the end of a block or statement group)."""
    lines = text.split("\n")
    for index, line in enumerate(lines[1:], start=1):
        if not line.strip():
            return "\n".join(lines[:index])
    return text


def cap_lines(text: str, max_lines: int) -> str:
    return "\n".join(text.split("\n")[:max_lines])


def single_line(text: str) -> str:
    return text.split("\n", 1)[0]


def strip_trailing_whitespace(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.split("\n")).rstrip("\n")


def drop_repeated_suffix(text: str, line_suffix: str) -> str:
    """When the text after the cursor already ends the suggestion, do not insert it twice."""
    tail = line_suffix.strip()
    if tail and text.rstrip().endswith(tail):
        return text.rstrip()[: -len(tail)]
    return text


def clean_completion(raw: str, cursor: CursorText, max_lines: int) -> str:
    """All filters in order; an empty string means 'show nothing'."""
    text = strip_markdown_fences(raw)
    if cursor.line_suffix.strip():
        text = single_line(text)
        text = drop_repeated_suffix(text, cursor.line_suffix)
    else:
        text = cut_at_blank_run(text)
        text = cap_lines(text, max_lines)
    text = strip_trailing_whitespace(text)
    return text if text.strip() else ""
