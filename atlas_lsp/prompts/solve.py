"""Prompts for writing and repairing one function (pure; rendered with the model's chat template when it has one)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

PLANS = (
    "",
    "First write a short plan as comments inside the function, then the code.",
    "Think about edge cases (empty input, zero, negatives) in a comment first, then write the code.",
    "Write the simplest correct implementation, using the standard library where it helps.",
)


@dataclass(frozen=True)
class SolveSpec:
    """What the model is told: the function, its file's surroundings, and the tests that define it."""

    language: str
    name: str
    signature: str
    doc: str
    current: str  # the function as it is now
    context: str  # other code the function may use (skeletons)
    tests: list[str]  # test sources, the project's own or the docstring's examples
    tests_label: str  # "the project's tests" or "examples from the docstring"
    indent: str = ""  # the definition's own indentation in its file (a method's), which its first line lacks


def as_written(code: str, indent: str) -> str:
    """A definition's ``code`` that starts at its first character, as it reads on its own: its first line given its
    ``indent`` back and every line dedented together (a method's body no longer looks nested twice)."""
    return textwrap.dedent(indent + code) if indent else code


def _task(spec: SolveSpec) -> str:
    tests = "\n\n".join(spec.tests)
    parts = [
        f"Implement the {spec.language} function `{spec.name}` so that {spec.tests_label} pass.",
        f"The function now:\n```{spec.language}\n{as_written(spec.current, spec.indent)}\n```",
    ]
    if spec.context:
        parts.append(f"Code it can use:\n```{spec.language}\n{spec.context}\n```")
    if tests:
        parts.append(f"{spec.tests_label.capitalize()}:\n```{spec.language}\n{tests}\n```")
    parts.append(
        f"Reply with the complete definition of `{spec.name}` (keep its signature unless it must change) "
        "in one code block, and nothing else."
    )
    return "\n\n".join(parts)


def candidate_messages(spec: SolveSpec, plan: str) -> list[dict[str, str]]:
    content = _task(spec) + (f"\n\n{plan}" if plan else "")
    return [{"role": "user", "content": content}]


def repair_messages(spec: SolveSpec, candidate: str, failures: str) -> list[dict[str, str]]:
    return [
        {"role": "user", "content": _task(spec)},
        {"role": "assistant", "content": f"```{spec.language}\n{as_written(candidate, spec.indent)}\n```"},
        {
            "role": "user",
            "content": f"The tests failed:\n```\n{failures}\n```\nFix the function. Reply with the complete "
            f"corrected definition of `{spec.name}` in one code block, and nothing else.",
        },
    ]


def plain_prompt(messages: list[dict[str, str]]) -> str:
    """For models without a chat template."""
    text = "\n\n".join(m["content"] for m in messages)
    return f"{text}\n\n```\n"
