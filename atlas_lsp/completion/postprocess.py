"""Clean a raw model continuation into a suggestion. Pure functions, one filter each, applied in order."""

from __future__ import annotations

import math
from dataclasses import dataclass

from atlas_lsp.prompts.completion import CursorText

CLOSERS = {")": "(", "]": "[", "}": "{", '"': '"', "'": "'", "`": "`"}


@dataclass(frozen=True)
class LinePolicy:
    """How much a completion at this cursor may span."""

    multiline: bool
    block_indent: int  # lines indented less than this end the block
    max_lines: int


def indentation(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def line_policy(cursor: CursorText, max_lines: int) -> LinePolicy:
    """Single line when text follows the cursor on its line; otherwise up to ``max_lines`` within the block."""
    if cursor.line_suffix.strip():
        return LinePolicy(False, 0, 1)
    if cursor.line_prefix.strip():
        block_indent = indentation(cursor.line_prefix)
    else:
        block_indent = len(cursor.line_prefix)
    return LinePolicy(True, block_indent, max_lines)


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


def cut_at_dedent(text: str, block_indent: int) -> str:
    """End the suggestion where a line is indented less than the block the cursor is in."""
    lines = text.split("\n")
    for index, line in enumerate(lines[1:], start=1):
        if line.strip() and indentation(line) < block_indent:
            return "\n".join(lines[:index])
    return text


def cap_lines(text: str, max_lines: int) -> str:
    return "\n".join(text.split("\n")[:max_lines])


def single_line(text: str) -> str:
    return text.split("\n", 1)[0]


def drop_repeated_lines(text: str) -> str:
    """Stop at the first line or two-line block that repeats the one just before it (a looping model)."""
    lines = text.split("\n")
    for index in range(1, len(lines)):
        line = lines[index]
        if line.strip() and line == lines[index - 1]:
            return "\n".join(lines[:index])
        if index >= 3 and line.strip() and lines[index - 1 : index + 1] == lines[index - 3 : index - 1]:
            return "\n".join(lines[: index - 1])
    return text


def drop_repeated_next_line(text: str, after_line: str) -> str:
    """Stop before a suggested line that repeats the next non-blank line already below the cursor."""
    following = next((line.strip() for line in after_line.split("\n", 64)[:64] if line.strip()), "")
    if not following:
        return text
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if index > 0 and line.strip() == following:
            return "\n".join(lines[:index])
    return text


def drop_existing_closers(text: str, line_suffix: str) -> str:
    """Do not insert brackets/quotes the editor already has after the cursor (auto-paired), nor the rest of the
    line when the suggestion ends with it."""
    tail = line_suffix.strip()
    if not tail:
        return text
    stripped = text.rstrip()
    if stripped.endswith(tail):
        return stripped[: -len(tail)]
    closers = ""
    for char in tail:
        if char not in CLOSERS:
            break
        closers += char
    while closers and stripped.endswith(closers[0]):
        stripped = stripped[:-1]
        closers = closers[1:]
    return stripped


def indent_step(cursor: CursorText) -> int:
    """The file's indentation step in spaces: the greatest common divisor of the widths of the nearest lines above
    the cursor indented with spaces (1 says nothing), else the cursor's own indentation when it is 2, 4 or 8 spaces
    (the first indented line of a file); 0 when nothing tells."""
    widths = []
    for line in cursor.before_line[-4096:].split("\n")[-40:]:
        if line.startswith(" ") and line.strip():
            widths.append(len(line) - len(line.lstrip(" ")))
    if widths:
        return math.gcd(*widths)
    prefix = cursor.line_prefix
    return len(prefix) if len(prefix) in (2, 4, 8) and not prefix.strip(" ") else 0


def _indentation_above(cursor: CursorText) -> str | None:
    """The leading whitespace of the nearest non-blank line above the cursor (None at the top of the file)."""
    for line in reversed(cursor.before_line[-8192:].split("\n")):
        if line.strip():
            return line[: len(line) - len(line.lstrip(" \t"))]
    return None


def snap_first_line_indent(text: str, cursor: CursorText) -> str:
    """On a line holding only the cursor's indentation, where the first line of a suggestion adds indentation of
    its own (the model's token began with a space, ``"    " + " return"``, or it indented once more): when the
    cursor is already deeper than the line above (inside the block that line opened, where the block's first
    statement starts), the first line starts at the cursor; otherwise it starts on the file's indentation step
    (after tabs: right after them, no spaces)."""
    prefix = cursor.line_prefix
    if not prefix or prefix.strip(" \t") or cursor.line_suffix.strip():
        return text
    first = text.split("\n", 1)[0]
    lead = len(first) - len(first.lstrip(" \t"))
    if lead == 0 or not first.strip():
        return text
    above = _indentation_above(cursor)
    if above is not None and len(prefix) > len(above) and prefix.startswith(above):
        return text[lead:]
    spaces = len(first) - len(first.lstrip(" "))
    if spaces == 0:
        return text  # a tab more at the same level as the line above (a block it opened): as it is
    if not prefix.strip("\t"):
        return text[spaces:]
    if prefix.strip(" "):
        return text  # tabs and spaces mixed: nothing to tell
    step = indent_step(cursor)
    if step <= 1:
        return text
    return text[min((len(prefix) + spaces) % step, spaces) :]


def strip_trailing_whitespace(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.split("\n")).rstrip("\n")


def normalize_indentation(text: str, indent_unit: str) -> str:
    """Re-indent continuation lines with the file's indent character (tabs vs spaces)."""
    if indent_unit != "\t":
        return "\n".join(
            line.replace("\t", indent_unit) if line.startswith("\t") else line for line in text.split("\n")
        )
    lines = text.split("\n")
    out = [lines[0]]
    for line in lines[1:]:
        spaces = indentation(line)
        out.append("\t" * (spaces // 4) + line[spaces:] if not line.startswith("\t") else line)
    return "\n".join(out)


def file_indent_unit(cursor: CursorText) -> str:
    for line in cursor.before_line[-8192:].split("\n")[::-1]:  # the nearest lines tell (never the whole file)
        if line.startswith("\t"):
            return "\t"
        if line.startswith(" "):
            return "    "
    return "    "


def clean_completion(raw: str, cursor: CursorText, max_lines: int) -> str:
    """All filters in order; an empty string means 'show nothing'."""
    policy = line_policy(cursor, max_lines)
    text = snap_first_line_indent(strip_markdown_fences(raw), cursor)
    if not policy.multiline:
        text = single_line(text)
        text = drop_existing_closers(text, cursor.line_suffix)
    else:
        text = cut_at_blank_run(text)
        text = cut_at_dedent(text, policy.block_indent)
        text = drop_repeated_lines(text)
        text = drop_repeated_next_line(text, cursor.after_line)
        text = cap_lines(text, policy.max_lines)
        text = normalize_indentation(text, file_indent_unit(cursor))
    text = strip_trailing_whitespace(text)
    return text if text.strip() else ""


def is_complete(text: str, cursor: CursorText, max_lines: int) -> bool:
    """Whether generation can stop: more tokens could only be cut by the filters above."""
    policy = line_policy(cursor, max_lines)
    if not policy.multiline:
        return "\n" in text
    lines = text.split("\n")
    if len(lines) > policy.max_lines:
        return True
    if any(not line.strip() for line in lines[1:-1]):
        return True
    return any(line.strip() and indentation(line) < policy.block_indent for line in lines[1:-1])
