"""`atlas-lsp bench decode`: generation with and without prompt-lookup guesses, on the same prompts, in one run.

Three copies of the model are loaded: one with `model.draftTokens` 0 (a model step per token), one with the
setting's default (guesses checked in the same step; `atlas_lsp/model/draft.py`), and that one again with flash
attention the other way from what `model.flashAttention` "auto" picks on this device. Each runs, per position of the
completion benchmark's file, a cold request and a one-character follow-up (its prompt is in the cache), both
greedy with the completion's token cap. The follow-up shows the decode cost that remains when the prompt is
cached. The copies alternate position by position, so a busy machine slows them alike.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atlas_lsp.bench.completion import describe_source, model_settings, positions, source_file
from atlas_lsp.bench.report import header, median, summary_ms
from atlas_lsp.model.backend import CancelToken, GenerationRequest

PROMPT_CHARS = 6000  # about 1,500 tokens of Python
MAX_TOKENS = 64


@dataclass
class DecodeRun:
    cold: list[float] = field(default_factory=list)
    follow_up: list[float] = field(default_factory=list)
    tokens: int = 0
    steps: int = 0
    decode_seconds: float = 0.0  # follow-ups only: the prompt is cached, so this is decoding
    decode_tokens: int = 0
    follow_up_tokens: int = 0  # tokens (EOS included) and model steps of the follow-ups alone
    follow_up_steps: int = 0
    texts: list[str] = field(default_factory=list)


@dataclass
class DecodeBench:
    model: str = ""
    device: str = ""
    source: str = ""  # what the prompts' text is, for the report
    draft_tokens: int = 0
    plain: DecodeRun = field(default_factory=DecodeRun)
    guessing: DecodeRun = field(default_factory=DecodeRun)
    step_ms: dict[int, float] = field(default_factory=dict)  # the tuner's moving average by tokens in a step
    mode_runs: dict[str, int] = field(default_factory=dict)  # generations by decode mode (the tuner's choice)
    mode_ms: dict[str, float] = field(default_factory=dict)  # the tuner's decode time per token by mode
    logit_spread: float = float("nan")  # most a logit changed: 8 tokens evaluated in one step vs one at a time
    flash_default: bool = False  # what model.flashAttention "auto" chose on this device (the guessing copy)
    flash_other: DecodeRun = field(default_factory=DecodeRun)  # the guessing copy with flash attention toggled
    park: ParkCost | None = None  # copying a prompt's KV state out and back (atlas_lsp/model/parked.py)


@dataclass
class CopyCost:
    """Median ms of a few copies of the same KV state."""

    fresh_ms: float  # copied out into memory never written before (pinned memory: allocating it included)
    spare_ms: float  # into a spare state's memory (what parking does after its first copies)
    restore_ms: float  # copied back into the KV cache


@dataclass
class ParkCost:
    """What parking a prompt costs on this device: in the memory parking uses here, and on a GPU also in ordinary
    (pageable) memory, for comparison."""

    tokens: int
    megabytes: float
    memory: str  # the memory parking uses here
    used: CopyCost
    ordinary: CopyCost | None = None


def _measure(backend: object, prompt: str, run: DecodeRun) -> None:
    for text, timings in ((prompt, run.cold), (prompt + " ", run.follow_up)):
        request = GenerationRequest(text, max_tokens=MAX_TOKENS, temperature=0.0)
        started = time.perf_counter()
        stream = backend.generate(request, CancelToken())  # type: ignore[attr-defined]
        output = "".join(stream)
        seconds = time.perf_counter() - started
        timings.append(seconds)
        run.texts.append(output)
        run.tokens += stream.stats.generated_tokens + (stream.stats.stop_reason == "eos")  # EOS took a step too
        run.steps += stream.stats.decode_steps + 1  # the first token comes with the prompt's step
        if timings is run.follow_up:
            run.decode_seconds += seconds
            run.decode_tokens += stream.stats.generated_tokens
            run.follow_up_tokens += stream.stats.generated_tokens + (stream.stats.stop_reason == "eos")
            run.follow_up_steps += stream.stats.decode_steps + 1


def run(
    model: str | None = None,
    count: int = 12,
    prompt_chars: int = PROMPT_CHARS,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    file: Path | None = None,
) -> DecodeBench:
    """``overrides``: a settings object whose ``model`` section applies to every model loaded here. ``file``: a
    Python file whose text the prompts come from instead of the pinned input (see bench/completion.py)."""
    from atlas_lsp.model.service import load_backend

    settings = model_settings(model, overrides)
    text = source_file(path=file)
    bench = DecodeBench(draft_tokens=settings.draft_tokens, source=describe_source(text, file))
    plain = load_backend(dataclasses.replace(settings, draft_tokens=0))
    guessing = load_backend(settings)
    bench.model, bench.device = guessing.info.name, guessing.info.device
    bench.flash_default = guessing.info.flash_attention
    toggled = load_backend(dataclasses.replace(settings, flash_attention="off" if bench.flash_default else "on"))
    rows = text.split("\n")
    prompts = [
        ("\n".join(rows[:line]) + "\n" + rows[line][:column])[-prompt_chars:] for line, column in positions(text, count)
    ]
    try:
        for prompt in prompts:
            _measure(plain, prompt, bench.plain)
            _measure(guessing, prompt, bench.guessing)
            _measure(toggled, prompt, bench.flash_other)
        bench.logit_spread = _logit_spread(plain, prompts[0])
        tuner = getattr(guessing, "_tuner", None)
        if tuner is not None:
            bench.step_ms = {size: seconds * 1000 for size, seconds in sorted(tuner.step_seconds.items())}
            bench.mode_runs = dict(tuner.planned)
            bench.mode_ms = {mode: seconds * 1000 for mode, seconds in tuner.seconds_per_token.items()}
        bench.park = _park_cost(guessing, prompts[0])  # after the tuner's figures: it generates once more
    finally:
        plain.close()
        guessing.close()
        toggled.close()
    return bench


def _park_cost(backend: Any, prompt: str, copies: int = 3) -> ParkCost | None:
    """Time parking ``prompt``'s KV state the way a cold request does before it overwrites the cache: copied out
    into new memory, into a spare buffer, and back in (the cache ends as it was); in the backend's own state memory
    (pinned where its layers are on a GPU) and, when that is pinned, in ordinary memory too."""
    from atlas_lsp.model.host_memory import StateMemory

    list(backend.generate(GenerationRequest(prompt, max_tokens=1), CancelToken()))
    states = backend._states
    used = _copy_cost(backend, states, copies)
    if used is None:  # this model's states cannot be parked (or are too large to)
        return None
    size = int(backend._llama_cpp.llama_state_seq_get_size(backend._llm._ctx.ctx, 0))
    return ParkCost(
        tokens=int(backend._llm.n_tokens),
        megabytes=size / 1e6,
        memory="pinned host memory" if states.pinned else "ordinary memory",
        used=used,
        ordinary=_copy_cost(backend, StateMemory(), copies) if states.pinned else None,
    )


def _copy_cost(backend: Any, states: Any, copies: int) -> CopyCost | None:
    """Copies of the cache's state out and back with ``states`` (a `StateMemory`) as the backend's memory; every
    buffer is released again."""
    previous, backend._states = backend._states, states
    fresh: list[float] = []
    spare: list[float] = []
    restore: list[float] = []
    state = None
    try:
        for _ in range(copies):
            if state is not None:
                backend._release(state)
                state = None
            started = time.perf_counter()
            saved = backend._save_sequence(None)
            fresh.append(time.perf_counter() - started)
            if saved is None:
                return None
            state = saved[0]
        for _ in range(copies):
            started = time.perf_counter()
            saved = backend._save_sequence(state)  # handed over: written over (or released)
            spare.append(time.perf_counter() - started)
            state = saved[0] if saved is not None else None
            if state is None:
                return None
            started = time.perf_counter()
            backend._load_sequence(state)
            restore.append(time.perf_counter() - started)
        return CopyCost(median(fresh) * 1000, median(spare) * 1000, median(restore) * 1000)
    finally:
        if state is not None:
            backend._release(state)
        backend._states = previous


def _copies(cost: CopyCost) -> str:
    return f"{cost.fresh_ms:.2f} / {cost.spare_ms:.2f} / {cost.restore_ms:.2f}"


def _logit_spread(backend: Any, prompt: str, tokens: int = 8) -> float:
    """How much llama.cpp's logits for the same positions differ between evaluating ``tokens`` tokens in one step
    and one per step (why guessing can change greedy output where two tokens are nearly tied)."""
    import llama_cpp
    import numpy as np

    llm = backend._llm
    ids = backend._prompt_tokens(prompt, tokens)
    backend._evaluate_prompt(ids[:-tokens], 0)
    start = llm.n_tokens

    def rows(count: int) -> Any:
        return np.array(
            [
                np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm._ctx.ctx, row), shape=(llm.n_vocab(),))
                for row in range(count)
            ]
        )

    backend._decode_step(ids[-tokens:])
    together = rows(tokens)
    backend._keep_cache(start)
    apart = []
    for token in ids[-tokens:]:
        backend._decode_step([token])
        apart.append(rows(1)[0])
    backend._keep_cache(0)
    return float(np.abs(together - np.array(apart)).max())


def _mode_ms(result: DecodeBench, mode: str) -> str:
    ms = result.mode_ms.get(mode)
    return "not timed: generations under 8 tokens" if ms is None else f"{ms:.1f}"


def markdown(result: DecodeBench) -> str:
    plain, guessing = result.plain, result.guessing
    plain_rate = plain.decode_tokens / plain.decode_seconds if plain.decode_seconds else float("nan")
    guess_rate = guessing.decode_tokens / guessing.decode_seconds if guessing.decode_seconds else float("nan")
    ratios = [g / p for g, p in zip(guessing.follow_up, plain.follow_up, strict=True) if p > 0]
    same = sum(a == b for a, b in zip(plain.texts, guessing.texts, strict=True))
    head = header(
        f"Decoding with prompt-lookup guesses (`atlas-lsp bench decode`, {MAX_TOKENS} tokens, greedy)",
        f"{result.model}, {result.device}",
        result.source,
    )
    rows = [
        "| measure | model.draftTokens 0 | model.draftTokens " + str(result.draft_tokens) + " |",
        "|---|---|---|",
        f"| cold request (prompt of ~1,500 tokens), p50 / p95 ms | {summary_ms(plain.cold)} | "
        f"{summary_ms(guessing.cold)} |",
        f"| one-character follow-up (prompt cached), p50 / p95 ms | {summary_ms(plain.follow_up)} | "
        f"{summary_ms(guessing.follow_up)} |",
        f"| follow-up latency, guessing / plain (median of pairs) | | {median(ratios):.2f} |",
        f"| generated tokens per second in the follow-ups | {plain_rate:.1f} | {guess_rate:.1f} |",
        f"| generated tokens per model step | {plain.tokens / max(1, plain.steps):.2f} | "
        f"{guessing.tokens / max(1, guessing.steps):.2f} |",
        f"| … in the follow-ups alone (guesses also come from the cold output): generated tokens per model step | "
        f"{plain.follow_up_tokens / max(1, plain.follow_up_steps):.2f} | "
        f"{guessing.follow_up_tokens / max(1, guessing.follow_up_steps):.2f} |",
        f"| outputs identical to the plain run | | {same}/{len(plain.texts)} |",
        "| cost of a model step by tokens in it (the tuner's moving average), ms | | "
        + ", ".join(f"{size}: {ms:.1f}" for size, ms in result.step_ms.items())
        + " |",
        "| generations by decode mode (the tuner's choice: plain, guess, fixed) and its time per token, ms | | "
        + ", ".join(f"{mode} {runs} ({_mode_ms(result, mode)})" for mode, runs in result.mode_runs.items())
        + " |",
        f"| most a logit changed: 8 tokens evaluated in one step vs one per step | {result.logit_spread:.3f} | |",
    ]
    if result.park is not None:
        park = result.park
        rows.append(
            f"| parking a prompt's KV state ({park.tokens} tokens, {park.megabytes:.1f} MB) in {park.memory} (what "
            f"parking uses here), median ms: copied out to new memory / into a spare / back in | | "
            f"{_copies(park.used)} |"
        )
        if park.ordinary is not None:
            rows.append(f"| … the same in ordinary (pageable) memory | | {_copies(park.ordinary)} |")
    note = (
        "\nOutputs differ where two tokens are nearly tied: llama.cpp's logits for a position change with the number "
        "of tokens evaluated in the same step (last row). Every kept token is the sampler's choice at its position "
        "(tests/unit/test_llama_backend.py re-scores guessed output one token per step).\n"
    )
    return head + "\n" + "\n".join(rows) + "\n" + note + _flash_table(result)


def _rate(run: DecodeRun) -> float:
    return run.decode_tokens / run.decode_seconds if run.decode_seconds else float("nan")


def _flash_table(result: DecodeBench) -> str:
    """Flash attention on vs off, both with guesses, on the same prompts in the same run."""
    on, off = (result.guessing, result.flash_other) if result.flash_default else (result.flash_other, result.guessing)
    ratios = [a / b for a, b in zip(on.follow_up, off.follow_up, strict=True) if b > 0]
    cold_ratios = [a / b for a, b in zip(on.cold, off.cold, strict=True) if b > 0]
    same = sum(a == b for a, b in zip(on.texts, off.texts, strict=True))
    chosen = "on" if result.flash_default else "off"
    rows = [
        f'\nFlash attention (`model.flashAttention`; "auto" chose {chosen} on this device), both with guesses:\n',
        "| measure | on | off |",
        "|---|---|---|",
        f"| cold request, p50 / p95 ms | {summary_ms(on.cold)} | {summary_ms(off.cold)} |",
        f"| one-character follow-up, p50 / p95 ms | {summary_ms(on.follow_up)} | {summary_ms(off.follow_up)} |",
        f"| on / off (median of pairs): cold, follow-up | {median(cold_ratios):.2f}, {median(ratios):.2f} | |",
        f"| generated tokens per second in the follow-ups | {_rate(on):.1f} | {_rate(off):.1f} |",
        f"| outputs identical | {same}/{len(on.texts)} | |",
    ]
    return "\n".join(rows) + "\n"
