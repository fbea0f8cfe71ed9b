"""Speculation: once a suggestion is shown, the one that will follow it if the user accepts it.

Accepting a suggestion (Tab) moves the cursor to its end, and the editor asks again there at once. While the user
reads the suggestion the model is idle: `CompletionService.speculate` computes the next suggestion for the text as
it will be after accepting, and keeps it in the suggestion cache, so the request after the Tab is answered from
memory (Copilot's "speculative request for the state after accept", llama.vim's speculative FIM). It makes way
for any request that needs the model (part-way through a model step with the in-process model on a CPU, at the end
of the step elsewhere) and is stopped when it is no longer wanted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from atlas_lsp.completion.cache import CacheKey
from atlas_lsp.model.backend import CancelToken, ModelInfo

# `completion.speculate: auto` speculates with the in-process model when a one-token model step takes at most this
# long: a keystroke whose request needs the model waits for a running speculation's step to end
AUTO_MAX_STEP_S = 0.03


@dataclass
class Speculation:
    """The speculation in flight: which cache entry it will fill, its token, and an event set when it ends."""

    key: CacheKey
    cancel: CancelToken
    finished: asyncio.Event = field(default_factory=asyncio.Event)


def auto_speculates(info: ModelInfo, step_seconds: float | None) -> bool:
    """`completion.speculate: auto`: the in-process model on a GPU, or on a CPU where a one-token step is quick
    (``step_seconds``, measured as generations ran). Not through an endpoint: a team server's time is shared."""
    if info.backend != "llama-cpp":
        return False
    if info.gpu_layers > 0:
        return True
    return step_seconds is not None and step_seconds <= AUTO_MAX_STEP_S


def with_inserted(text: str | Sequence[str], line: int, character: int, inserted: str) -> tuple[list[str], int, int]:
    """The document (its text, or its lines with their endings) once ``inserted`` is typed at (line, character):
    its lines with their endings, and the cursor at the end of the inserted text (code points)."""
    if isinstance(text, str):
        rows = text.split("\n")
        lines = [row + "\n" for row in rows[:-1]] + ([rows[-1]] if rows[-1] else [])
    else:
        lines = list(text)
    count = len(lines) + 1 if not lines or lines[-1].endswith("\n") else len(lines)
    if line >= count:  # past the end: at the end (as `split_at_cursor` takes it)
        line, character = count - 1, 1 << 30
    line = max(line, 0)
    current = lines[line] if line < len(lines) else ""
    ending = "\n" if current.endswith("\n") else ""
    body = current[: len(current) - len(ending)]
    column = min(max(character, 0), len(body))
    joined = (body[:column] + inserted + body[column:] + ending).split("\n")
    replaced = [row + "\n" for row in joined[:-1]] + ([joined[-1]] if joined[-1] else [])
    pieces = inserted.split("\n")
    end_line = line + len(pieces) - 1
    end_character = (column if len(pieces) == 1 else 0) + len(pieces[-1])
    return lines[:line] + replaced + lines[line + 1 :], end_line, end_character
