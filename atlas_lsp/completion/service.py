"""The completion pipeline: document text at a cursor -> a cleaned suggestion from the warm model."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

from atlas_lsp.completion.postprocess import clean_completion
from atlas_lsp.config import Settings
from atlas_lsp.context.service import AssembledContext, ContextService
from atlas_lsp.model.backend import CancelToken, GenerationRequest, GenerationStats, ModelBackend
from atlas_lsp.model.service import ModelService
from atlas_lsp.prompts.completion import CompletionPrompt, CursorText, build_completion_prompt, split_at_cursor

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Suggestion:
    """Text to insert at the cursor, with how it was made."""

    text: str
    prompt_kind: str
    prompt_tokens: int
    reused_tokens: int
    generated_tokens: int
    stop_reason: str
    model_seconds: float
    total_seconds: float


@dataclass
class CompletionCounters:
    requests: int = 0
    shown: int = 0
    accepted: int = 0
    empty: int = 0
    cancelled: int = 0


class CompletionService:
    """Builds prompts and asks the model; knows nothing about LSP."""

    def __init__(self, models: ModelService, context: ContextService | None = None) -> None:
        self._models = models
        self._context = context
        self.counters = CompletionCounters()
        self.last_context: AssembledContext | None = None

    def _cursor(self, text: str, line: int, character: int, settings: Settings) -> CursorText:
        return split_at_cursor(text, line, character, settings.context.prefix_lines, settings.context.suffix_lines)

    @staticmethod
    def prompt_budget(context_size: int, settings: Settings) -> int:
        room = context_size - settings.completion.max_tokens - 8
        return min(settings.context.budget_tokens or room, room)

    def _fitted_prompt(
        self, backend: ModelBackend, cursor: CursorText, context: str, settings: Settings
    ) -> CompletionPrompt:
        """The prompt within the token budget: the lines farthest above the cursor go first, then the context."""
        info = backend.info
        budget = self.prompt_budget(info.context_size, settings)
        prompt = build_completion_prompt(cursor, info.fim, context)
        while len(backend.tokenize(prompt.text)) > budget and (cursor.before_line or context):
            if cursor.before_line.count("\n") > 4 or not context:
                lines = cursor.before_line.split("\n")
                keep = lines[max(1, len(lines) // 4) :]  # drop the oldest quarter, keep the lines near the cursor
                cursor = replace(cursor, before_line="\n".join(keep))
            else:
                context = ""
            prompt = build_completion_prompt(cursor, info.fim, context)
        return prompt

    def _assemble_context(self, path: str | None, line: int, character: int, settings: Settings) -> str:
        info = self._models.info
        if self._context is None or path is None or info is None:
            return ""
        budget = self.prompt_budget(info.context_size, settings) // 3
        visible_from = max(0, line - settings.context.prefix_lines)
        assembled = self._context.for_completion(path, line, character, budget, visible_from)
        self.last_context = assembled
        return assembled.text

    async def complete(
        self, text: str, line: int, character: int, settings: Settings, cancel: CancelToken, path: str | None = None
    ) -> Suggestion | None:
        """A suggestion for the cursor, or None (model not ready, cancelled, or nothing worth showing)."""
        started = time.perf_counter()
        self.counters.requests += 1
        cursor = self._cursor(text, line, character, settings)
        context = self._assemble_context(path, line, character, settings)
        options = settings.completion
        kind: list[str] = []

        def generate(backend: ModelBackend) -> GenerationStats:
            prompt = self._fitted_prompt(backend, cursor, context, settings)
            kind.append(prompt.kind)
            stops = prompt.stop + (("\n",) if cursor.line_suffix.strip() else ())
            request = GenerationRequest(
                prompt=prompt.text,
                max_tokens=options.max_tokens,
                temperature=options.temperature,
                top_p=options.top_p,
                stop=stops,
            )
            stream = backend.generate(request, cancel)
            for _ in stream:
                pass
            return stream.stats

        stats = await self._models.run(generate, cancel)
        if stats.stop_reason == "cancelled":
            self.counters.cancelled += 1
            return None
        cleaned = clean_completion(stats.text, cursor, options.max_lines)
        if not cleaned:
            self.counters.empty += 1
            return None
        self.counters.shown += 1
        return Suggestion(
            text=cleaned,
            prompt_kind=kind[0],
            prompt_tokens=stats.prompt_tokens,
            reused_tokens=stats.reused_tokens,
            generated_tokens=stats.generated_tokens,
            stop_reason=stats.stop_reason,
            model_seconds=stats.seconds,
            total_seconds=time.perf_counter() - started,
        )
