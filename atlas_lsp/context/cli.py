"""`atlas-lsp context FILE:LINE:COL` (or NOTEBOOK.ipynb:CELL:LINE:COL): what a completion prompt there would include,
and why."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from typing import IO

from atlas_lsp.config import ContextSettings
from atlas_lsp.context.service import ContextService
from atlas_lsp.oneshot import read_location
from atlas_lsp.prompts.completion import window_start

logger = logging.getLogger(__name__)


def workspace_root(path: Path) -> Path:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=path.parent, capture_output=True, text=True, timeout=10
        )
        if done.returncode == 0 and done.stdout.strip():
            return Path(done.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return path.parent


def print_context(location: str, root: str | None, budget: int, out: IO[str]) -> int:
    try:
        place = read_location(location)
    except (ValueError, OSError, UnicodeDecodeError) as error:
        logger.error("%s", error)
        return 2
    path, text, line = place.path.resolve(), place.text, place.line + 1
    rows = text.split("\n")
    character = len(rows[line - 1]) if place.column is None else place.column
    service = ContextService()
    for problem in service.registry.problems:
        logger.warning("%s", problem)
    base = Path(root).resolve() if root else workspace_root(path)
    stats = service.build_index([base])
    service.open(str(path), text, place.language)
    if str(path) not in service.documents:
        out.write(f"{path.name}: no grammar for this file type; completions use its plain text only\n")
        return 0
    window = ContextSettings()  # the file lines the prompt itself shows, by the default settings
    visible_from = window_start(line - 1, window.prefix_lines, window.step_lines)
    assembled = service.for_completion(str(path), line - 1, character, budget, visible_from_line=visible_from)
    out.write(f"workspace {base}: {stats.files} files indexed, {stats.definitions} definitions\n")
    out.write(f"{len(assembled.parts)} parts, {sum(p.tokens for p in assembled.parts)} of {budget} tokens\n\n")
    for number, part in enumerate(assembled.parts, start=1):
        label = part.label
        if label.startswith(str(base)):
            label = label[len(str(base)) + 1 :]
        out.write(f"[{number}] {part.kind}  {label}  ({part.tokens} tokens)  {part.reason}\n")
        out.write("".join(f"    {row}\n" for row in part.text.rstrip().split("\n")))
        out.write("\n")
    return 0
