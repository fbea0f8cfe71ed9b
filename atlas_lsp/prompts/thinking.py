"""Reasoning models (a `<think>` section before the answer): a per-candidate thinking budget and the thinking kept
out of the code. Pure functions over a text generator, so the budget logic is testable without a model."""

from __future__ import annotations

import re
from collections.abc import Callable

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
_CLOSED = re.compile(re.escape(THINK_OPEN) + r".*?" + re.escape(THINK_CLOSE), re.DOTALL)

# (prompt, max_tokens, stop strings) -> the generated text
GenerateText = Callable[[str, int, tuple[str, ...]], str]


def is_reasoning_template(template: str | None) -> bool:
    """Whether a chat template belongs to a reasoning model (it writes or strips a `<think>` section)."""
    return bool(template) and THINK_OPEN in (template or "")


def strip_thinking(reply: str) -> str:
    """The reply without its thinking: closed `<think>…</think>` sections, and an unterminated one that was cut."""
    text = _CLOSED.sub("", reply)
    if THINK_OPEN in text:  # a section the budget cut: nothing after it is an answer
        text = text.split(THINK_OPEN, 1)[0]
    if THINK_CLOSE in text:  # the template opened <think> in the prompt: the reply starts inside it
        text = text.split(THINK_CLOSE, 1)[1]
    return text.strip("\n")


def generate_with_budget(generate: GenerateText, prompt: str, budget: int, max_tokens: int) -> str:
    """Budget forcing: think for at most ``budget`` tokens, then close the section and write the answer.

    The first call stops at `</think>` or at the budget, whichever comes first; the second continues from the
    closed section, so a model that would think on forever still answers. Returns the answer only.
    """
    opened = prompt.rstrip().endswith(THINK_OPEN)
    head = prompt if opened else prompt + THINK_OPEN + "\n"
    thinking = generate(head, budget, (THINK_CLOSE,))
    answer = generate(f"{head}{thinking.rstrip()}\n{THINK_CLOSE}\n\n", max_tokens, ())
    return strip_thinking(answer)
