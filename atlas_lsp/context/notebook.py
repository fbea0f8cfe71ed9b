"""A notebook as one source file, so that a completion in a cell sees the cells around it.

A cell alone is a poor prompt: the imports, data and helpers it uses were written in the cells above it. The
notebook is laid out the way percent-format notebooks are written as scripts (jupytext, VS Code's "# %%" cells):
each cell after a ``# %%`` marker line, its code as it is; markdown cells and cells of another language as comments
(``# %% [markdown]``), since the text that explains the next cell is worth showing the model too. A code cell's
lines are lines of the whole text one for one, so a position or an edit in the cell is the same position or edit
``first_line`` lines further down.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class NotebookCell:
    """One cell: ``code`` when it is a code cell (else markup), ``language`` its text document's language id."""

    uri: str
    code: bool
    language: str
    text: str


@dataclass(frozen=True)
class CellPlacement:
    """Where one cell's text sits in the notebook's whole text: ``head`` comes before it, ``tail`` after it."""

    head: str
    tail: str
    first_line: int


@dataclass(frozen=True)
class NotebookLayout:
    """The notebook as one text in ``language`` (the language of its first code cell; None when it has none)."""

    language: str | None
    chunks: list[tuple[str, str, str]]  # per cell: its marker line and what precedes it, its body, what follows
    cell_index: dict[str, int]  # cell uri -> its position in ``chunks``, for the cells written as they are

    @property
    def text(self) -> str:
        return "".join(before + body + after for before, body, after in self.chunks)

    def placement(self, cell_uri: str) -> CellPlacement | None:
        """Where the code cell ``cell_uri`` is (None for a cell that is not written as it is: markup, another
        language, or not in this notebook)."""
        index = self.cell_index.get(cell_uri)
        if index is None:
            return None
        before = "".join(b + body + a for b, body, a in self.chunks[:index])
        own_before, _, own_after = self.chunks[index]
        head = before + own_before
        tail = own_after + "".join(b + body + a for b, body, a in self.chunks[index + 1 :])
        return CellPlacement(head, tail, head.count("\n"))


def notebook_language(cells: list[NotebookCell]) -> str | None:
    """The language of the notebook's first code cell: the one its code cells are written in."""
    return next((cell.language for cell in cells if cell.code), None)


def lay_out(cells: list[NotebookCell], comment: str = "#") -> NotebookLayout:
    """The notebook's cells in order as one text, with ``comment`` the language's line comment."""
    language = notebook_language(cells)
    chunks: list[tuple[str, str, str]] = []
    cell_index: dict[str, int] = {}
    for cell in cells:
        separator = "\n" if chunks else ""  # a blank line between cells
        as_is = cell.code and cell.language == language
        if as_is:
            marker, body = f"{comment} %%", cell.text
            cell_index[cell.uri] = len(chunks)
        else:
            kind = "markdown" if not cell.code else cell.language
            marker = f"{comment} %% [{kind}]"
            body = "\n".join(f"{comment} {line}".rstrip() for line in cell.text.split("\n"))
        chunks.append((f"{separator}{marker}\n", body, "\n"))
    return NotebookLayout(language, chunks, cell_index)


def first_line(cells: list[NotebookCell], cell_uri: str) -> int | None:
    """``lay_out(cells).placement(cell_uri).first_line`` without building the text (it runs on every keystroke in a
    cell): the line where that code cell's text starts, or None for a cell not written as it is."""
    language = notebook_language(cells)
    line = 0
    for index, cell in enumerate(cells):
        line += 2 if index else 1  # (the blank line between cells, the marker line)
        if cell.uri == cell_uri:
            return line if cell.code and cell.language == language else None
        line += cell.text.count("\n") + 1
    return None


def read_notebook(text: str, name: str) -> list[NotebookCell]:
    """The cells of a Jupyter notebook file (nbformat 4 JSON), ``name#cellN`` their uris (1-based); code cells in the
    notebook's language (its kernel's, else Python). Raises ValueError when the text is not a notebook."""
    try:
        notebook = json.loads(text)
    except ValueError as error:
        raise ValueError(f"{name} is not a notebook (not JSON: {error})") from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise ValueError(f"{name} is not a notebook (no list of cells)")
    metadata = notebook.get("metadata") if isinstance(notebook.get("metadata"), dict) else {}
    kernel = metadata.get("kernelspec") if isinstance(metadata.get("kernelspec"), dict) else {}
    info = metadata.get("language_info") if isinstance(metadata.get("language_info"), dict) else {}
    language = str(kernel.get("language") or info.get("name") or "python").lower()
    cells = []
    for number, cell in enumerate(notebook["cells"], start=1):
        if not isinstance(cell, dict):
            continue
        source = cell.get("source", "")
        body = "".join(source) if isinstance(source, list) else str(source)
        code = cell.get("cell_type") == "code"
        cells.append(NotebookCell(f"{name}#cell{number}", code, language if code else "markdown", body))
    return cells
