"""`atlas-lsp complete FILE:LINE:COL`: the completion pipeline without an editor."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import IO

from atlas_lsp.completion.service import CompletionService
from atlas_lsp.config import ModelSettings, Settings
from atlas_lsp.model.backend import CancelToken
from atlas_lsp.model.service import ModelService

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


async def complete_at(location: str, model_settings: ModelSettings, out: IO[str]) -> int:
    try:
        path, line, column = parse_location(location)
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        logger.error("%s is not UTF-8 text", path)
        return 2
    except (ValueError, OSError) as error:
        logger.error("%s", error)
        return 2
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        logger.error("%s has %d lines; line %d is outside it", path, len(lines), line)
        return 2
    row = lines[line - 1]
    character = len(row) if column is None else min(column - 1, len(row))
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
