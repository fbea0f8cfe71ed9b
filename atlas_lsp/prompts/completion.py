"""Completion prompts ordered for KV-cache reuse: the most stable text first, the current line's prefix last."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from atlas_lsp.model.backend import FimTokens, InfillParts

PromptKind = Literal["fim", "fim-repo", "infill", "prefix", "chat"]


@dataclass(frozen=True)
class CursorText:
    """The document split at the cursor."""

    before_line: str  # every line before the cursor's line, each with its newline
    line_prefix: str  # the cursor line up to the cursor
    line_suffix: str  # the cursor line after the cursor
    after_line: str  # every line after the cursor's line


@dataclass(frozen=True)
class CompletionPrompt:
    text: str
    kind: PromptKind
    stop: tuple[str, ...]
    stable: int = 0  # text[:stable] does not change while the user types on the cursor line
    messages: tuple[tuple[str, str], ...] | None = None  # the chat turns, for a chat prompt
    infill: InfillParts | None = None  # the parts, for a server that builds the FIM prompt itself


def split_at_cursor(
    text: str | Sequence[str], line: int, character: int, prefix_lines: int, suffix_lines: int
) -> CursorText:
    """Split ``text`` at (line, character), keeping at most ``prefix_lines``/``suffix_lines`` around the cursor.

    ``text`` is the document, or its lines with their line endings (an open document's, which saves splitting
    the whole text per keystroke). ``character`` counts code points (the LSP layer converts from the client's
    position encoding).
    """
    if not isinstance(text, str):
        return _split_lines_at_cursor(text, line, character, prefix_lines, suffix_lines)
    lines = text.split("\n")
    if line >= len(lines):
        line, current = len(lines) - 1, lines[-1]
        column = len(current)
    else:
        current = lines[line]
        column = min(max(character, 0), len(current))
    start = max(0, line - prefix_lines)
    before = "\n".join(lines[start:line]) + "\n" if line > start else ""
    after_rows = lines[line + 1 : line + 1 + suffix_lines]
    after = "\n".join(after_rows)
    return CursorText(before, current[:column], current[column:], after)


def window_start(line: int, most_lines: int, step: int) -> int:
    """The first line of a window of at most ``most_lines`` lines above ``line``, on a multiple of ``step``: as the
    cursor moves down (the user writes new lines) the window's start moves once per ``step`` lines, not with every
    line, so the prompt's start and the model's cache of it stay the same. A window shorter than two steps is
    aligned to a smaller step (half its length)."""
    lowest = max(0, line - most_lines)
    step = min(step, most_lines // 2)
    if lowest == 0 or step <= 1:
        return lowest
    return -(-lowest // step) * step


@dataclass(frozen=True)
class ContextFile:
    """Other-file context for the prompt: a path (relative to the repository) and the text to show."""

    path: str
    text: str


def render_context(files: list[ContextFile], comment: str) -> str:
    """Context as plain text: each file's part under a comment naming it."""
    return "".join(f"{comment} {f.path}\n{f.text.rstrip()}\n\n" for f in files)


def build_completion_prompt(
    cursor: CursorText,
    fim: FimTokens | None,
    context: str = "",
    files: list[ContextFile] | None = None,
    repo: str = "",
    path: str = "",
) -> CompletionPrompt:
    """FIM when the vocabulary has it (repo-level with `<|repo_name|>`/`<|file_sep|>` when it has those too),
    else plain prefix continuation.

    Order: other-file context and the file's earlier lines (stable), then the suffix, then the FIM middle marker
    and the current line's prefix, so that typing on one line changes only the prompt's tail.
    """
    if fim is not None:
        suffix = cursor.line_suffix + ("\n" + cursor.after_line if cursor.after_line else "")
        body = f"{cursor.before_line}{fim.suffix}{suffix}{fim.middle}{cursor.line_prefix}"
        stops = tuple(t for t in (fim.prefix, fim.suffix, fim.middle, fim.file_sep, fim.repo_name) if t)
        if fim.repo_name and fim.file_sep and path:
            head = f"{fim.repo_name}{repo}\n" + "".join(f"{fim.file_sep}{f.path}\n{f.text}\n" for f in files or [])
            start = f"{head}{fim.file_sep}{path}\n{fim.prefix}"
            return CompletionPrompt(start + body, "fim-repo", stops, len(start) + len(cursor.before_line))
        start = f"{fim.prefix}{context}"
        return CompletionPrompt(start + body, "fim", stops, len(start) + len(cursor.before_line))
    stable = f"{context}{cursor.before_line}"
    return CompletionPrompt(stable + cursor.line_prefix, "prefix", stop=(), stable=len(stable))


def build_infill_prompt(cursor: CursorText, files: list[ContextFile] | None = None) -> CompletionPrompt:
    """For a server that knows the model's FIM markers itself (llama-server's /infill): the parts, and a plain
    rendering of them (other files, prefix, current line) for counting tokens and for `atlas.lastCompletion`."""
    suffix = cursor.line_suffix + ("\n" + cursor.after_line if cursor.after_line else "")
    extra = tuple((f.path, f.text) for f in files or [])
    parts = InfillParts(cursor.before_line, cursor.line_prefix, suffix, extra)
    stable = "".join(f"{text}\n" for _, text in extra) + cursor.before_line
    return CompletionPrompt(stable + cursor.line_prefix, "infill", stop=(), stable=len(stable), infill=parts)


CHAT_INSTRUCTION = (
    "Complete the code at <CURSOR>. Reply with only the code that goes at <CURSOR>, no explanation, no fences."
)


def build_chat_messages(cursor: CursorText, context: str = "") -> list[dict[str, str]]:
    """Messages for instruct-only models, rendered by the model's own chat template."""
    suffix = cursor.line_suffix + ("\n" + cursor.after_line if cursor.after_line else "")
    code = f"{context}{cursor.before_line}{cursor.line_prefix}<CURSOR>{suffix}"
    return [{"role": "user", "content": f"{CHAT_INSTRUCTION}\n\n{code}"}]


def _split_lines_at_cursor(
    lines: Sequence[str], line: int, character: int, prefix_lines: int, suffix_lines: int
) -> CursorText:
    """`split_at_cursor` on lines that keep their endings (as pygls splits them); the same result as on the text."""
    count = len(lines)
    rows = count + 1 if count == 0 or lines[-1].endswith(("\n", "\r")) else count  # a final empty line after an ending
    if line >= rows:
        line, character = rows - 1, 1 << 30
    current = lines[line] if line < count else ""
    current = current[:-1] if current.endswith("\n") else current
    column = min(max(character, 0), len(current))
    start = max(0, line - prefix_lines)
    before = "".join(lines[start:line])
    after = "".join(lines[line + 1 : line + 1 + suffix_lines])
    if after.endswith("\n") and line + 1 + suffix_lines <= count:
        after = after[:-1]  # the text form joins the rows after the cursor's line without a final newline
    return CursorText(before, current[:column], current[column:], after)
