"""The other files' context is chosen once per block of `context.stepLines` lines: writing the next lines keeps the
prompt's start (and the model's cache of it); another block or the index finishing choose again, an opened file
waits for the next block."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

from atlas_lsp.completion.service import CompletionService
from atlas_lsp.config import Settings
from atlas_lsp.context.service import AssembledContext
from atlas_lsp.model.backend import ModelInfo


class CountingContext:
    """Stands in for the context engine: counts how often context is chosen, and for which lines."""

    def __init__(self) -> None:
        self.documents: dict[str, object] = {"a.py": object()}
        self.index = SimpleNamespace(ready=True)
        self.chosen: list[tuple[int, int]] = []

    def for_completion(self, path: str, line: int, column: int, budget: int, visible_from: int) -> AssembledContext:
        self.chosen.append((line, visible_from))
        return AssembledContext([], f"# context for line {line}\n")


def _service() -> tuple[CompletionService, CountingContext]:
    models = SimpleNamespace(info=ModelInfo("m", "m.gguf", "llama", 4096, 4096, "cpu", 0, 0.0))
    context = CountingContext()
    return CompletionService(models=models, context=context), context  # type: ignore[arg-type]


def test_context_is_chosen_once_per_block_of_lines() -> None:
    service, context = _service()
    settings = Settings()  # stepLines 32, prefixLines 200
    texts = [service._assemble_context("a.py", line, 4, settings).text for line in range(329, 361)]
    assert context.chosen == [(329, 160)] and set(texts) == {"# context for line 329\n"}
    service._assemble_context("a.py", 361, 4, settings)  # the window's next start: the next block
    assert context.chosen[-1] == (361, 192)


def test_at_the_top_of_a_file_blocks_are_counted_in_lines() -> None:
    """Above line prefixLines the window starts at the file's first line and never moves."""
    service, context = _service()
    settings = Settings()
    for line in range(30, 70):
        service._assemble_context("a.py", line, 4, settings)
    assert context.chosen == [(30, 0), (32, 0), (64, 0)]


def test_the_index_chooses_again_in_the_same_block_an_opened_file_does_not() -> None:
    """The context comes first in the prompt: choosing again when a file opens made the next keystroke evaluate the
    whole prompt again (6.5 s for 1,645 tokens on a 2-core CPU). A file opened meanwhile joins at the next block; the
    index finishing (once) chooses again. The choice is kept per file: a request in another file and back keeps it."""
    service, context = _service()
    settings = Settings()
    service._assemble_context("a.py", 320, 4, settings)
    context.documents["b.py"] = object()
    service._assemble_context("a.py", 321, 4, settings)
    service._assemble_context("b.py", 40, 4, settings)
    service._assemble_context("a.py", 322, 4, settings)
    context.index.ready = False
    service._assemble_context("a.py", 323, 4, settings)
    service._assemble_context("a.py", 324, 4, settings)
    assert context.chosen == [(320, 128), (40, 0), (323, 128)]


def test_step_one_chooses_for_every_line() -> None:
    service, context = _service()
    settings = Settings()
    settings = replace(settings, context=replace(settings.context, step_lines=1))
    for line in range(320, 324):
        service._assemble_context("a.py", line, 4, settings)
    assert [line for line, _ in context.chosen] == [320, 321, 322, 323]
