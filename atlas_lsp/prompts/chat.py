"""Render chat messages with the model's own chat template (from its GGUF metadata)."""

from __future__ import annotations

from dataclasses import dataclass

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

_ENVIRONMENT = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, undefined=jinja2.ChainableUndefined)


def render_chat(template: str, messages: list[dict[str, str]]) -> str:
    """The prompt text for ``messages`` ending with the assistant's turn opened."""
    return _ENVIRONMENT.from_string(template).render(
        messages=messages, add_generation_prompt=True, bos_token="", eos_token=""
    )


@dataclass(frozen=True)
class ChatPrompt:
    """A chat request in both forms: the turns (for backends that apply the template themselves, like an HTTP chat
    endpoint) and the text they render to (for the in-process model)."""

    text: str
    messages: tuple[tuple[str, str], ...]  # (role, content)


def chat_prompt(template: str | None, messages: list[dict[str, str]], plain: str | None = None) -> ChatPrompt:
    """``messages`` rendered with ``template``, or as ``plain`` text when the model has no template."""
    text = render_chat(template, messages) if template else (plain if plain is not None else "")
    return ChatPrompt(text, tuple((m["role"], m["content"]) for m in messages))


def code_from_reply(reply: str) -> str:
    """The code in a chat reply: the first fenced block when there is one, else the reply."""
    if "```" not in reply:
        return reply
    after_fence = reply.split("```", 1)[1]
    body = after_fence.split("\n", 1)[1] if "\n" in after_fence else ""
    return body.split("```", 1)[0]
