"""`atlas-lsp complete FILE:LINE:COL` (or NOTEBOOK.ipynb:CELL:LINE:COL): the completion pipeline without an editor."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from atlas_lsp.completion.service import CompletionService
from atlas_lsp.config import ModelSettings, Settings
from atlas_lsp.context.notebook import lay_out, notebook_language, read_notebook
from atlas_lsp.model.backend import CancelToken
from atlas_lsp.model.service import ModelService
from atlas_lsp.syntax.registry import load_registry

logger = logging.getLogger(__name__)


def parse_location(location: str) -> tuple[Path, int, int | None]:
    """FILE:LINE[:COL], 1-based; raises ValueError with a readable message."""
    parts = location.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return Path(parts[0]), int(parts[1]), int(parts[2])
    parts = location.rsplit(":", 1)
    if len(parts) == 2 and parts[1].isdigit():
        return Path(parts[0]), int(parts[1]), None
    raise ValueError(f"expected FILE:LINE[:COL], got {location!r}")


@dataclass(frozen=True)
class Location:
    """A place to complete at: the text (a notebook's: its cells laid out as one, `context/notebook.py`), a 0-based
    line of it and a 0-based column (None: the end of the line)."""

    path: Path
    text: str
    line: int
    column: int | None
    language: str | None = None  # a notebook's language id (a file's comes from its name)


def read_location(location: str) -> Location:
    """FILE:LINE[:COL], or NOTEBOOK.ipynb:CELL:LINE[:COL] (CELL counts every cell from 1, LINE and COL are the cell's),
    read; raises ValueError, OSError or UnicodeDecodeError with what is wrong."""
    head = location[: location.rindex(".ipynb:") + len(".ipynb")] if ".ipynb:" in location else ""
    if not head:
        path, line, column = parse_location(location)
        text = path.read_text(encoding="utf-8")
        rows = text.split("\n")
        if not 1 <= line <= len(rows):
            raise ValueError(f"{path} has {len(rows)} lines; line {line} is outside it")
        return Location(path, text, line - 1, None if column is None else column - 1)
    numbers = location[len(head) + 1 :].split(":")
    if not all(part.isdigit() for part in numbers) or len(numbers) not in (2, 3):
        raise ValueError(f"expected NOTEBOOK.ipynb:CELL:LINE[:COL], got {location!r}")
    cell, line, column = int(numbers[0]), int(numbers[1]), int(numbers[2]) if len(numbers) == 3 else None
    path = Path(head)
    cells = read_notebook(path.read_text(encoding="utf-8"), path.name)
    if not 1 <= cell <= len(cells):
        raise ValueError(f"{path} has {len(cells)} cells; cell {cell} is outside it")
    chosen = cells[cell - 1]
    spec = load_registry().for_language_id(notebook_language(cells) or "")
    layout = lay_out(cells, spec.line_comment if spec is not None else "#")
    placement = layout.placement(chosen.uri)
    if placement is None:
        kind = "a markdown cell" if not chosen.code else f"a {chosen.language} cell"
        raise ValueError(f"cell {cell} of {path} is {kind}: completions are made in the notebook's code cells")
    rows = chosen.text.split("\n")
    if not 1 <= line <= len(rows):
        raise ValueError(f"cell {cell} of {path} has {len(rows)} lines; line {line} is outside it")
    column0 = None if column is None else column - 1
    return Location(path, layout.text, placement.first_line + line - 1, column0, layout.language)


async def complete_at(location: str, model_settings: ModelSettings, out: IO[str]) -> int:
    try:
        place = read_location(location)
    except UnicodeDecodeError:
        logger.error(
            "%s is not UTF-8 text",
            location.split(".ipynb:")[0] + ".ipynb" if ".ipynb:" in location else parse_location(location)[0],
        )
        return 2
    except (ValueError, OSError) as error:
        logger.error("%s", error)
        return 2
    text, line = place.text, place.line + 1
    row = text.split("\n")[place.line]
    character = len(row) if place.column is None else min(place.column, len(row))
    models = ModelService(on_status=lambda status: logger.info("model: %s", status.message))
    try:
        status = await models.load(model_settings)
        if status.state != "ready":
            logger.error("%s", status.message)
            return 1
        settings = Settings(model=model_settings)
        service = CompletionService(models)
        suggestion = await service.complete(text, line - 1, character, settings, CancelToken())
    finally:
        models.close()
    if suggestion is None:
        logger.warning("the model suggested nothing at %s", location)
        return 0
    logger.info(
        "%s prompt, %d prompt tokens, %d generated, %.0f ms",
        suggestion.prompt_kind,
        suggestion.prompt_tokens,
        suggestion.generated_tokens,
        suggestion.model_seconds * 1000,
    )
    out.write(row[:character] + suggestion.text + "\n")
    return 0
