"""The completion pipeline: document text at a cursor -> a cleaned suggestion from the warm model."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from atlas_lsp.completion.cache import CacheKey, SuggestionCache
from atlas_lsp.completion.postprocess import clean_completion, is_complete
from atlas_lsp.completion.speculation import Speculation, auto_speculates, with_inserted
from atlas_lsp.config import Settings
from atlas_lsp.context.service import AssembledContext, ContextService
from atlas_lsp.model.backend import (
    CancelToken,
    GenerationRequest,
    GenerationStats,
    ModelBackend,
    ModelInfo,
    PrefillResult,
)
from atlas_lsp.model.service import ModelService
from atlas_lsp.prompts.chat import chat_prompt, code_from_reply
from atlas_lsp.prompts.completion import (
    CompletionPrompt,
    CursorText,
    build_chat_messages,
    build_completion_prompt,
    build_infill_prompt,
    split_at_cursor,
    window_start,
)
from atlas_lsp.timing import PhaseClock

logger = logging.getLogger(__name__)
_IDENTIFIER_NODES = frozenset({"identifier", "property_identifier", "type_identifier", "field_identifier"})


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
    cached: bool = False

    @property
    def evaluated_tokens(self) -> int:
        return self.prompt_tokens - self.reused_tokens


@dataclass(frozen=True)
class _Fitted:
    """A prompt fitted to a token limit, and how: lines above the cursor left out, context dropped."""

    prompt: CompletionPrompt
    cursor: CursorText
    context: AssembledContext
    tokens: int
    trimmed: bool
    dropped: bool


@dataclass(frozen=True)
class _Trim:
    """How a cursor line's prompt was fitted, kept for the keystrokes that follow on that line."""

    first: int | None  # the first file line kept (None: none left out)
    dropped: bool  # the context left out
    line_cut: int = 0  # characters of the cursor's line left out before the cursor (a line over the budget)
    suffix_kept: int | None = None  # characters of the rest of the line kept (None: all of it)
    after_kept: int | None = None  # characters of the lines after the cursor's kept (None: all of them)

    def applied(self, cursor: CursorText, whole: CursorText, line: int) -> CursorText | None:
        """The same trim of ``whole`` (the cursor's text now, on its ``line``; ``cursor``: it clipped to a size), or
        None when the cursor's line is now no longer than its cut (the user deleted it)."""
        if self.line_cut and self.line_cut >= len(whole.line_prefix):
            return None
        return CursorText(
            before_line=cursor.before_line if self.first is None else _from_line(cursor.before_line, line, self.first),
            line_prefix=whole.line_prefix[self.line_cut :] if self.line_cut else cursor.line_prefix,
            line_suffix=cursor.line_suffix if self.suffix_kept is None else whole.line_suffix[: self.suffix_kept],
            after_line=cursor.after_line if self.after_kept is None else whole.after_line[: self.after_kept],
        )


@dataclass
class CompletionCounters:
    requests: int = 0
    shown: int = 0
    accepted: int = 0
    empty: int = 0
    cancelled: int = 0
    skipped_in_identifier: int = 0
    cache_hits: int = 0
    generations: int = 0  # requests that reached the model
    generations_cancelled: int = 0  # stopped mid-way by $/cancelRequest or a newer request (counted on the worker)
    generations_skipped: int = 0  # superseded while queued or debounced: never reached the model
    warm_ups: int = 0  # prompt starts evaluated ahead where the cursor rested (see CompletionService.warm_up)
    warm_up_tokens: int = 0  # prompt tokens they evaluated
    warm_ups_stopped: int = 0  # of those, stopped early for a request (what they evaluated stays)
    speculations: int = 0  # suggestions computed ahead for the text after accepting a shown one (and cached)
    speculations_stopped: int = 0  # made way for a request, superseded or past the time cap: nothing cached
    speculation_hits: int = 0  # requests answered by a speculation (the user accepted what it followed)


@dataclass
class LastCompletion:
    """What the last request did (for `atlas.lastCompletion`, benchmarks and tests)."""

    prompt: str = ""
    prompt_kind: str = ""
    prompt_tokens: int = 0
    reused_tokens: int = 0
    generated_tokens: int = 0
    decode_steps: int = 0  # model steps for the generated tokens (fewer when guessed tokens were right)
    decode_mode: str = ""  # plain, guess or fixed (`atlas_lsp/model/draft.py`); empty for an endpoint
    stop_reason: str = ""
    cached: bool = False
    model_seconds: float = 0.0
    total_seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step of the request (see complete())
    model_phases: dict[str, float] = field(default_factory=dict)  # where model_seconds went (GenerationStats)


CHARS_PER_TOKEN_CEILING = 6  # code rarely packs more characters than this into one token
EXACT_CHECK_SHARE = 0.75  # an estimating backend's prompt above this share of the context is counted exactly
TYPING_RESERVE = 32  # prompt tokens kept free for typing on the cursor line (see _fitted_prompt)
SEAM_TOKENS = 2  # a text counted in two parts may differ from its whole count by this much (at the seam)
PINNED_CONTEXTS = 16  # (file, block) context choices kept: see _assemble_context
PINNED_TRIMS = 64  # cursor lines whose trim is remembered: going back to one rebuilds the same prompt start
LINE_CUT_STEP = 256  # the cursor's line, cut, starts on a multiple of this many characters: stable while typing


def generation_tokens(context_size: int, settings: Settings) -> int:
    """``completion.maxTokens``, but at most half the model's context: the prompt keeps the other half (a
    `maxTokens` at or over the context size left no room for any prompt)."""
    return max(1, min(settings.completion.max_tokens, context_size // 2))


def _from_line(before: str, line: int, first: int) -> str:
    """``before`` (the lines just above the cursor's ``line``, each with its newline) from line ``first`` on (all of
    it when it starts there or later)."""
    drop = first - (line - before.count("\n"))
    return before.split("\n", drop)[drop] if drop > 0 else before


def _aligned(before: str, line: int | None, step: int) -> str:
    """``before`` without the first lines that `window_start` leaves out, so that the window starts on a multiple of
    ``step`` (unchanged when the cursor's ``line`` is not known)."""
    return before if line is None else _from_line(before, line, window_start(line, before.count("\n"), step))


def _clip_before(cursor: CursorText, max_chars: int, line: int | None = None, step: int = 1) -> CursorText:
    """Whole lines nearest the cursor within ``max_chars``: a cheap cut before exact token counting, stable while
    the user types on the cursor line (so the prompt's start, and the KV cache, stay the same), and while they
    write new lines below it (the start on a multiple of ``step``, when the cursor's ``line`` is known). The
    cursor's line and the text after it are cut to ``max_chars`` each too (a minified file's one line)."""
    if len(cursor.before_line) > max_chars:
        clipped = cursor.before_line[-max_chars:]
        cursor = replace(cursor, before_line=_aligned(clipped[clipped.find("\n") + 1 :], line, step))
    if max(len(cursor.line_prefix), len(cursor.line_suffix), len(cursor.after_line)) > max_chars:
        cursor = replace(
            cursor,
            line_prefix=_line_end(cursor.line_prefix, max_chars),
            line_suffix=cursor.line_suffix[:max_chars],
            after_line=cursor.after_line[:max_chars],
        )
    return cursor


def _line_end(prefix: str, keep: int) -> str:
    """The end of the cursor's line up to the cursor, about ``keep`` characters of it, starting on a multiple of
    LINE_CUT_STEP (so it starts at the same place while the user types on, for the KV cache)."""
    if len(prefix) <= keep:
        return prefix
    start = len(prefix) - keep
    aligned = -(-start // LINE_CUT_STEP) * LINE_CUT_STEP
    return prefix[aligned if aligned < len(prefix) else start :]


def inside_identifier(cursor: CursorText) -> bool:
    """The cursor splits a word: completing there would only fight the user's typing."""
    before, after = cursor.line_prefix[-1:], cursor.line_suffix[:1]
    return bool(before) and bool(after) and (before.isalnum() or before == "_") and (after.isalnum() or after == "_")


def _kept_length(kept: str, whole: str) -> int | None:
    """How much of ``whole`` the fitted prompt kept (None: all of it)."""
    return len(kept) if len(kept) < len(whole) else None


_AROUND_PARTS = ("after_line", "line_suffix", "line_prefix")  # cut in this order when nothing else is left


def _cut_around(cursor: CursorText, part: str, share: float) -> CursorText:
    """``cursor`` with ``part`` (one of _AROUND_PARTS) cut to about ``share`` of its length, the text nearest the
    cursor kept: the lines after the cursor's line (at a line's end), the rest of its line, or its start."""
    text: str = getattr(cursor, part)
    if part == "line_prefix":
        return replace(cursor, line_prefix=_line_end(text, int(len(text) * share)))
    kept = text[: int(len(text) * share)]
    if part == "after_line" and "\n" in kept:
        kept = kept[: kept.rfind("\n")]
    return replace(cursor, **{part: kept})


class CompletionService:
    """Builds prompts and asks the model; knows nothing about LSP."""

    def __init__(self, models: ModelService, context: ContextService | None = None) -> None:
        self._models = models
        self._context = context
        self.counters = CompletionCounters()
        self.cache = SuggestionCache()
        self.last_context: AssembledContext | None = None
        self.last = LastCompletion()
        self._stable_counts: OrderedDict[str, int] = OrderedDict()
        # the context chosen for each recent (file, block of lines): see _assemble_context
        self._pinned_contexts: OrderedDict[tuple[object, ...], AssembledContext] = OrderedDict()
        # the trim chosen for each recent cursor line (see _Trim)
        self._pinned_trims: OrderedDict[tuple[str | None, int], _Trim] = OrderedDict()
        self._speculation: Speculation | None = None  # the one in flight (see speculate())

    def _cursor(self, text: str | Sequence[str], line: int, character: int, settings: Settings) -> CursorText:
        options = settings.context
        above = line - window_start(line, options.prefix_lines, options.step_lines)
        return split_at_cursor(text, line, character, above, options.suffix_lines)

    def _in_identifier(self, path: str | None, cursor: CursorText, line: int, character: int) -> bool:
        document = self._context.documents.get(path) if self._context is not None and path else None
        if document is None:
            return inside_identifier(cursor)
        byte, point = document.point(line, character)
        node = document.node_at(byte, point)
        if node is None or node.type not in _IDENTIFIER_NODES:
            return inside_identifier(cursor)
        return node.start_point < point < node.end_point

    @staticmethod
    def prompt_budget(context_size: int, settings: Settings) -> int:
        room = context_size - generation_tokens(context_size, settings) - 8
        return min(settings.context.budget_tokens or room, room)

    @staticmethod
    def _build(info: ModelInfo, cursor: CursorText, context: AssembledContext, settings: Settings) -> CompletionPrompt:
        style = settings.completion.prompt_style
        if style == "chat" and (info.chat_template or info.chat_messages):
            messages = build_chat_messages(cursor, context.text)
            chat = chat_prompt(info.chat_template, messages, plain=messages[0]["content"])
            return CompletionPrompt(chat.text, "chat", stop=(), messages=chat.messages)
        fim = info.fim if style in ("auto", "fim") else None
        if fim is None and info.infill and style in ("auto", "fim"):
            return build_infill_prompt(cursor, context.files)
        return build_completion_prompt(cursor, fim, context.text, context.files, context.repo, context.path)

    def _fitted_prompt(
        self,
        backend: ModelBackend,
        cursor: CursorText,
        context: AssembledContext,
        settings: Settings,
        where: tuple[str | None, int] | None = None,
    ) -> CompletionPrompt:
        """The prompt within the token budget: the lines farthest above the cursor go first, then the context.

        The trim is kept per cursor line (``where``, the last PINNED_TRIMS lines): the keystrokes that follow on it
        get the same prompt start, so the model's KV cache still covers it, and so does coming back to the line
        after requests elsewhere (its parked prompt is brought back: `atlas_lsp/model/parked.py`); recomputing the
        trim could move the start by a line and re-evaluate the whole prompt. A first trim leaves TYPING_RESERVE
        tokens of room for that typing. Trims start the file's lines on a multiple of ``context.stepLines`` (when
        ``where`` gives the cursor's line), so the next lines' prompts start where this one does. When nothing above
        the cursor's line is left, the text after it is cut, then the cursor's line itself, to its end nearest the
        cursor from a multiple of LINE_CUT_STEP characters (a minified file's line); those cuts are kept too.
        """
        info = backend.info
        budget = self.prompt_budget(info.context_size, settings)
        line = where[1] if where is not None else None
        step = settings.context.step_lines
        whole = cursor
        cursor = _clip_before(cursor, budget * CHARS_PER_TOKEN_CEILING, line, step)  # never tokenize far more than fits
        pinned = self._pinned_trims.get(where) if where is not None else None
        kept = pinned.applied(cursor, whole, line) if pinned is not None and line is not None else None
        if pinned is not None and kept is not None:
            kept_context = AssembledContext([], "", [], context.repo, context.path) if pinned.dropped else context
            prompt = self._build(info, kept, kept_context, settings)
            if self._count_tokens(backend, prompt) <= budget:
                return prompt
        exact = getattr(backend, "count_tokens_exact", None)  # a backend whose counts are estimates (an endpoint)
        # (an estimate's parts need not add up to the whole's, and an exact count there is a round trip: counting a
        # step of lines alone first pays only with the in-process tokenizer)
        alone = backend.count_tokens if exact is None else None
        fitted = self._trimmed(
            info, cursor, context, settings, budget, lambda p: self._count_tokens(backend, p), line, alone
        )
        room = info.context_size - generation_tokens(info.context_size, settings) - 8
        if exact is not None and fitted.tokens > EXACT_CHECK_SHARE * room:
            # near the context size an estimate's error could overflow it: fit by the tokenizer's exact count
            again = self._trimmed(info, fitted.cursor, fitted.context, settings, room, lambda p: exact(p.text), line)
            fitted = replace(
                again,
                trimmed=fitted.trimmed or again.trimmed,
                dropped=fitted.dropped or again.dropped,
            )
        if where is not None and line is not None:
            fitted_cursor = fitted.cursor
            self._pinned_trims[where] = _Trim(
                first=line - fitted_cursor.before_line.count("\n") if fitted.trimmed else None,
                dropped=fitted.dropped,
                line_cut=len(whole.line_prefix) - len(fitted_cursor.line_prefix),
                suffix_kept=_kept_length(fitted_cursor.line_suffix, whole.line_suffix),
                after_kept=_kept_length(fitted_cursor.after_line, whole.after_line),
            )
            self._pinned_trims.move_to_end(where)
            while len(self._pinned_trims) > PINNED_TRIMS:
                self._pinned_trims.popitem(last=False)
        return fitted.prompt

    def _trimmed(
        self,
        info: ModelInfo,
        cursor: CursorText,
        context: AssembledContext,
        settings: Settings,
        limit: int,
        count: Callable[[CompletionPrompt], int],
        line: int | None = None,
        count_text: Callable[[str], int] | None = None,
    ) -> _Fitted:
        """The prompt within ``limit`` tokens (less TYPING_RESERVE) by ``count``: lines farthest above the cursor go
        first (the first kept on a multiple of ``context.stepLines`` when the cursor's ``line`` is known), then the
        context. ``count_text`` (the same counter, for a text) lets a step of lines taken back be counted alone
        first: when it overshoots on its own, the wider prompt is not counted whole."""
        prompt = self._build(info, cursor, context, settings)
        tokens = count(prompt)
        trimmed = dropped = False
        whole = cursor.before_line
        last_cut: tuple[str, int] | None = None
        step = settings.context.step_lines
        while tokens > limit - TYPING_RESERVE:
            share = max(0.0, (limit - 2 * TYPING_RESERVE) / max(tokens, 1) * 0.95)  # in proportion to the overshoot
            lines = cursor.before_line.split("\n")
            if cursor.before_line and (len(lines) > 4 or not context.parts):
                # keep the lines nearest the cursor
                keep = max(1, int(len(lines) * share))
                kept = "\n".join(lines[-keep:] if keep < len(lines) else lines[1:])
                cursor = replace(cursor, before_line=_aligned(kept, line, step))
                trimmed = True
            elif context.parts:
                context = AssembledContext([], "", [], context.repo, context.path)
                dropped = True
            else:  # the cursor's line, or the text after it, is longer than the budget on its own
                part = next((name for name in _AROUND_PARTS if getattr(cursor, name)), None)
                if part is None:
                    break
                if last_cut == (part, tokens):
                    share = 0.0  # cutting it changed nothing: this prompt leaves it out (a prefix prompt's suffix)
                last_cut = (part, tokens)
                cursor = _cut_around(cursor, part, share)
            prompt = self._build(info, cursor, context, settings)
            tokens = count(prompt)
        if trimmed and line is not None and step > 1:
            # the estimate's margin and the start's rounding up left room: take back whole steps of lines that fit
            lowest = line - whole.count("\n")
            while (first := line - cursor.before_line.count("\n")) % step == 0 and first - step >= lowest:
                wider = replace(cursor, before_line=_from_line(whole, line, first - step))
                if count_text is not None:
                    added = wider.before_line[: len(wider.before_line) - len(cursor.before_line)]
                    if tokens + count_text(added) > limit - TYPING_RESERVE + SEAM_TOKENS:
                        break  # the step's lines alone overshoot the room left: the wider prompt is not counted
                wider_prompt = self._build(info, wider, context, settings)
                wider_tokens = count(wider_prompt)
                if wider_tokens > limit - TYPING_RESERVE:
                    break
                cursor, prompt, tokens = wider, wider_prompt, wider_tokens
        return _Fitted(prompt, cursor, context, tokens, trimmed, dropped)

    def _count_tokens(self, backend: ModelBackend, prompt: CompletionPrompt) -> int:
        """Token count of ``prompt``; the stable part's count is remembered, so a keystroke costs only the tail.
        (Tokenizing 2,000 tokens takes milliseconds; the sum of the parts may differ from the whole by a token
        at the seam, which the budget's margin absorbs.)"""
        stable, tail = prompt.text[: prompt.stable], prompt.text[prompt.stable :]
        count = self._stable_counts.get(stable)
        if count is None:
            count = backend.count_tokens(stable) if stable else 0
            self._stable_counts[stable] = count
            while len(self._stable_counts) > 8:
                self._stable_counts.popitem(last=False)
        return count + (backend.count_tokens(tail) if tail else 0)

    def _assemble_context(self, path: str | None, line: int, character: int, settings: Settings) -> AssembledContext:
        info = self._models.info
        if self._context is None or path is None or info is None:
            return AssembledContext([], "")
        step = settings.context.step_lines
        visible_from = window_start(line, settings.context.prefix_lines, step)
        # chosen once per block of lines (and again once the workspace index is ready), and kept per file: typing
        # on a line, writing the next lines, or coming back from another file keeps the prompt's start
        # byte-identical, so the model's cache (or a parked prompt) covers it. Where the file's window slides, its
        # start (which moves once per step of lines) marks the block: the prompt is evaluated again then anyway. A
        # file opened meanwhile joins at the next block: the context comes first in the prompt, so taking it at once
        # meant evaluating the whole prompt again at the next keystroke (6.5 s for 1,645 tokens on a 2-core CPU)
        block = ("window", visible_from) if visible_from > 0 else ("lines", line // step)
        key = (path, block, self._context.index.ready)
        pinned = self._pinned_contexts.get(key)
        if pinned is not None:
            self._pinned_contexts.move_to_end(key)
            return pinned
        budget = self.prompt_budget(info.context_size, settings) // 3
        assembled = self._context.for_completion(path, line, character, budget, visible_from)
        self.last_context = assembled
        self._pinned_contexts[key] = assembled
        while len(self._pinned_contexts) > PINNED_CONTEXTS:
            self._pinned_contexts.popitem(last=False)
        return assembled

    async def warm_up(
        self,
        text: str | Sequence[str],
        line: int,
        character: int,
        settings: Settings,
        cancel: CancelToken,
        path: str | None = None,
    ) -> PrefillResult | None:
        """Evaluate the start of the prompt that a request at (line, character) would send (all but the cursor
        line's text) into the model's cache while it has nothing else to do; the request then evaluates only the
        rest. The prompt is built as the request will build it (the same context and trim, kept for that line). It
        yields to any job that comes (between chunks of the prompt) and to ``cancel``. None when the backend cannot
        prefill (an endpoint), the prompt has no stable start (chat prompts) or something else came first."""
        worker = self._models.worker
        cursor = self._cursor(text, line, character, settings)
        context = self._assemble_context(path, line, character, settings)

        def stop() -> bool:
            return cancel.should_stop() or worker.has_waiting_jobs()

        def prefill_start(backend: ModelBackend) -> PrefillResult | None:
            prefill = getattr(backend, "prefill", None)
            if prefill is None or stop():
                return None
            prompt = self._fitted_prompt(backend, cursor, context, settings, (path, line))
            if prompt.stable == 0 or not prompt.text[: prompt.stable].strip():
                return None
            room = generation_tokens(backend.info.context_size, settings)
            result: PrefillResult = prefill(prompt.text[: prompt.stable], room, stop)
            return result

        result = await self._models.run(prefill_start, cancel)
        if result is not None and result.evaluated_tokens:
            self.counters.warm_ups += 1
            self.counters.warm_up_tokens += result.evaluated_tokens
            self.counters.warm_ups_stopped += int(result.stopped)
            logger.debug(
                "warm-up at %s:%d: %d prompt tokens evaluated (%d were cached)%s in %.0f ms",
                path,
                line + 1,
                result.evaluated_tokens,
                result.reused_tokens,
                ", stopped for a request" if result.stopped else "",
                result.seconds * 1000,
            )
        return result

    def _generate(
        self,
        backend: ModelBackend,
        cursor: CursorText,
        context: AssembledContext,
        settings: Settings,
        cancel: CancelToken,
        where: tuple[str | None, int],
        made: list[CompletionPrompt],
        lap: PhaseClock | None = None,
    ) -> GenerationStats:
        """On the model's thread: the prompt for ``cursor`` (appended to ``made``), and the model's continuation,
        stopped where the filters would cut it. A request's generation (``lap`` given) is counted in the counters;
        a speculation's is not."""
        options = settings.completion
        prompt = self._fitted_prompt(backend, cursor, context, settings, where)
        made.append(prompt)
        if lap is not None:
            lap("prompt")  # built and fitted to the token budget
        if not prompt.text.strip() and not prompt.messages:
            return GenerationStats()  # an empty file with no context: nothing to continue, no model call
        if lap is not None:
            self.counters.generations += 1  # counted when it really reaches the model
        request = GenerationRequest(
            prompt=prompt.text,
            max_tokens=generation_tokens(backend.info.context_size, settings),
            temperature=options.temperature,
            top_p=options.top_p,
            stop=prompt.stop,
            messages=prompt.messages if backend.info.chat_messages else None,
            infill=prompt.infill,
        )
        stream = backend.generate(request, cancel)
        so_far = ""
        try:
            for piece in stream:
                so_far += piece
                if prompt.kind != "chat" and is_complete(so_far, cursor, options.max_lines):
                    break  # the filters would cut whatever comes next
        finally:
            stream.close()
        stats = stream.stats
        if lap is not None:
            if stats.stop_reason == "cancelled":
                self.counters.generations_cancelled += 1
            lap("model")
        return stats

    def stop_speculation(self) -> None:
        """Stop the speculation in flight, if any (shutting down)."""
        if self._speculation is not None:
            self._speculation.cancel.cancel()

    def speculation_pays(self) -> bool:
        """`completion.speculate: auto` applies to the loaded model (see `auto_speculates`)."""
        info = self._models.info
        return info is not None and auto_speculates(info, self.model_step_seconds())

    def model_step_seconds(self) -> float | None:
        """What a one-token model step costs, where the backend measures it (the in-process model)."""
        step = getattr(self._models.worker.backend, "step_seconds", None)
        return step if isinstance(step, float) else None

    def model_steps_cut_short(self) -> int:
        """Model steps of low-priority work (speculations, warm-ups) stopped part-way for a request (in-process)."""
        count = getattr(self._models.worker.backend, "steps_aborted", 0)
        return count if isinstance(count, int) else 0

    async def speculate(
        self,
        text: str | Sequence[str],
        line: int,
        character: int,
        shown: str,
        settings: Settings,
        path: str | None = None,
        yield_to: Callable[[], bool] | None = None,
    ) -> bool:
        """``shown`` was just suggested at (line, character) of ``text``: compute the suggestion that a request at
        its end will want once the user accepts it, and keep it in the cache (an empty one too), so that request is
        answered from memory. It stops, caching nothing, when ``yield_to()`` says other work waits for the model,
        when a newer speculation starts, or at the per-request time cap. True when it cached a suggestion; False
        when it was not needed (already cached or in flight, greedy decoding off, inside a word) or stopped."""
        options = settings.completion
        if options.temperature > 0 or not shown:
            return False  # the cache serves greedy suggestions only
        lines, end_line, end_character = with_inserted(text, line, character, shown)
        cursor = self._cursor(lines, end_line, end_character, settings)
        key = self._cache_key(cursor, settings, path)
        running = self._speculation
        if key in self.cache or (running is not None and running.key == key) or inside_identifier(cursor):
            return False
        if running is not None:
            running.cancel.cancel()  # the user moved on from what it followed
        cancel = CancelToken(deadline=time.monotonic() + options.time_limit_ms / 1000, yield_to=yield_to)
        current = Speculation(key, cancel)
        self._speculation = current
        try:
            context = self._assemble_context(path, end_line, end_character, settings)
            made: list[CompletionPrompt] = []

            def generate(backend: ModelBackend) -> GenerationStats:
                return self._generate(backend, cursor, context, settings, cancel, (path, end_line), made)

            try:
                stats = await self._models.run(generate, cancel)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                stats = None  # it made way while it waited for the model's thread
            if stats is None or stats.stop_reason in ("cancelled", "time_limit", "error"):
                self.counters.speculations_stopped += 1
                return False
            raw = code_from_reply(stats.text) if made and made[0].kind == "chat" else stats.text
            cleaned = clean_completion(raw, cursor, options.max_lines)
            self.cache.put(key, cleaned, speculated=True)
            self.counters.speculations += 1
            logger.debug(
                "speculation at %s:%d: %d prompt tokens (%d evaluated), %d generated, %d characters kept, %.0f ms",
                path,
                end_line + 1,
                stats.prompt_tokens,
                stats.evaluated_tokens,
                stats.generated_tokens,
                len(cleaned),
                stats.seconds * 1000,
            )
            return True
        finally:
            current.finished.set()
            if self._speculation is current:
                self._speculation = None

    @staticmethod
    def _cache_key(cursor: CursorText, settings: Settings, path: str | None) -> CacheKey:
        options = settings.completion
        shape = (path, options.max_tokens, options.max_lines, options.temperature, options.prompt_style)
        return CacheKey(cursor.before_line + cursor.line_prefix, cursor.line_suffix + "\n" + cursor.after_line, shape)

    async def complete(
        self,
        text: str | Sequence[str],
        line: int,
        character: int,
        settings: Settings,
        cancel: CancelToken,
        path: str | None = None,
    ) -> Suggestion | None:
        """A suggestion for the cursor, or None (inside a word, cancelled, or nothing worth showing). ``text`` is
        the document, or its lines with their endings."""
        started = time.perf_counter()
        phases: dict[str, float] = {}
        lap = PhaseClock(phases, started)
        self.counters.requests += 1
        if cancel.cancelled:  # superseded while it waited (debounce): never reaches the model
            self.counters.generations_skipped += 1
            return None
        cursor = self._cursor(text, line, character, settings)
        lap("cursor")
        # the cache first: typing what is on screen needs no syntax tree (its reparse waits for a model request)
        key = self._cache_key(cursor, settings, path)
        cached = self.cache.get(key) if settings.completion.temperature == 0 else None
        lap("cache")
        running = self._speculation
        if cached is None and running is not None and running.key == key:
            await running.finished.wait()  # the user accepted before its speculation ended: it has the answer
            if cancel.cancelled:
                return None  # superseded meanwhile
            cached = self.cache.get(key)
            lap("speculation")
        if cached is not None:
            self.counters.cache_hits += 1
            if self.cache.speculation_hits > self.counters.speculation_hits:
                self.counters.speculation_hits = self.cache.speculation_hits
                logger.debug("completion: answered by a speculation (%d characters)", len(cached))
            seconds = time.perf_counter() - started
            self.last = LastCompletion(cached=True, total_seconds=seconds, phases=phases)
            if not cached:  # a speculation found nothing worth showing here
                self.counters.empty += 1
                return None
            self.counters.shown += 1
            return Suggestion(cached, "cache", 0, 0, 0, "cache", 0.0, seconds, cached=True)
        if self._in_identifier(path, cursor, line, character):
            self.counters.skipped_in_identifier += 1
            return None
        lap("policy")
        context = self._assemble_context(path, line, character, settings)
        lap("context")
        options = settings.completion
        made: list[CompletionPrompt] = []

        def generate(backend: ModelBackend) -> GenerationStats:
            lap("queue")  # waiting for the model's thread
            return self._generate(backend, cursor, context, settings, cancel, (path, line), made, lap)

        if cancel.cancelled:
            self.counters.generations_skipped += 1
            return None
        try:
            stats = await self._models.run(generate, cancel)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # $/cancelRequest or shutdown: stop the model too
                cancel.cancel()
                self.counters.cancelled += 1
                raise
            self.counters.generations_skipped += 1  # superseded while it waited in the worker's queue
            return None
        lap("return")  # back on the event loop
        prompt = made[0]
        raw = code_from_reply(stats.text) if prompt.kind == "chat" else stats.text
        self.last = LastCompletion(
            prompt=prompt.text,
            prompt_kind=prompt.kind,
            prompt_tokens=stats.prompt_tokens,
            reused_tokens=stats.reused_tokens,
            generated_tokens=stats.generated_tokens,
            decode_steps=stats.decode_steps,
            decode_mode=stats.decode_mode,
            stop_reason=stats.stop_reason,
            model_seconds=stats.seconds,
            total_seconds=time.perf_counter() - started,
            phases=phases,
            model_phases=dict(stats.phases),
        )
        logger.debug(
            "completion: %s prompt, %d tokens (%d reused, %d evaluated), %d generated, %s, %.0f ms",
            prompt.kind,
            stats.prompt_tokens,
            stats.reused_tokens,
            stats.evaluated_tokens,
            stats.generated_tokens,
            stats.stop_reason,
            stats.seconds * 1000,
        )
        if stats.stop_reason == "cancelled":
            self.counters.cancelled += 1
            return None
        cleaned = clean_completion(raw, cursor, options.max_lines)
        lap("clean")
        if not cleaned:
            self.counters.empty += 1
            return None
        self.counters.shown += 1
        self.cache.put(key, cleaned)
        last = self.last
        return Suggestion(
            cleaned,
            last.prompt_kind,
            last.prompt_tokens,
            last.reused_tokens,
            last.generated_tokens,
            last.stop_reason,
            last.model_seconds,
            time.perf_counter() - started,
        )
