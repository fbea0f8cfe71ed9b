"""The real in-process backend on the real bundled model (CPU)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from atlas_lsp.config import ModelSettings
from atlas_lsp.model.backend import CancelToken, GenerationRequest, GenerationStream, ModelError
from atlas_lsp.model.cores import default_threads
from atlas_lsp.model.draft import DecodeMode, DraftTuner, RecentOutputs
from atlas_lsp.model.host_memory import HostMemory, StateMemory
from atlas_lsp.model.llama import (
    FIRST_STEP_TAIL,
    PREFILL_CHUNK_CPU,
    PREFILL_CHUNK_GPU,
    PREFILL_SEAM_TOKENS,
    REQUEST_CHUNK_CPU,
    REQUEST_CHUNK_GPU,
    LlamaCppBackend,
)
from atlas_lsp.model.parked import MIN_PARK_TOKENS
from atlas_lsp.model.service import load_backend

LONG_PROMPT_SCRIPT = """
import json, pathlib
from atlas_lsp.config import ModelSettings
from atlas_lsp.model.backend import CancelToken, GenerationRequest
from atlas_lsp.model.service import load_backend
backend = load_backend(ModelSettings(gpu_layers=0))
source = pathlib.Path("atlas_lsp/config.py").read_text()
stream = backend.generate(GenerationRequest(source, max_tokens=16), CancelToken())
text = "".join(stream)
print(json.dumps({"repacking": backend.weight_repacking, "prompt": stream.stats.prompt_tokens,
                  "generated": stream.stats.generated_tokens, "device": backend.info.device}))
"""


def test_cpu_decode_of_a_long_prompt_does_not_crash() -> None:
    """Regression: llama-cpp-python 0.3.36 segfaults in llama_decode on AVX-512/AMX CPUs when weights are
    repacked into extra buffer types. A crash kills the child process, so it is run in one."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", LONG_PROMPT_SCRIPT], cwd=root, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"child died with {done.returncode}: {done.stderr[-2000:]}"
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["repacking"] is False
    assert report["device"] == "cpu"
    assert report["prompt"] > 1000 and report["generated"] > 0


# scripts/gpu-bench.sh runs the tests that use `backend` on the GPU machine too (tests/unit/conftest.py keeps only
# those there): the model from a file, every layer on the GPU, so fixed-shape steps, flash attention and parked
# prompts are checked on CUDA as well. Unset, as in CI: the bundled model on the CPU.
DEVICE_MODEL = os.environ.get("ATLAS_TEST_MODEL") or None
DEVICE_GPU_LAYERS = int(os.environ.get("ATLAS_TEST_GPU_LAYERS", "0"))


@pytest.fixture(scope="module")
def backend() -> Iterator[LlamaCppBackend]:
    loaded = load_backend(ModelSettings(path=DEVICE_MODEL, gpu_layers=DEVICE_GPU_LAYERS))
    assert isinstance(loaded, LlamaCppBackend)
    if DEVICE_GPU_LAYERS:
        assert loaded.info.gpu_layers > 0, f"asked for the GPU, got {loaded.info.device}"
    yield loaded
    loaded.close()


def test_model_info(backend: LlamaCppBackend) -> None:
    info = backend.info
    assert info.architecture == "llama"
    assert info.context_size == 4096 and info.trained_context_size == 8192
    assert info.fim is None  # SmolLM2 declares no FIM tokens
    assert info.chat_template and "<|im_start|>" in info.chat_template
    assert not backend.weight_repacking
    assert info.threads == default_threads()  # one per physical core, within the CPU quota (2 here)


def test_generation_streams_and_reports_reuse(backend: LlamaCppBackend) -> None:
    prompt = "def reverse(s):\n    return "
    first = backend.generate(GenerationRequest(prompt, max_tokens=8), CancelToken())
    pieces = list(first)
    assert "".join(pieces) == first.stats.text and first.stats.generated_tokens > 0
    second = backend.generate(GenerationRequest(prompt + "s", max_tokens=4), CancelToken())
    list(second)
    assert second.stats.reused_tokens >= first.stats.prompt_tokens - 1
    assert second.stats.evaluated_tokens <= 2
    for stats in (first.stats, second.stats):  # where the model time went, for the benchmark
        assert list(stats.phases) == ["tokenize", "arrange", "first token", "decode"]
        assert all(seconds >= 0 for seconds in stats.phases.values())
        assert sum(stats.phases.values()) == pytest.approx(stats.seconds, abs=0.002)


@pytest.mark.parametrize("mode", ["guess", "fixed"])
def test_a_model_step_is_measured_as_generations_run(
    backend: LlamaCppBackend, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """What `completion.speculate: auto` decides by, and what a request waits for a running speculation: a one-token
    step. A GPU's first generations run in fixed-shape steps only; then the smallest step measured stands for it."""
    tuner = DraftTuner(max_tokens=8, fixed_step=4 if mode == "fixed" else 0)
    monkeypatch.setattr(tuner, "plan_generation", lambda low_priority=False: mode)
    monkeypatch.setattr(backend, "_tuner", tuner)
    assert backend.step_seconds is None
    list(backend.generate(GenerationRequest("# count: 1 2 3 4 5", max_tokens=16), CancelToken()))
    step = backend.step_seconds
    assert step is not None and 0 < step < 5
    assert step == tuner.step_seconds[1 if mode == "guess" else 4]


def test_work_that_makes_way_stops_between_chunks_of_its_prompt(
    backend: LlamaCppBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A speculation whose prompt is mostly new evaluates it a chunk at a time: a request that comes meanwhile waits
    for one chunk, not the whole prompt (on a GPU, whose steps are not stopped part-way; here made so). What it
    evaluated stays in the cache, and the next request reuses it."""
    monkeypatch.setattr(backend, "_abortable", lambda check: contextlib.nullcontext())
    checks: list[bool] = []

    def other_work_waits() -> bool:  # after the first chunk
        checks.append(len(checks) >= 1)
        return checks[-1]

    text = "".join(f"value_{number} = {number * 7} + offset\n" for number in range(80))
    tokens = backend._prompt_tokens(text, 8)
    chunk = PREFILL_CHUNK_GPU if backend.info.gpu_layers > 0 else PREFILL_CHUNK_CPU
    assert len(tokens) > 2 * chunk
    stream = backend.generate(GenerationRequest(text, max_tokens=8), CancelToken(yield_to=other_work_waits))
    assert list(stream) == [] and stream.stats.stop_reason == "cancelled"
    llm = backend._llm
    kept = llm.n_tokens
    assert stream.stats.reused_tokens < kept == stream.stats.reused_tokens + chunk < len(tokens)
    assert list(llm.input_ids[:kept]) == tokens[:kept]
    again = backend.generate(GenerationRequest(text, max_tokens=8), CancelToken())
    list(again)
    assert again.stats.reused_tokens >= kept and again.stats.stop_reason in ("length", "eos")
    # a request's own prompt is not stopped when other work waits: its token does not make way
    assert not CancelToken().yields and CancelToken(parent=CancelToken(yield_to=lambda: False)).yields


def test_a_cancelled_request_stops_between_steps_of_its_prompt(
    backend: LlamaCppBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request whose user typed on (a newer request cancels it) stops evaluating a cold prompt at the next step,
    instead of evaluating all of it (seconds on a CPU) while the newer request waits; what it evaluated stays, and
    the newer request, whose prompt starts the same, reuses it."""
    text = "".join(f"total_{number} = {number * 3} + base\n" for number in range(90))
    tokens = backend._prompt_tokens(text, 8)
    step = REQUEST_CHUNK_GPU if backend.info.gpu_layers > 0 else REQUEST_CHUNK_CPU
    assert len(tokens) > 2 * step
    backend._drop_after(0)
    token = CancelToken()
    llm = backend._llm
    evaluate = llm.eval
    sizes: list[int] = []

    def evaluate_then_cancel(batch: list[int]) -> None:  # (the user types on while the first step runs)
        sizes.append(len(batch))
        evaluate(batch)
        token.cancel()

    monkeypatch.setattr(llm, "eval", evaluate_then_cancel)
    stream = backend.generate(GenerationRequest(text, max_tokens=8), token)
    assert list(stream) == [] and stream.stats.stop_reason == "cancelled"
    assert sizes == [step] and llm.n_tokens == step
    monkeypatch.setattr(llm, "eval", evaluate)
    newer = backend.generate(GenerationRequest(text + "total_90 =", max_tokens=8), CancelToken())
    list(newer)
    assert newer.stats.reused_tokens >= step - 1 and newer.stats.stop_reason in ("length", "eos")


def test_a_speculation_plans_its_decoding_as_low_priority_work(
    backend: LlamaCppBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Low-priority work (a speculation: its cancel token yields to other work) tells the tuner so: it may check a
    slow decode mode that a request would wait for (`DraftTuner.plan_generation`)."""
    planned: list[bool] = []
    plan = backend._tuner.plan_generation

    def recorded(low_priority: bool = False) -> DecodeMode:
        planned.append(low_priority)
        return plan(low_priority)

    monkeypatch.setattr(backend._tuner, "plan_generation", recorded)
    list(backend.generate(GenerationRequest("x = ", max_tokens=2), CancelToken()))
    list(backend.generate(GenerationRequest("y = ", max_tokens=2), CancelToken(yield_to=lambda: False)))
    assert planned == [False, True]


def test_work_that_makes_way_stops_part_way_through_a_model_step(
    backend: LlamaCppBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """On a CPU a speculation's model step stops part-way when a request waits (llama.cpp's abort callback, asked
    between the step's operations): the request waits for a part of a step, not the rest of it. The cache keeps the
    tokens before that step, and the next generation there writes what it would have written on a fresh cache."""
    caplog.set_level(logging.DEBUG, logger="atlas_lsp.llama_cpp")
    prompt = "def fibonacci(n):\n    "
    calls: list[int] = []
    waits_after = [1 << 30]  # other work arrives once the check has been asked this many times

    def other_work_waits() -> bool:
        calls.append(1)
        return len(calls) > waits_after[0]

    backend._drop_after(0)
    whole = backend.generate(GenerationRequest(prompt, max_tokens=16), CancelToken())
    assert "".join(whole) and whole.stats.generated_tokens == 16
    backend._drop_after(0)
    aborted_before = backend.steps_aborted
    compared_before = dict(backend._tuner.seconds_per_token)
    stopped = backend.generate(GenerationRequest(prompt, max_tokens=16), CancelToken(yield_to=other_work_waits))
    for count, _ in enumerate(stopped, start=1):
        if count == 10:  # after the 10th piece: a token-boundary check, then the next step's operations ask it
            # (a GPU's steps do not ask it: there the next check, between tokens, is told to stop)
            waits_after[0] = len(calls) + (20 if backend.info.gpu_layers == 0 else 0)
    assert stopped.stats.stop_reason == "cancelled" and 10 <= stopped.stats.generated_tokens < 16
    if backend.info.gpu_layers == 0:  # (a GPU's steps are not asked: there it stops between tokens)
        assert backend.steps_aborted == aborted_before + 1
        # the stopped step's time bought no token: the generation (long enough to count) does not go into the
        # decode modes' comparison
        assert backend._tuner.seconds_per_token == compared_before
        # llama.cpp reports the stop as a failed decode: expected here, so not an error in the user's log
        assert any("failed to decode" in record.getMessage() for record in caplog.records)
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
    llm = backend._llm
    tokens = backend._prompt_tokens(prompt, 16)
    assert llm.n_tokens >= len(tokens) and list(llm.input_ids[: len(tokens)]) == tokens
    after = backend.generate(GenerationRequest(prompt, max_tokens=16), CancelToken())
    assert "".join(after) == whole.stats.text and after.stats.reused_tokens >= len(tokens) - 1


def test_cancel_stops_within_one_token(backend: LlamaCppBackend) -> None:
    token = CancelToken()
    stream = backend.generate(GenerationRequest("Once upon a time", max_tokens=200, temperature=0.8), token)
    for _ in stream:
        token.cancel()
    assert stream.stats.stop_reason == "cancelled"
    assert stream.stats.generated_tokens <= 2


def test_deadline_returns_what_is_ready(backend: LlamaCppBackend) -> None:
    token = CancelToken(deadline=time.monotonic() + 0.05)
    stream = backend.generate(GenerationRequest("Once upon a time", max_tokens=500, temperature=0.8), token)
    list(stream)
    assert stream.stats.stop_reason in ("time_limit", "eos")
    assert stream.stats.generated_tokens < 500


def test_stop_strings_cut_the_text(backend: LlamaCppBackend) -> None:
    stream = backend.generate(GenerationRequest("1, 2, 3, 4,", max_tokens=30, stop=(",",)), CancelToken())
    text = "".join(stream)
    assert "," not in text and stream.stats.stop_reason in ("stop", "eos", "length")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "not found"),
        (b"hello, not a model", "not a GGUF"),
        (b"GGUF\x03\x00\x00\x00" + b"\x00" * 32, "could not load"),
    ],
)
def test_bad_model_files_raise_clear_errors(tmp_path: Path, content: bytes | None, expected: str) -> None:
    path = tmp_path / "model.gguf"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelError, match=expected):
        load_backend(ModelSettings(path=str(path)))


def test_truncated_model_is_refused(tmp_path: Path) -> None:
    from atlas_lsp.model.locate import bundled_model

    whole = Path(bundled_model().path).read_bytes()
    path = tmp_path / "truncated.gguf"
    path.write_bytes(whole[: len(whole) // 3])
    with pytest.raises(ModelError, match=r"not within the file bounds|truncated"):
        load_backend(ModelSettings(path=str(path)))


def test_prompts_are_tokenized_in_cached_pieces_with_the_whole_texts_tokens(backend: LlamaCppBackend) -> None:
    """The bundled vocabulary passes the load-time check, so prompts are tokenized line by line from a cache;
    on real code (this package's sources, every module) the pieces give exactly the whole text's tokens."""
    root = Path(__file__).resolve().parents[2] / "atlas_lsp"
    assert backend._pieces.rule == "before-newline"
    for path in sorted(root.rglob("*.py")):
        text = path.read_text()
        assert backend.tokenize(text) == backend._tokenize_whole(text), path
    before = backend._pieces.pieces_reused
    text = (root / "config.py").read_text()
    assert backend.tokenize(text + "\n# one more line") == backend._tokenize_whole(text + "\n# one more line")
    assert backend._pieces.pieces_reused - before > 100  # the file's lines came from the cache
    fitting = text[: text.index("\n", len(text) // 3) + 1]  # (within the context: the whole file has outgrown it)
    whole = list(backend._llm.tokenize(fitting.encode(), add_bos=True, special=True))
    assert len(whole) < backend.info.context_size // 2
    assert backend._prompt_tokens(fitting, 16) == whole


def test_an_empty_prompt_generates_from_the_beginning_of_text(backend: LlamaCppBackend) -> None:
    """The top of an empty file gives an empty prompt; SmolLM2 adds no BOS, so it was zero tokens and llama.cpp's
    sampler asserted. It now starts from the vocabulary's beginning-of-text token."""
    stream = backend.generate(GenerationRequest("", max_tokens=4), CancelToken())
    text = "".join(stream)
    assert stream.stats.prompt_tokens == 1
    assert stream.stats.generated_tokens > 0 or stream.stats.stop_reason == "eos"
    assert isinstance(text, str)


def test_preparing_a_document_fills_the_piece_cache_and_skips_huge_ones(backend: LlamaCppBackend) -> None:
    from atlas_lsp.model.llama import PREPARE_MAX_CHARS

    text = "".join(f"value_{n} = compute({n})  # prepared\n" for n in range(300))
    before = backend._pieces.pieces_tokenized
    backend.prepare(text)
    assert backend._pieces.pieces_tokenized - before >= 300
    reused = backend._pieces.pieces_reused
    backend.count_tokens(text)
    assert backend._pieces.pieces_reused - reused >= 300  # a prompt holding those lines tokenizes nothing new
    tokenized = backend._pieces.pieces_tokenized
    # a prompt that starts at one of its lines (a budget's trial) is counted from the cache too, within a token
    for first in (10, 101, 250):
        trial = text.split("\n", first)[first]
        assert abs(backend.count_tokens(trial) - len(backend._tokenize_whole(trial))) <= 1
    assert backend._pieces.pieces_tokenized == tokenized  # (`_tokenize_whole` bypasses the cache)
    backend.prepare("x = 1  # huge\n" * (PREPARE_MAX_CHARS // 10))
    assert backend._pieces.pieces_tokenized == tokenized


CLOSE_WHILE_PREPARING_SCRIPT = """
import threading
from atlas_lsp.config import ModelSettings
from atlas_lsp.model.service import load_backend
backend = load_backend(ModelSettings(gpu_layers=0))
text = "".join(f"line_{n} = {n} * {n}  # being prepared\\n" for n in range(20000))
worker = threading.Thread(target=backend.prepare, args=(text,))
worker.start()
backend.close()  # the model is freed while its vocabulary is in use on the other thread
worker.join(timeout=60)
print("alive" if worker.is_alive() else "done")
"""


def test_closing_the_model_while_a_document_is_prepared_does_not_crash() -> None:
    """Preparing runs on its own thread; freeing the model under it would crash the process (so: a child)."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", CLOSE_WHILE_PREPARING_SCRIPT], cwd=root, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"child died with {done.returncode}: {done.stderr[-2000:]}"
    assert done.stdout.strip().splitlines()[-1] == "done"


REPETITIVE_PROMPT = (
    "".join(
        f"    settings.{name} = load_setting(raw, '{name}', default=defaults.{name})\n"
        for name in ("timeout", "retries", "context_size", "max_tokens", "temperature", "top_p", "debounce_ms")
    )
    + "    settings.gpu_layers = load_setting("
)


def _margins(backend: LlamaCppBackend, prompt: list[int], generated: list[int]) -> list[float]:
    """How far below the model's top choice each generated token was, re-evaluated one token per step from an
    empty cache (the reference decode, with no guessing)."""
    import llama_cpp
    import numpy as np

    llm = backend._llm
    backend._evaluate_prompt(prompt, 0)
    margins = []
    for index, token in enumerate(generated):
        if index:
            backend._decode_step([generated[index - 1]])
        row = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
        logits = np.ctypeslib.as_array(row, shape=(llm.n_vocab(),))
        margins.append(float(logits.max() - logits[token]))
    backend._keep_cache(0)
    return margins


def _record_step_sizes(backend: LlamaCppBackend, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of tokens in each model step the backend takes, in a list the caller may clear."""
    sizes: list[int] = []
    decode_step = backend._decode_step

    def spy_step(tokens: list[int], logits_from: int = 0) -> None:
        sizes.append(len(tokens))
        decode_step(tokens, logits_from)

    monkeypatch.setattr(backend, "_decode_step", spy_step)
    return sizes


def _record_sampled(backend: LlamaCppBackend, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The tokens each generation samples, in a list the caller clears between generations."""
    sampled: list[int] = []
    sampled_tokens = backend._sampled_tokens

    def spy(*args: object) -> Iterator[tuple[int, int]]:
        for token, row in sampled_tokens(*args):  # type: ignore[arg-type]
            sampled.append(token)
            yield token, row

    monkeypatch.setattr(backend, "_sampled_tokens", spy)
    return sampled


def _generate_all(
    backend: LlamaCppBackend, max_tokens: int, sampled: list[int] | None = None
) -> Callable[[str], GenerationStream]:
    """A function that generates from a text to the end and returns the stream (for its stats); it clears
    ``sampled`` (from `_record_sampled`) first, so that it holds that generation's tokens."""

    def run(text: str) -> GenerationStream:
        if sampled is not None:
            sampled.clear()
        stream = backend.generate(GenerationRequest(text, max_tokens=max_tokens), CancelToken())
        list(stream)
        return stream

    return run


def _free_steps(backend: LlamaCppBackend, monkeypatch: pytest.MonkeyPatch) -> DraftTuner:
    """Make model steps of any size look equally cheap, so the backend checks every guess it finds."""
    tuner = DraftTuner(max_tokens=8)
    for size in range(1, 10):
        for _ in range(2):
            tuner.record_step(size, 0.001)
    monkeypatch.setattr(backend, "_tuner", tuner)
    monkeypatch.setattr(tuner, "record_step", lambda tokens, seconds: None)  # keep the costs equal
    monkeypatch.setattr(tuner, "plan_generation", lambda low_priority=False: "guess")
    return tuner


@pytest.mark.parametrize("mode", ["guess", "fixed"])
def test_guessed_tokens_are_kept_only_where_the_model_agrees(
    backend: LlamaCppBackend, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """Prompt-lookup decoding: a step checks the latest token plus guesses copied from earlier text. Steps are made
    to look free, so it guesses whenever it finds a repeat. Every kept token must still be the model's own greedy
    choice (within llama.cpp's batch-size rounding, ~0.5 logits; a wrong cache gives tokens far from its choice),
    and the cache must hold exactly the prompt and the tokens before the last, also when a generation stops in
    the middle of a checked guess."""
    tuner = _free_steps(backend, monkeypatch)
    step_sizes = _record_step_sizes(backend, monkeypatch)
    if mode == "fixed":  # every step the same size (what a GPU would run): guesses, then the latest token repeated
        tuner.fixed_step = 4
        monkeypatch.setattr(tuner, "plan_generation", lambda low_priority=False: "fixed")
    sampled = _record_sampled(backend, monkeypatch)
    prompt = backend._prompt_tokens(REPETITIVE_PROMPT, 64)
    steps = tokens = 0
    for budget in (40, 13, 6):  # the later ones stop inside a step's guesses
        sampled.clear()
        step_sizes.clear()
        stream = backend.generate(GenerationRequest(REPETITIVE_PROMPT, max_tokens=budget), CancelToken())
        assert "".join(stream) == stream.stats.text
        if mode == "fixed":
            assert step_sizes == [4] * stream.stats.decode_steps, step_sizes
        llm = backend._llm
        assert llm.n_tokens == len(prompt) + len(sampled) - 1
        assert list(llm.input_ids[: llm.n_tokens]) == (prompt + sampled)[:-1]
        steps += stream.stats.decode_steps
        tokens += len(sampled)
        margins = _margins(backend, prompt, sampled)
        assert max(margins) < 1.0, (budget, margins)
    assert steps < tokens - 3  # guesses were right: fewer model steps than tokens (the first comes with the prompt)
    assert any(rate.right > 1.0 for rate in tuner.accuracy.values())


def test_asking_again_at_nearly_the_same_prompt_guesses_from_the_last_output(
    backend: LlamaCppBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a suggestion, the user types at the same place: the new prompt shares all but its tail with the old
    one, and the old output is checked as the guess first. Asked the same prompt again, every guess is right: the
    same text in far fewer model steps. At a different place the old output is not consulted."""
    _free_steps(backend, monkeypatch)
    monkeypatch.setattr(backend, "_recent", RecentOutputs())
    prompt = "Plan for the week:\n1. Monday: visit the museum and write a short report about the"
    run = _generate_all(backend, 32)

    first = run(prompt)
    assert first.stats.generated_tokens >= 20, first.stats.text
    again = run(prompt)
    assert again.stats.text == first.stats.text
    assert again.stats.decode_steps <= first.stats.generated_tokens // 4 < first.stats.decode_steps, (
        again.stats.decode_steps,
        first.stats.decode_steps,
    )
    assert backend._recent.related(backend._prompt_tokens(prompt, 32))
    assert not backend._recent.related(backend._prompt_tokens("import os\n", 32))


@pytest.mark.parametrize("mode", ["guess", "fixed"])
def test_a_cached_prompts_tail_is_evaluated_in_the_first_step(
    backend: LlamaCppBackend, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """A keystroke's request has its prompt cached but for a short tail: the tail is the first model step, not an
    evaluation of its own. With fixed-shape steps (a GPU) that step has the shape of the rest: the tail, then a
    guess and padding, checked like any guess. Guessing mode evaluates the tail alone there (guesses right after a
    typed character cost a CPU more than they saved). Kept tokens are the model's own choice at every position;
    a long tail (a cold request) is evaluated on its own first."""
    tuner = _free_steps(backend, monkeypatch)
    tuner.fixed_step = 8
    monkeypatch.setattr(tuner, "plan_generation", lambda low_priority=False: mode)
    monkeypatch.setattr(backend, "_recent", RecentOutputs())
    sampled = _record_sampled(backend, monkeypatch)
    sizes = _record_step_sizes(backend, monkeypatch)
    evaluated: list[int] = []
    evaluate = backend._llm.eval
    monkeypatch.setattr(backend._llm, "eval", lambda tokens: evaluated.append(len(tokens)) or evaluate(tokens))
    prompt = "Notes.\n" * 30 + "Plan for the week:\n1. Monday: visit the museum and write a short report about the"
    tokens = backend._prompt_tokens(prompt, 32)
    list(backend.generate(GenerationRequest(prompt, max_tokens=32), CancelToken()))
    assert evaluated and evaluated[0] > FIRST_STEP_TAIL  # cold: the prompt on its own
    evaluated.clear(), sizes.clear(), sampled.clear()
    again = backend.generate(GenerationRequest(prompt, max_tokens=32), CancelToken())
    list(again)
    assert evaluated == []  # the tail (the prompt's last token, evaluated again for fresh logits) is in a step
    assert again.stats.reused_tokens == len(tokens) - 1
    assert sizes[0] == (8 if mode == "fixed" else 1), sizes
    if mode == "fixed":
        assert set(sizes) == {8}  # one shape from the first step on (a GPU keeps its captured graph)
    assert again.stats.generated_tokens >= 20 and again.stats.decode_steps == len(sizes) - 1  # the tail's: not counted
    margins = _margins(backend, tokens, list(sampled))
    assert max(margins) < 1.0, margins


def test_a_model_on_a_gpu_also_tries_fixed_shape_steps(backend: LlamaCppBackend) -> None:
    from dataclasses import replace

    on_gpu = LlamaCppBackend(backend._llm, replace(backend.info, gpu_layers=30, device="gpu (30/30 layers)"), 8)
    assert on_gpu._tuner.fixed_step == 8 and on_gpu._tuner.modes() == ["fixed", "guess", "plain"]
    on_cpu = backend.info.gpu_layers == 0
    assert backend._tuner.fixed_step == (0 if on_cpu else 8)
    assert backend._tuner.modes() == (["guess", "plain"] if on_cpu else ["fixed", "guess", "plain"])


def test_a_context_size_that_llama_cpp_rounds_up_still_fits_its_prompts() -> None:
    """llama.cpp rounds a context of 300 up to 512, but llama-cpp-python's token buffers keep 300: a prompt sized
    from the larger number failed to evaluate. The room reported is the smaller one, and a prompt filling it runs."""
    odd = load_backend(ModelSettings(gpu_layers=0, context_size=300))
    assert isinstance(odd, LlamaCppBackend)
    try:
        assert odd.info.context_size == 300
        stream = odd.generate(GenerationRequest(REPETITIVE_PROMPT * 6, max_tokens=8), CancelToken())
        list(stream)
        assert stream.stats.prompt_tokens == 300 - 8 - 1 and stream.stats.stop_reason in ("length", "eos")
    finally:
        odd.close()


def test_max_tokens_over_the_context_keeps_half_for_the_prompt_and_stops_at_its_end() -> None:
    """A generation asked for more tokens than the context holds (solve's 512 with a context of 256): the prompt
    keeps half the context and the generation stops where the context ends (the prompt was cut to a negative
    length, and llama.cpp failed with "NULL pointer access")."""
    small = load_backend(ModelSettings(gpu_layers=0, context_size=256))
    assert isinstance(small, LlamaCppBackend)
    try:
        text = REPETITIVE_PROMPT * 8
        stream = small.generate(GenerationRequest(text, max_tokens=512), CancelToken())
        list(stream)
        stats = stream.stats
        assert stats.prompt_tokens == 256 - 128 - 1
        assert stats.generated_tokens == 256 - stats.prompt_tokens - 1 or stats.stop_reason == "eos"
        assert small._llm.n_tokens <= 256
    finally:
        small.close()


def test_fixed_shape_steps_shrink_where_the_context_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    """A prompt that fills its room (the context less the generation's tokens) is not cut to make space for a
    fixed step's extra positions (a cut start would break the next request's cache prefix): the last steps are
    smaller instead, and the generation runs to its budget without overflowing the context."""
    small = load_backend(ModelSettings(gpu_layers=0, context_size=128))
    assert isinstance(small, LlamaCppBackend)
    try:
        monkeypatch.setattr(small._tuner, "fixed_step", 8)
        monkeypatch.setattr(small._tuner, "plan_generation", lambda low_priority=False: "fixed")
        sizes = _record_step_sizes(small, monkeypatch)
        context = small.info.context_size
        assert context == 128  # llama.cpp rounds the context up to 256, but llama-cpp-python's buffers hold 128
        text = REPETITIVE_PROMPT * (context // 64)
        prompt = small._prompt_tokens(text, 24)
        assert len(prompt) == context - 24 - 1  # the whole room, nothing reserved
        stream = small.generate(GenerationRequest(text, max_tokens=24), CancelToken())
        list(stream)
        assert stream.stats.generated_tokens == 24 or stream.stats.stop_reason == "eos"
        assert sizes and max(sizes) == 8 and sizes[-1] < 8, sizes
        assert small._llm.n_tokens <= context
    finally:
        small.close()


def test_a_prompt_parked_for_another_comes_back_without_evaluating_it(
    backend: LlamaCppBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request for another file replaces the cache's prompt; the old one's KV state is copied out first, and a
    request that goes back to it copies it back and reuses it whole. The restored cells must be the real ones:
    every token generated over them is the model's choice when the prompt is evaluated from scratch."""
    assert backend._parked.enabled
    sampled = _record_sampled(backend, monkeypatch)
    first = REPETITIVE_PROMPT * 2
    second = "".join(f"Chapter {n}: the travellers reached town number {n} and rested there.\n" for n in range(12))
    run = _generate_all(backend, 12, sampled)

    run(first)
    parked_before = backend._parked.parked
    assert run(second).stats.reused_tokens < 8  # nothing in common but the start
    assert backend._parked.parked == parked_before + 1
    again = run(first + "    settings.")
    prompt = backend._prompt_tokens(first + "    settings.", 12)
    assert again.stats.reused_tokens >= backend._prompt_tokens(first, 12).__len__() - 2, again.stats.reused_tokens
    assert backend._parked.restored >= 1
    margins = _margins(backend, prompt, list(sampled))
    assert max(margins) < 1.0, margins
    # and the second file's prompt is parked in its turn
    assert run(second + "Chapter 12:").stats.reused_tokens >= len(backend._prompt_tokens(second, 12)) - 2
    # (the margins above emptied the cache: the first prompt is gone.) The next switch copies the second file's
    # state into the memory of the state restored just before, and it still comes back right
    spares: list[object] = []
    save = backend._parked._save
    monkeypatch.setattr(backend._parked, "_save", lambda spare: spares.append(spare) or save(spare))
    run(first + "    settings.x")
    assert len(spares) == 1 and spares[0] is not None
    text = second + "Chapter 12: the"
    prompt = backend._prompt_tokens(text, 12)
    assert run(text).stats.reused_tokens >= len(prompt) - 4
    margins = _margins(backend, prompt, list(sampled))
    assert max(margins) < 1.0, margins


def test_a_prompt_whose_speculation_made_way_is_parked_when_another_file_overwrites_it(
    backend: LlamaCppBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A suggestion shown, its speculation (the prompt plus the suggestion, a chunk at a time) stopped part-way by a
    request in another file: the file's prompt is still in the cache, so that request parks it, and going back
    evaluates only what changed. (Under load the e2e test of this flow failed: the stopped speculation had marked
    nothing in the cache as a prompt, so nothing was parked and 609 of 609 tokens were evaluated again.)"""
    monkeypatch.setattr(backend, "_abortable", lambda check: contextlib.nullcontext())  # (stops between chunks)
    first = REPETITIVE_PROMPT * 2
    second = "".join(f"Chapter {n}: the travellers reached town number {n} and rested there.\n" for n in range(12))
    list(backend.generate(GenerationRequest(first, max_tokens=4), CancelToken()))
    checks: list[bool] = []

    def request_waits() -> bool:  # after the speculation's first chunk
        checks.append(len(checks) >= 1)
        return checks[-1]

    suggestion = "".join(f"    option_{n} = settings.get('option_{n}', defaults[{n}])\n" for n in range(40))
    speculation = backend.generate(
        GenerationRequest(first + suggestion, max_tokens=4), CancelToken(yield_to=request_waits)
    )
    assert list(speculation) == [] and speculation.stats.stop_reason == "cancelled"
    parked_before = backend._parked.parked
    other = backend.generate(GenerationRequest(second, max_tokens=4), CancelToken())
    list(other)
    assert other.stats.reused_tokens < 8 and backend._parked.parked == parked_before + 1
    back = backend.generate(GenerationRequest(first + "    z", max_tokens=4), CancelToken())
    list(back)
    assert back.stats.reused_tokens >= len(backend._prompt_tokens(first, 4)) - 4, back.stats.reused_tokens


def test_a_prompt_set_aside_in_idle_time_is_left_without_a_copy_and_comes_back(
    backend: LlamaCppBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker calls `idle()` when no request waits: the cache's prompt is copied out then, so the request for
    another file copies nothing on its way, and going back restores the real cells."""
    sampled = _record_sampled(backend, monkeypatch)
    first = REPETITIVE_PROMPT * 2 + "# set aside\n"
    second = "".join(f"Chapter {n}: a caravan reached oasis number {n} and stayed the night.\n" for n in range(12))
    list(backend.generate(GenerationRequest(first, max_tokens=8), CancelToken()))
    ahead = backend._parked.set_aside_ahead
    backend.idle()
    assert backend._parked.set_aside_ahead == ahead + 1
    backend.idle()  # covered already: no second copy
    assert backend._parked.set_aside_ahead == ahead + 1
    saves: list[object] = []
    save = backend._parked._save
    monkeypatch.setattr(backend._parked, "_save", lambda spare: saves.append(spare) or save(spare))
    other = backend.generate(GenerationRequest(second, max_tokens=8), CancelToken())
    list(other)
    assert saves == [] and other.stats.reused_tokens < 8  # the first prompt left behind, nothing copied now
    sampled.clear()
    text = first + "    settings."
    again = backend.generate(GenerationRequest(text, max_tokens=12), CancelToken())
    list(again)
    prompt = backend._prompt_tokens(text, 12)
    assert again.stats.reused_tokens >= len(backend._prompt_tokens(first, 12)) - 2
    margins = _margins(backend, prompt, list(sampled))
    assert max(margins) < 1.0, margins


def test_a_cache_state_over_the_memory_cap_is_not_copied_out(
    backend: LlamaCppBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A state larger than `parked.max_bytes` is never allocated (a long context on a large model): the prompt is
    not parked, and the request that replaces it runs as before."""
    list(backend.generate(GenerationRequest(REPETITIVE_PROMPT * 2, max_tokens=2), CancelToken()))
    assert backend._save_sequence() is not None
    monkeypatch.setattr(backend._parked, "max_bytes", 1000)
    assert backend._save_sequence() is None
    parked = backend._parked.parked
    other = backend.generate(GenerationRequest("Once upon a time " * 20, max_tokens=2), CancelToken())
    list(other)
    assert backend._parked.parked == parked and other.stats.generated_tokens > 0


def test_completing_after_solve_candidates_reuses_the_completion_prompt(backend: LlamaCppBackend) -> None:
    """A solve job samples several candidates from its own chat prompt between two completions in a file: the
    completion's prompt is set aside once and comes back for the next keystroke."""
    completion = REPETITIVE_PROMPT * 2
    chat = "<|im_start|>user\nWrite a Python function add(a, b) that returns a + b.<|im_end|>\n<|im_start|>assistant\n"
    list(backend.generate(GenerationRequest(completion, max_tokens=4), CancelToken()))
    for seed in range(3):
        list(backend.generate(GenerationRequest(chat, max_tokens=16, temperature=0.8, seed=seed), CancelToken()))
    again = backend.generate(GenerationRequest(completion + "    settings.", max_tokens=4), CancelToken())
    list(again)
    assert again.stats.reused_tokens >= len(backend._prompt_tokens(completion, 4)) - 2, again.stats.reused_tokens


def test_only_a_lost_prompt_is_parked_never_a_lost_output(backend: LlamaCppBackend) -> None:
    """The cache holds the latest prompt and the output generated after it. A request that keeps the prompt and
    overwrites only that output (the next keystroke, the next candidate for the same prompt) copies nothing out:
    copying a state costs milliseconds, and each copy would push an older parked prompt out."""
    story = "".join(f"Chapter {n}: the travellers reached town number {n} and rested there.\n" for n in range(12))
    list(backend.generate(GenerationRequest(REPETITIVE_PROMPT * 2, max_tokens=4), CancelToken()))
    parked = backend._parked.parked
    longest = 0
    for seed in range(5):  # candidates sampled from one prompt, each overwriting the last one's output
        stream = backend.generate(GenerationRequest(story, max_tokens=80, temperature=0.8, seed=seed), CancelToken())
        list(stream)
        longest = max(longest, stream.stats.generated_tokens)
    assert longest >= MIN_PARK_TOKENS + 8  # outputs long enough that losing one would have looked worth parking
    follow_up = backend.generate(GenerationRequest(story + "C", max_tokens=4), CancelToken())
    list(follow_up)  # a keystroke after a long output
    assert backend._parked.parked == parked + 1  # the completion's prompt, once
    again = backend.generate(GenerationRequest(REPETITIVE_PROMPT * 2 + "    settings.", max_tokens=4), CancelToken())
    list(again)
    assert again.stats.reused_tokens >= len(backend._prompt_tokens(REPETITIVE_PROMPT * 2, 4)) - 2


def test_guessing_can_be_turned_off(backend: LlamaCppBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend, "_tuner", DraftTuner(max_tokens=0))
    stream = backend.generate(GenerationRequest(REPETITIVE_PROMPT, max_tokens=20), CancelToken())
    list(stream)
    assert stream.stats.decode_steps == stream.stats.generated_tokens - 1 or stream.stats.stop_reason == "eos"
    assert backend._tuner.steps_seen.keys() <= {1}


def test_the_draft_tokens_and_parked_prompts_settings_reach_the_backend() -> None:
    from atlas_lsp.config import Settings, merge_settings

    assert ModelSettings().draft_tokens == 8 and ModelSettings().parked_prompts == 3
    settings, problems = merge_settings(Settings(), {"model": {"draftTokens": 3, "parkedPrompts": 0}})
    assert not problems and settings.model.draft_tokens == 3 and settings.model.parked_prompts == 0
    loaded = load_backend(settings.model)
    try:
        assert isinstance(loaded, LlamaCppBackend) and loaded._tuner.max_tokens == 3
        assert not loaded._parked.enabled and loaded.parked_prompts == 0
    finally:
        loaded.close()


def test_flash_attention_is_off_on_a_cpu_unless_asked_for(backend: LlamaCppBackend) -> None:
    """auto: llama.cpp's flash attention only where the layers are on a GPU (on this CPU it decoded slower); on:
    asked for, it is on, and the model still completes the way it does without it."""
    from atlas_lsp.config import Settings, merge_settings

    on_gpu = backend.info.gpu_layers > 0
    assert backend.info.flash_attention == on_gpu  # the fixture: auto (on the CPU in CI)
    assert backend._llm.context_params.flash_attn_type == int(on_gpu)
    settings, problems = merge_settings(
        Settings(), {"model": {"flashAttention": "on", "gpuLayers": 0, "path": DEVICE_MODEL}}
    )
    assert not problems and settings.model.flash_attention == "on"
    _, problems = merge_settings(Settings(), {"model": {"flashAttention": "fast"}})
    assert problems  # not one of auto, on, off
    loaded = load_backend(settings.model)
    try:
        assert isinstance(loaded, LlamaCppBackend) and loaded.info.flash_attention
        assert loaded._llm.context_params.flash_attn_type == 1
        request = GenerationRequest(REPETITIVE_PROMPT * 2, max_tokens=12)
        with_it = "".join(loaded.generate(request, CancelToken()))
        without = "".join(backend.generate(request, CancelToken()))
        assert with_it.split("\n")[0] == without.split("\n")[0]
    finally:
        loaded.close()


def test_greedy_picks_what_llama_cpps_greedy_sampler_picks(backend: LlamaCppBackend) -> None:
    llm = backend._llm
    sampler = llm._init_sampler(temp=0.0, repeat_penalty=1.0)
    try:
        for prompt in ("def add(a, b):\n    return", "Once upon a time", "import os\nimport sys\n\n", "x"):
            backend._evaluate_prompt(backend._prompt_tokens(prompt, 8), 0)
            assert backend._greedy(-1) == sampler.sample(llm._ctx, -1)
    finally:
        sampler.close()
        backend._keep_cache(0)


def test_parked_states_live_in_memory_that_ggml_allocates_and_are_freed(
    backend: LlamaCppBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A GPU model parks into the GPU backend's pinned host memory (here, on a CPU build, ggml's CPU buffer type
    stands in for it): two files swapped back and forth come back exact, the spare's pinned buffer is written over
    rather than allocated again, and every buffer is freed when the parked prompts go."""
    memory = HostMemory.of_llama_cpp(backend._llama_cpp)
    assert memory is not None
    pinned = memory.gpu_host_buffer_type()
    if DEVICE_GPU_LAYERS:
        assert pinned is not None and backend._states.pinned  # the model on the GPU parks into pinned memory
    else:
        assert not backend._states.pinned  # on a CPU: ordinary memory
    backend._parked.clear()  # the states held so far go back to the memory that allocated them
    states = StateMemory(memory, pinned or memory.cpu_buffer_type())
    monkeypatch.setattr(backend, "_states", states)
    backend._keep_cache(0)
    sampled = _record_sampled(backend, monkeypatch)
    first = REPETITIVE_PROMPT * 2 + "# pinned\n"
    second = "".join(f"Chapter {n}: a ferry crossed to island number {n} and waited.\n" for n in range(12))
    run = _generate_all(backend, 8, sampled)

    try:
        run(first)
        run(second)  # the first prompt parked: one buffer of ggml's memory
        assert states.pinned_buffers == 1 and states.pinned_bytes > 1_000_000
        for text in (first + "x", second + "y", first + "xz"):  # each switch parks into the state just restored
            prompt = backend._prompt_tokens(text, 8)
            assert run(text).stats.reused_tokens >= len(prompt) - 4
            margins = _margins(backend, prompt, list(sampled))
            assert max(margins) < 1.0, margins
            run(text)  # (the margins emptied the cache: this request evaluates the prompt again)
        assert states.pinned_buffers == 2  # one parked, one spare: never more than two allocated
    finally:
        backend._parked.clear()
        backend._keep_cache(0)
    assert states.pinned_buffers == 0 and states.pinned_bytes == 0
    # a buffer goes back to the memory that allocated it, once (the GPU run of this test once released the
    # backend's own pinned states through this test's memory: its count went below zero)
    buffer, other = states.allocate(4096), StateMemory(memory, memory.cpu_buffer_type())
    assert buffer is not None and buffer.owner is states
    other.release(buffer)
    assert (states.pinned_buffers, other.pinned_buffers) == (1, 0)
    buffer.release()
    buffer.release()
    assert states.pinned_buffers == 0 and buffer.allocation is not None and buffer.allocation.handle == 0
    assert memory.allocate(memory.cpu_buffer_type(), 1 << 60) is None  # too much: refused, no crash
    capped = StateMemory(memory, memory.cpu_buffer_type(), max_pinned=1000).allocate(2000)
    assert capped is not None and capped.allocation is None and len(capped) == 2000  # over the cap: ordinary memory


PREFILL_TEXT = "".join(f"def scale_{n}(values):\n    return [v * {n} for v in values]\n\n" for n in range(12))


def test_a_prefilled_prompt_start_is_reused_by_the_request_that_follows(
    backend: LlamaCppBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The warm-up evaluates a prompt's start ahead of its request: the request then evaluates only its tail, and
    what it generates over the prefilled cells is what the model chooses from a prompt evaluated from scratch."""
    sampled = _record_sampled(backend, monkeypatch)
    run = _generate_all(backend, 8, sampled)
    run("import os\n")  # something else in the cache
    done = backend.prefill(PREFILL_TEXT, 8, lambda: False)
    whole = len(backend._prompt_tokens(PREFILL_TEXT, 8)) - len(backend._special[1] if backend._special else [])
    start = whole - PREFILL_SEAM_TOKENS  # the seam's tokens are left to the request
    assert done.prompt_tokens == start and done.evaluated_tokens >= start - 4 and not done.stopped
    request = run(PREFILL_TEXT + "def scale_12(values):\n    return ")
    assert request.stats.reused_tokens >= start, (request.stats.reused_tokens, start)
    assert request.stats.evaluated_tokens <= 16
    prompt = backend._prompt_tokens(PREFILL_TEXT + "def scale_12(values):\n    return ", 8)
    margins = _margins(backend, prompt, list(sampled))
    assert max(margins) < 1.0, margins


def test_a_prefill_stops_between_chunks_and_keeps_what_it_evaluated(
    backend: LlamaCppBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between chunks, as on a GPU, whose steps are not stopped part-way (here made so: see the next test)."""
    monkeypatch.setattr(backend, "_abortable", lambda check: contextlib.nullcontext())
    run = _generate_all(backend, 4)
    run("import os\n")
    checks: list[int] = []

    def stop_after_one_chunk() -> bool:
        checks.append(1)
        return len(checks) > 1

    text = PREFILL_TEXT * 4  # about 1,000 tokens: more than one chunk on either device
    chunk = PREFILL_CHUNK_GPU if backend.info.gpu_layers > 0 else PREFILL_CHUNK_CPU
    done = backend.prefill(text, 8, stop_after_one_chunk)
    assert done.stopped and done.evaluated_tokens == chunk and len(checks) == 2
    request = run(text)
    assert request.stats.reused_tokens >= done.reused_tokens + chunk


def test_a_prefill_stops_part_way_through_a_chunk_and_keeps_its_whole_steps(backend: LlamaCppBackend) -> None:
    """On a CPU a warm-up's chunk stops part-way when a request waits (llama.cpp's abort callback); the tokens of
    the chunks before it stay, and the request after it reuses them."""
    run = _generate_all(backend, 4)
    run("import os\n")
    calls: list[int] = []

    def waits_during_the_second_chunk() -> bool:
        calls.append(1)
        return len(calls) > chunk_calls + chunk_calls // 2

    text = "# a warm-up stopped part-way\n" + PREFILL_TEXT * 4  # (a start no earlier test's prompt has)
    chunk = PREFILL_CHUNK_GPU if backend.info.gpu_layers > 0 else PREFILL_CHUNK_CPU
    chunk_calls = 1 << 30
    whole = backend.prefill(text, 8, waits_during_the_second_chunk)  # never stops: how often a chunk asks
    chunks = -(-whole.evaluated_tokens // chunk)
    chunk_calls = len(calls) // chunks  # (each chunk: once before it, and its steps' operations)
    run("import os\n")
    calls.clear()
    aborted_before = backend.steps_aborted
    done = backend.prefill(text, 8, waits_during_the_second_chunk)
    assert done.stopped
    if backend.info.gpu_layers == 0:  # (a GPU's steps are not asked: there it stops between chunks)
        assert backend.steps_aborted == aborted_before + 1 and done.evaluated_tokens == chunk
    request = run(text)
    assert request.stats.reused_tokens >= done.reused_tokens + done.evaluated_tokens


def test_prefilling_what_the_cache_holds_evaluates_nothing_and_keeps_the_rest(backend: LlamaCppBackend) -> None:
    """A warm-up at the place of the last request: its start is cached, and so is the request's tail and output,
    which the next keystroke's request reuses (the warm-up must not drop them)."""
    run = _generate_all(backend, 4)
    text = PREFILL_TEXT + "def scale_12(values):\n    return "
    run(text)
    done = backend.prefill(PREFILL_TEXT, 8, lambda: False)
    assert done.evaluated_tokens == 0
    again = run(text + "[")
    assert again.stats.evaluated_tokens <= 2


def test_warm_ups_elsewhere_leave_a_requests_parked_prompt_in_place(backend: LlamaCppBackend) -> None:
    """Warm-ups at places the user only looked at park nothing of their own: the prompt of the file the user
    typed in stays parked however many places they looked at, and going back to it reuses it whole."""
    assert backend._parked.enabled
    run = _generate_all(backend, 4)
    typed_in = REPETITIVE_PROMPT * 2
    run(typed_in)
    for place in range(backend._parked.slots + 2):
        looked_at = "".join(
            f"# place {place}, note {n}: the value of item {n * place} is kept here\n" for n in range(12)
        )
        assert backend.prefill(looked_at, 8, lambda: False).evaluated_tokens > 0
        backend.idle()  # what the worker runs between jobs (it copies the cache's prompt out ahead)
    again = run(typed_in + "    settings.")
    assert again.stats.reused_tokens >= len(backend._prompt_tokens(typed_in, 4)) - 2, again.stats.reused_tokens
