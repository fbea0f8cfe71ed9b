"""Speculation: the suggestion that follows a shown one once it is accepted, computed while the model is idle.

The loop's logic with a scripted model on the real inference worker; the end-to-end tests run it with the real
bundled model."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from atlas_lsp.completion.cache import CacheKey, SuggestionCache
from atlas_lsp.completion.service import CompletionService
from atlas_lsp.completion.speculation import AUTO_MAX_STEP_S, auto_speculates, with_inserted
from atlas_lsp.config import Settings
from atlas_lsp.model.backend import CancelToken, GenerationRequest, GenerationStats, GenerationStream, ModelInfo
from atlas_lsp.model.worker import InferenceWorker
from atlas_lsp.prompts.completion import split_at_cursor

INFO = ModelInfo("m", "m.gguf", "llama", 4096, 4096, "cpu", 0, 0.0)


@pytest.mark.parametrize(
    ("text", "line", "character", "inserted", "expected", "end"),
    [
        ("def f():\n    return \n", 1, 11, "1", "def f():\n    return 1\n", (1, 12)),
        ("x = f(\ny = 2", 0, 6, "a, b)", "x = f(a, b)\ny = 2", (0, 11)),
        ("x = f()\n", 0, 6, "a", "x = f(a)\n", (0, 7)),  # text after the cursor stays after it
        ("def f():\n    ", 1, 4, "a = 1\n    return a", "def f():\n    a = 1\n    return a", (2, 12)),
        ("def f():\n", 1, 0, "    pass\n", "def f():\n    pass\n", (2, 0)),  # the empty line after the last ending
        ("a\nb", 5, 0, "c", "a\nbc", (1, 2)),  # past the end: at the end
    ],
)
def test_the_text_once_the_suggestion_is_accepted(
    text: str, line: int, character: int, inserted: str, expected: str, end: tuple[int, int]
) -> None:
    lines, end_line, end_character = with_inserted(text, line, character, inserted)
    assert "".join(lines) == expected and (end_line, end_character) == end
    assert with_inserted(text.splitlines(keepends=True), line, character, inserted) == (lines, end_line, end_character)
    # the cursor split of the lines is the split of the text (what a request after the edit will see)
    assert split_at_cursor(lines, end_line, end_character, 50, 50) == split_at_cursor(
        expected, end_line, end_character, 50, 50
    )


def test_auto_speculates_on_a_gpu_or_where_a_step_is_quick() -> None:
    gpu = replace(INFO, device="gpu", gpu_layers=30)
    assert auto_speculates(gpu, None)
    assert not auto_speculates(INFO, None)  # nothing measured yet
    assert auto_speculates(INFO, AUTO_MAX_STEP_S)
    assert not auto_speculates(INFO, AUTO_MAX_STEP_S * 1.5)
    assert not auto_speculates(replace(gpu, backend="openai"), 0.001)  # a team server's time is shared


def test_a_speculated_entry_counts_one_hit_and_leaves_with_eviction() -> None:
    cache = SuggestionCache(capacity=2)
    first, second, third = (CacheKey(f"b{n}", "a", ()) for n in range(3))
    cache.put(first, "x", speculated=True)
    assert first in cache and cache.speculation_hits == 0
    assert cache.get(first) == "x" and cache.get(first) == "x"
    assert cache.speculation_hits == 1 and cache.hits == 2
    cache.put(second, "y", speculated=True)
    cache.put(third, "z")
    assert second in cache and first not in cache
    cache.put(first, "x")  # back as a plain entry: second is evicted, its mark with it
    assert cache.get(first) == "x" and cache.speculation_hits == 1


class ScriptedBackend:
    """Answers every prompt with the reply its last line asks for, a piece at a time (``step_s`` per piece),
    checking the cancel token after every piece as the real backends do."""

    def __init__(self, replies: dict[str, str], step_s: float = 0.0) -> None:
        self.info = INFO
        self.replies = replies
        self.step_s = step_s
        self.prompts: list[str] = []
        self.started = threading.Event()

    def count_tokens(self, text: str) -> int:
        return len(text) // 4 + 1

    def generate(self, request: GenerationRequest, cancel: CancelToken) -> GenerationStream:
        self.prompts.append(request.prompt)
        last_line = request.prompt.rsplit("\n", 1)[-1]
        reply = self.replies.get(last_line, "")
        stats = GenerationStats(prompt_tokens=self.count_tokens(request.prompt), stop_reason="eos")

        def pieces() -> Iterator[str]:
            self.started.set()
            for piece in reply.split(" "):
                time.sleep(self.step_s)
                stats.generated_tokens += 1
                stats.text += piece + " "
                yield piece + " "
                if cancel.cancelled:
                    stats.stop_reason = "cancelled"
                    return

        return GenerationStream(pieces(), stats)

    def close(self) -> None:
        pass


class WorkerModels:
    """The model service's surface that completions use, on a real inference worker."""

    def __init__(self, backend: ScriptedBackend) -> None:
        self.worker = InferenceWorker()
        self.worker.replace_backend(lambda: backend).result(timeout=5)
        self.info = backend.info
        self.ready = True

    async def run(self, use_model: Any, cancel: CancelToken | None = None) -> Any:
        return await asyncio.wrap_future(self.worker.submit(use_model, cancel))


TEXT = "total = 0\nfor value in values:\n    "
AFTER = "total += value"  # the first suggestion, then what follows it once accepted
NEXT = "\n    count += 1"


def _service(replies: dict[str, str], step_s: float = 0.0) -> tuple[CompletionService, ScriptedBackend, WorkerModels]:
    backend = ScriptedBackend(replies, step_s)
    models = WorkerModels(backend)
    return CompletionService(models), backend, models  # type: ignore[arg-type]


def _settings(**completion: Any) -> Settings:
    settings = Settings()
    return replace(settings, completion=replace(settings.completion, **completion))


async def test_accepting_a_suggestion_is_answered_from_its_speculation() -> None:
    service, backend, models = _service({"    ": AFTER, "    " + AFTER: NEXT})
    settings = _settings()
    try:
        shown = await service.complete(TEXT, 2, 4, settings, CancelToken())
        assert shown is not None and shown.text == AFTER
        assert await service.speculate(TEXT, 2, 4, shown.text, settings, yield_to=models.worker.has_waiting_jobs)
        assert service.counters.speculations == 1 and len(backend.prompts) == 2
        accepted = TEXT + AFTER
        after = await service.complete(accepted, 2, 4 + len(AFTER), settings, CancelToken())
        assert after is not None and after.cached and after.text == NEXT.rstrip()
        assert len(backend.prompts) == 2  # no model call for it
        assert service.counters.speculation_hits == 1 and service.counters.generations == 1
        # the speculation's prompt is the one the request would have sent
        fresh, fresh_backend, fresh_models = _service({"    " + AFTER: NEXT})
        try:
            again = await fresh.complete(accepted, 2, 4 + len(AFTER), settings, CancelToken())
            assert again is not None and again.text == after.text and fresh_backend.prompts == backend.prompts[1:]
        finally:
            fresh_models.worker.stop()
    finally:
        models.worker.stop()


async def _generating(
    service: CompletionService, backend: ScriptedBackend, models: WorkerModels, settings: Settings
) -> asyncio.Future[bool]:
    """A speculation after AFTER was shown, started and returned once the model generates for it."""
    speculation = asyncio.ensure_future(
        service.speculate(TEXT, 2, 4, AFTER, settings, yield_to=models.worker.has_waiting_jobs)
    )
    await asyncio.to_thread(backend.started.wait, 5)
    return speculation


async def test_a_speculation_makes_way_for_a_request_and_caches_nothing() -> None:
    service, backend, models = _service({"    " + AFTER: "a b c d e f g h i j k l m n o p"}, step_s=0.05)
    settings = _settings()
    try:
        speculation = await _generating(service, backend, models, settings)
        started = time.perf_counter()
        request = await models.run(lambda _: time.perf_counter())  # any job that needs the model
        assert await speculation is False
        assert request - started < 0.5  # it waited at most about a step, not the whole speculation (0.8 s)
        assert service.counters.speculations_stopped == 1 and service.counters.speculations == 0
        assert await service.complete(TEXT + AFTER, 2, 4 + len(AFTER), settings, CancelToken()) is not None
        assert service.counters.speculation_hits == 0 and service.counters.generations == 1
    finally:
        models.worker.stop()


async def test_a_request_for_what_is_being_speculated_waits_for_it() -> None:
    """The user accepts before the speculation ends: the request takes its answer instead of stopping it."""
    service, backend, models = _service({"    " + AFTER: "a b c d"}, step_s=0.05)
    settings = _settings()
    try:
        speculation = await _generating(service, backend, models, settings)
        after = await service.complete(TEXT + AFTER, 2, 4 + len(AFTER), settings, CancelToken())
        assert await speculation is True
        assert after is not None and after.cached and after.text == "a b c d"
        assert len(backend.prompts) == 1 and service.counters.generations == 0
        assert service.counters.speculation_hits == 1
    finally:
        models.worker.stop()


async def test_an_empty_speculation_answers_with_nothing_and_no_model_call() -> None:
    service, backend, models = _service({})  # the model has nothing to add after the accepted text
    settings = _settings()
    try:
        assert await service.speculate(TEXT, 2, 4, AFTER, settings)
        assert await service.complete(TEXT + AFTER, 2, 4 + len(AFTER), settings, CancelToken()) is None
        assert len(backend.prompts) == 1 and service.counters.empty == 1 and service.counters.speculation_hits == 1
    finally:
        models.worker.stop()


async def test_no_speculation_where_the_cache_cannot_serve_it() -> None:
    service, backend, models = _service({"    " + AFTER: NEXT})
    try:
        assert not await service.speculate(TEXT, 2, 4, AFTER, _settings(temperature=0.5))  # sampled: never cached
        assert not await service.speculate("x = ab\n", 0, 5, "c", _settings())  # the cursor ends inside a word
        assert await service.speculate(TEXT, 2, 4, AFTER, _settings())
        assert not await service.speculate(TEXT, 2, 4, AFTER, _settings())  # already in the cache
        assert len(backend.prompts) == 1
    finally:
        models.worker.stop()
