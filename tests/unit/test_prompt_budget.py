"""The prompt's trim to its token budget is kept while the user types on one line (KV reuse near the budget)."""

from __future__ import annotations

from dataclasses import replace

from atlas_lsp.completion.service import (
    CHARS_PER_TOKEN_CEILING,
    LINE_CUT_STEP,
    TYPING_RESERVE,
    CompletionService,
    _clip_before,
    generation_tokens,
)
from atlas_lsp.config import CompletionSettings, Settings
from atlas_lsp.context.service import AssembledContext
from atlas_lsp.model.backend import FimTokens, ModelInfo
from atlas_lsp.prompts.completion import CursorText


class CountingBackend:
    """Four characters a token; a context of 1,000 tokens."""

    info = ModelInfo("m", "m.gguf", "llama", 1000, 1000, "cpu", 0, 0.0)

    def count_tokens(self, text: str) -> int:
        return len(text) // 4


SETTINGS = Settings(completion=CompletionSettings(max_tokens=64))
BUDGET = 1000 - 64 - 8


def fitted(service: CompletionService, cursor: CursorText) -> tuple[str, int]:
    prompt = service._fitted_prompt(CountingBackend(), cursor, AssembledContext([], ""), SETTINGS, ("a.py", 500))
    return prompt.text[: prompt.stable], CountingBackend().count_tokens(prompt.text)


def test_typing_on_the_line_keeps_the_trimmed_start_of_the_prompt() -> None:
    before = "".join(f"value_{n} = compute({n}, {n + 1})  # line {n}\n" for n in range(500))  # ~11,000 tokens
    cursor = CursorText(before, "    result = ", "", "")
    service = CompletionService(models=None)  # type: ignore[arg-type]
    start, tokens = fitted(service, cursor)
    assert tokens <= BUDGET - TYPING_RESERVE  # the first trim leaves room to type
    for typed in ("a", "ab", "abc", "abc + value_499 * 2"):
        follow_start, follow_tokens = fitted(service, replace(cursor, line_prefix="    result = " + typed))
        assert follow_start == start and follow_tokens <= BUDGET  # byte-identical start: the KV cache covers it
    other_line = CompletionService(models=None)  # type: ignore[arg-type]
    assert fitted(other_line, cursor)[0] == start  # deterministic for the same text


def test_a_prompt_that_fits_is_not_trimmed() -> None:
    cursor = CursorText("x = 1\n" * 10, "y = ", "", "")
    start, _ = fitted(CompletionService(models=None), cursor)  # type: ignore[arg-type]
    assert start == "x = 1\n" * 10


TYPED = "    result = total + value_499 * 2 + other_name + another_value * 3 + more_things_to_type(1, 2)"


def _cursor_where_a_fresh_trim_moves() -> CursorText:
    """A file length where trimming afresh after typing TYPED gives another start than trimming the cold request
    (the proportional trim crosses a line boundary)."""
    for count in range(60, 3000, 7):
        before = "".join(f"value_{n} = compute({n}, {n + 1})  # line {n}\n" for n in range(count))
        cursor = CursorText(before, "    result = ", "", "")
        fresh_cold, _ = fitted(CompletionService(models=None), cursor)  # type: ignore[arg-type]
        fresh_typed, _ = fitted(CompletionService(models=None), replace(cursor, line_prefix=TYPED))  # type: ignore[arg-type]
        if fresh_cold != fresh_typed:
            return cursor
    raise AssertionError("no file length moved the trim: the scenario needs another shape")


def test_the_pin_holds_where_a_fresh_trim_would_move_the_start() -> None:
    """Typing on the line keeps the first start, where trimming each keystroke afresh would move it."""
    cursor = _cursor_where_a_fresh_trim_moves()
    service = CompletionService(models=None)  # type: ignore[arg-type]
    start, _ = fitted(service, cursor)
    for length in range(len("    result = "), len(TYPED) + 1):
        assert fitted(service, replace(cursor, line_prefix=TYPED[:length]))[0] == start


def test_coming_back_to_a_line_after_another_file_keeps_its_start() -> None:
    """The trim is remembered per cursor line, not only for the last one: a request in another file between two
    on this line leaves the start as it was (so the prompt parked for this line comes back whole)."""
    cursor = _cursor_where_a_fresh_trim_moves()
    service = CompletionService(models=None)  # type: ignore[arg-type]
    start, _ = fitted(service, cursor)
    elsewhere = CursorText("import os\n" * 3000, "x = ", "", "")
    service._fitted_prompt(CountingBackend(), elsewhere, AssembledContext([], ""), SETTINGS, ("b.py", 7))
    assert fitted(service, replace(cursor, line_prefix=TYPED))[0] == start


class EstimatingBackend(CountingBackend):
    """An endpoint's counts: an estimate that is 20% low (a worst case: another kind of text than it learned
    from), and the tokenizer's exact count on request."""

    def __init__(self) -> None:
        self.exact_calls = 0

    def count_tokens(self, text: str) -> int:
        return int(len(text) // 4 * 0.8)

    def count_tokens_exact(self, text: str) -> int:
        self.exact_calls += 1
        return len(text) // 4


def test_an_estimating_backend_is_counted_exactly_only_near_the_context() -> None:
    service = CompletionService(models=None)  # type: ignore[arg-type]
    backend = EstimatingBackend()
    small = CursorText("x = 1\n" * 10, "y = ", "", "")
    service._fitted_prompt(backend, small, AssembledContext([], ""), SETTINGS, ("a.py", 1))
    assert backend.exact_calls == 0  # far below the context: the estimate is enough
    before = "".join(f"value_{n} = compute({n}, {n + 1})  # line {n}\n" for n in range(500))
    big = CursorText(before, "    result = ", "", "")
    prompt = service._fitted_prompt(backend, big, AssembledContext([], ""), SETTINGS, ("a.py", 500))
    assert backend.exact_calls > 0
    # by the estimate alone the prompt would hold 25% more tokens than the context has room for
    assert CountingBackend().count_tokens(prompt.text) <= BUDGET - TYPING_RESERVE


def test_an_estimating_backend_counts_whole_prompts_only() -> None:
    """An estimate's parts need not add up to the whole's (an endpoint estimates short texts at 3 bytes a token, long
    ones by a learned ratio), and its exact count is a round trip: no step of lines is counted alone there."""
    rows = [f"value_{n} = compute({n}, {n + 1})  # line {n}\n" for n in range(600)]
    steps = {"".join(rows[first : first + 32]) for first in range(0, 600, 32)}

    class Recording(EstimatingBackend):
        def __init__(self) -> None:
            super().__init__()
            self.counted: list[str] = []

        def count_tokens(self, text: str) -> int:
            self.counted.append(text)
            return super().count_tokens(text)

    backend = Recording()
    service = CompletionService(models=None)  # type: ignore[arg-type]
    service._fitted_prompt(
        backend, CursorText("".join(rows[:500]), "    x = ", "", ""), AssembledContext([], ""), SETTINGS, ("a.py", 500)
    )
    assert backend.counted and not steps & set(backend.counted)


def test_a_budget_far_below_the_context_needs_no_exact_count() -> None:
    service = CompletionService(models=None)  # type: ignore[arg-type]
    backend = EstimatingBackend()
    settings = replace(SETTINGS, context=replace(SETTINGS.context, budget_tokens=300))
    before = "".join(f"value_{n} = compute({n}, {n + 1})  # line {n}\n" for n in range(500))
    prompt = service._fitted_prompt(
        backend, CursorText(before, "    result = ", "", ""), AssembledContext([], ""), settings, ("a.py", 500)
    )
    assert backend.exact_calls == 0
    assert backend.count_tokens(prompt.text) <= 300 - TYPING_RESERVE


def _first_lines_while_writing(step: int) -> list[int]:
    """The first file line in the prompt at each of 32 new lines written below line 500 of a file that does not
    fit the budget."""
    settings = replace(SETTINGS, context=replace(SETTINGS.context, step_lines=step))
    rows = [f"value_{n} = compute({n}, {n + 1})  # line {n}\n" for n in range(532)]
    service = CompletionService(models=None)  # type: ignore[arg-type]
    firsts = []
    for line in range(500, 532):
        cursor = CursorText("".join(rows[:line]), "    result = ", "", "")
        prompt = service._fitted_prompt(CountingBackend(), cursor, AssembledContext([], ""), settings, ("a.py", line))
        assert CountingBackend().count_tokens(prompt.text) <= BUDGET - TYPING_RESERVE
        firsts.append(int(prompt.text.split("_", 1)[1].split(" ", 1)[0]))
    return firsts


def test_writing_new_lines_keeps_the_trimmed_start_for_a_step_of_lines() -> None:
    """Each new line gets a fresh trim (its own cursor line); the trims start on a multiple of
    `context.stepLines`, so 32 new lines moved the prompt's start (and re-evaluated it whole) once, not 32 times."""
    firsts = _first_lines_while_writing(32)
    assert len(set(firsts)) <= 2 and all(first % 32 == 0 for first in firsts)
    assert len(set(_first_lines_while_writing(1))) >= 16  # following every line: the start moves with the cursor


def test_a_trim_on_the_step_leaves_less_than_a_step_of_room_unused() -> None:
    """Rounding the start up to the step costs at most one step of lines: the trim takes back the steps that fit."""
    settings = SETTINGS
    rows = [f"value_{n} = compute({n}, {n + 1})  # line {n}\n" for n in range(600)]
    for line in range(500, 600, 7):
        step_tokens = CountingBackend().count_tokens("".join(rows[line - 32 : line]))  # a step of lines here
        service = CompletionService(models=None)  # type: ignore[arg-type]
        cursor = CursorText("".join(rows[:line]), "    result = ", "", "")
        prompt = service._fitted_prompt(CountingBackend(), cursor, AssembledContext([], ""), settings, ("a.py", line))
        tokens = CountingBackend().count_tokens(prompt.text)
        assert BUDGET - TYPING_RESERVE - step_tokens < tokens <= BUDGET - TYPING_RESERVE, (line, tokens)


def test_a_step_of_lines_that_cannot_fit_is_counted_alone_not_in_the_whole_prompt() -> None:
    """Taking back a step of lines (above) counts that step alone first: when it overshoots the room left, the wider
    prompt is not counted whole (each whole count re-reads ~2,000 tokens of prompt on the model's thread). The
    fits are the same as counting each wider prompt whole."""
    rows = [f"value_{n} = compute({n}, {n + 1})  # line {n}\n" for n in range(600)]

    class Recording(CountingBackend):
        def __init__(self) -> None:
            self.counted: list[int] = []

        def count_tokens(self, text: str) -> int:
            self.counted.append(len(text))
            return super().count_tokens(text)

    for line in range(500, 600, 7):
        cursor = CursorText("".join(rows[:line]), "    result = ", "", "")
        recording = Recording()
        service = CompletionService(models=None)  # type: ignore[arg-type]
        prompt = service._fitted_prompt(recording, cursor, AssembledContext([], ""), SETTINGS, ("a.py", line))
        tail = len(cursor.line_prefix) // 4  # (counted apart from the stable part: see _count_tokens)
        whole_counts = [size // 4 + tail for size in recording.counted if size > len(prompt.text) // 2]
        clipped = _clip_before(cursor, BUDGET * CHARS_PER_TOKEN_CEILING, line, SETTINGS.context.step_lines)
        fits = [
            service._trimmed(
                CountingBackend.info, clipped, AssembledContext([], ""), SETTINGS, BUDGET, count, line, alone
            )
            for count, alone in (
                (lambda p: len(p.text) // 4, None),
                (lambda p: len(p.text) // 4, lambda t: len(t) // 4),
            )
        ]
        assert prompt.text == fits[0].prompt.text == fits[1].prompt.text, line
        # once a trim fits, a step taken back is counted whole only where it fits (one that does not is stopped by
        # its own count)
        room = BUDGET - TYPING_RESERVE
        fitting = next(index for index, tokens in enumerate(whole_counts) if tokens <= room)
        assert all(tokens <= room for tokens in whole_counts[fitting:]), (line, whole_counts)


class FimBackend(CountingBackend):
    """The same counts, with a vocabulary that has FIM tokens: the text after the cursor is in the prompt."""

    info = replace(CountingBackend.info, fim=FimTokens("<PRE>", "<SUF>", "<MID>"))


MINIFIED = "var a=[" + ",".join(str(n) for n in range(20_000)) + "];"  # one line of ~110,000 characters


def test_a_cursor_line_longer_than_the_budget_keeps_its_end_and_fits() -> None:
    """A minified file's one line: the prompt keeps the line's end up to the cursor, within the budget (it used to
    go whole to the model, which kept the last tokens of a prompt of ~30,000: seconds of tokenizing, a full
    context evaluated on every keystroke)."""
    cursor = CursorText("", MINIFIED[:80_000], MINIFIED[80_000:], "x = 1\n" * 40)
    for backend in (CountingBackend(), FimBackend()):
        service = CompletionService(models=None)  # type: ignore[arg-type]
        prompt = service._fitted_prompt(backend, cursor, AssembledContext([], ""), SETTINGS, ("a.js", 0))
        tokens = backend.count_tokens(prompt.text)
        assert BUDGET / 2 < tokens <= BUDGET - TYPING_RESERVE, tokens
        kept = prompt.text.split("<MID>")[-1]  # (FIM: the cursor's line goes after the middle token)
        assert MINIFIED[:80_000].endswith(kept)
        assert (80_000 - len(kept)) % LINE_CUT_STEP == 0  # cut on the step: the same start while typing on

    # typing on: the prompt starts where it did (the model's cache covers it), also where a fresh cut would move
    for backend in (CountingBackend(), FimBackend(), EstimatingBackend()):
        service = CompletionService(models=None)  # type: ignore[arg-type]
        prompt = service._fitted_prompt(backend, cursor, AssembledContext([], ""), SETTINGS, ("a.js", 0))
        for typed in (",1" * n for n in range(1, 60)):
            grown = replace(cursor, line_prefix=cursor.line_prefix + typed)
            again = service._fitted_prompt(backend, grown, AssembledContext([], ""), SETTINGS, ("a.js", 0))
            assert again.text == prompt.text + typed


def test_text_after_the_cursor_is_cut_before_the_cursor_line() -> None:
    """With FIM, the lines after the cursor go first, then the rest of the cursor's line; the text before the
    cursor on its line stays whole when that fits."""
    after = "".join(f"call_{n}(argument_{n})\n" for n in range(3_000))  # ~16,000 tokens
    cursor = CursorText("", "    total = ", " + 1" * 2_000, after)
    prompt = CompletionService(models=None)._fitted_prompt(  # type: ignore[arg-type]
        FimBackend(), cursor, AssembledContext([], ""), SETTINGS, ("a.py", 0)
    )
    assert FimBackend().count_tokens(prompt.text) <= BUDGET - TYPING_RESERVE
    assert "    total = " in prompt.text and "call_0(argument_0)" not in prompt.text
    assert "<SUF> + 1 + 1" in prompt.text  # the start of the rest of the line is kept


def test_max_tokens_over_the_context_leaves_half_of_it_for_the_prompt() -> None:
    """`completion.maxTokens` of 1,024 with a context of 1,000: the generation gets half the context and the prompt
    the rest (the budget was negative: no prompt at all, and a division by zero while trimming)."""
    settings = replace(SETTINGS, completion=replace(SETTINGS.completion, max_tokens=1024))
    assert generation_tokens(1000, settings) == 500
    before = "".join(f"value_{n} = compute({n})\n" for n in range(500))
    cursor = CursorText(before, "    result = ", "", "")
    prompt = CompletionService(models=None)._fitted_prompt(  # type: ignore[arg-type]
        CountingBackend(), cursor, AssembledContext([], ""), settings, ("a.py", 500)
    )
    assert 200 < CountingBackend().count_tokens(prompt.text) <= 1000 - 500 - 8
    assert prompt.text.endswith("value_499 = compute(499)\n    result = ")


def test_a_budget_smaller_than_the_typing_reserve_leaves_no_prompt_and_raises_nothing() -> None:
    settings = replace(SETTINGS, context=replace(SETTINGS.context, budget_tokens=10))
    cursor = CursorText("x = 1\n" * 50, "    result = ", "", "")
    prompt = CompletionService(models=None)._fitted_prompt(  # type: ignore[arg-type]
        CountingBackend(), cursor, AssembledContext([], ""), settings, ("a.py", 50)
    )
    assert prompt.text == ""  # nothing fits: no model call (the service skips an empty prompt)
