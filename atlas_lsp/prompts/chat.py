"""Render chat messages with the model's own chat template (from its GGUF metadata)."""

from __future__ import annotations

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

_ENVIRONMENT = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, undefined=jinja2.ChainableUndefined)


def render_chat(template: str, messages: list[dict[str, str]]) -> str:
    """The prompt text for ``messages`` ending with the assistant's turn opened."""
    return _ENVIRONMENT.from_string(template).render(
        messages=messages, add_generation_prompt=True, bos_token="", eos_token=""
    )


def code_from_reply(reply: str) -> str:
    """The code in a chat reply: the first fenced block when there is one, else the reply."""
    if "```" not in reply:
        return reply
    after_fence = reply.split("```", 1)[1]
    body = after_fence.split("\n", 1)[1] if "\n" in after_fence else ""
    return body.split("```", 1)[0]
