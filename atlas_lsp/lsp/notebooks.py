"""Notebook documents (LSP 3.17 notebook sync: Jupyter notebooks in VS Code).

pygls keeps each notebook and its cells' text documents in the workspace. Here each notebook is also kept in the
context service as one text (atlas_lsp/context/notebook.py: its cells in order after "# %%" markers), under the
notebook's path, and a completion in a code cell is made in that text: the model sees the cells above (imports,
data, helpers) and below the cursor's cell, and its syntax tree is the notebook's. A keystroke in a code cell is the
same edit some lines further down that text; a change of the notebook's cells (added, removed, moved, another kind)
lays the text out again, and so does the next completion after typing in a markdown cell.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote

from lsprotocol import types

from atlas_lsp.context.notebook import (
    CellPlacement,
    NotebookCell,
    NotebookLayout,
    first_line,
    lay_out,
    notebook_language,
)
from atlas_lsp.lsp.documents import edit_from_change, prepare_context_soon, schedule_idle_parse, uri_to_path
from atlas_lsp.syntax.registry import LanguageRegistry

if TYPE_CHECKING:
    from pygls.workspace import TextDocument

    from atlas_lsp.server import AtlasLanguageServer

logger = logging.getLogger(__name__)


def notebook_sync_options(registry: LanguageRegistry) -> types.NotebookDocumentSyncOptions:
    """Every notebook's cells in a language with a grammar here, and its markdown cells (the text that explains the
    next cell is context). ("*": every notebook type; a filter without ``notebook`` is valid LSP too, but
    lsprotocol's clients cannot read it.)"""
    languages = sorted({language for spec in registry.languages.values() for language in spec.language_ids})
    cells = [types.NotebookCellLanguage(language=language) for language in [*languages, "markdown"]]
    selector = types.NotebookDocumentFilterWithNotebook(notebook="*", cells=cells)
    return types.NotebookDocumentSyncOptions(notebook_selector=[selector])


def notebook_cells(ls: AtlasLanguageServer, notebook: types.NotebookDocument) -> list[NotebookCell]:
    """The notebook's cells with their text; by their percent-decoded uri, as pygls keeps them."""
    cells = []
    for cell in notebook.cells:
        document = ls.open_document(cell.document)
        if document is None:
            continue
        code = cell.kind == types.NotebookCellKind.Code
        cells.append(NotebookCell(unquote(cell.document), code, document.language_id or "", document.source))
    return cells


def notebook_layout(ls: AtlasLanguageServer, notebook: types.NotebookDocument) -> NotebookLayout:
    """The notebook's cells laid out as one text."""
    cells = notebook_cells(ls, notebook)
    spec = ls.context.registry.for_language_id(notebook_language(cells) or "")
    return lay_out(cells, spec.line_comment if spec is not None else "#")


@dataclass(frozen=True)
class CompletionSource:
    """What a completion in the open document ``lines`` is made in: the document itself (``placement`` None), or,
    for a code cell, its notebook's whole text (``placement``: the text around the cell); ``path``: the context
    service's key for it."""

    lines: Sequence[str]
    path: str
    placement: CellPlacement | None = None

    def text(self, own: str | Sequence[str] | None = None) -> str | Sequence[str]:
        """The text to complete in, with ``own`` (the document's text or lines; default: as it is) in it."""
        own = self.lines if own is None else own
        if self.placement is None:
            return own
        return self.placement.head + (own if isinstance(own, str) else "".join(own)) + self.placement.tail

    def line(self, line: int) -> int:
        """The document's ``line`` in ``text()``."""
        return line + (self.placement.first_line if self.placement is not None else 0)


def completion_source(ls: AtlasLanguageServer, uri: str, document: TextDocument) -> CompletionSource:
    notebook = ls.workspace.get_notebook_document(cell_uri=uri)
    if notebook is not None:
        path = uri_to_path(notebook.uri)
        if path in ls.stale_notebooks:  # a markdown cell was edited since: the code cells below it moved
            layout = _lay_out_again(ls, notebook)
        else:
            layout = notebook_layout(ls, notebook)
        placement = layout.placement(unquote(uri))
        if placement is not None:
            logger.debug("completion in notebook cell %s: its line 0 is line %d", uri, placement.first_line)
            return CompletionSource(document.lines, path, placement)
    return CompletionSource(document.lines, uri_to_path(uri))


def _lay_out_again(ls: AtlasLanguageServer, notebook: types.NotebookDocument) -> NotebookLayout:
    """Put the notebook's whole text into the context service, under its path (parsed anew)."""
    path = uri_to_path(notebook.uri)
    ls.stale_notebooks.discard(path)
    layout = notebook_layout(ls, notebook)
    if layout.language is None:
        ls.context.close(path)  # no code cell: nothing to complete in
    else:
        ls.context.open(path, layout.text, layout.language)
    return layout


def on_did_open_notebook(ls: AtlasLanguageServer, params: types.DidOpenNotebookDocumentParams) -> None:
    notebook = ls.workspace.get_notebook_document(notebook_uri=params.notebook_document.uri)
    if notebook is None:
        return
    _lay_out_again(ls, notebook)
    path = uri_to_path(notebook.uri)
    logger.debug("notebook opened: %s (%d cells)", path, len(notebook.cells))
    ls.models.prepare([cell.text for cell in params.cell_text_documents])
    prepare_context_soon(ls, path)


def on_did_change_notebook(ls: AtlasLanguageServer, params: types.DidChangeNotebookDocumentParams) -> None:
    """pygls has applied the change to its copy of the notebook and cells; the same change goes into ours: typing
    in a code cell as an edit of our text; cells added, removed, moved or changed in kind by laying it out again;
    typing in a markdown cell (or in several cells at once) by laying it out again when it is next needed, so that
    writing prose costs no parse per keystroke."""
    from atlas_lsp.lsp.completion import schedule_warm_up_after  # (here: that module imports this one)

    notebook = ls.workspace.get_notebook_document(notebook_uri=params.notebook_document.uri)
    cells = params.change.cells
    if notebook is None or cells is None:
        return  # unknown, or only the notebook's metadata changed
    path = uri_to_path(notebook.uri)
    if cells.structure is not None or cells.data:
        _lay_out_again(ls, notebook)
        return
    contents = cells.text_content or []
    if not contents or path in ls.stale_notebooks:
        return
    if path not in ls.context.documents:  # (not parsed: see ContextService.open; a completion reads pygls's cells)
        if path in ls.context.set_aside:  # laid out again before its next completion: parsed if its text allows
            ls.stale_notebooks.add(path)
        return
    if len(contents) == 1:
        cell_uri = contents[0].document.uri
        line = first_line(notebook_cells(ls, notebook), unquote(cell_uri))
        changes = contents[0].changes
        edits = [c for c in changes if isinstance(c, types.TextDocumentContentChangePartial)]
        if line is not None and len(edits) == len(changes):
            for change in edits:  # (the cells above it are as they were: its first line has not moved)
                if path not in ls.context.documents:  # set aside by the change before (a line too long, ...)
                    ls.stale_notebooks.add(path)
                    break
                ls.context.change(path, [edit_from_change(ls, path, change, line)])
            schedule_idle_parse(ls, path)
            schedule_warm_up_after(ls, cell_uri, changes[-1] if changes else None)
            return
    ls.stale_notebooks.add(path)


def on_did_close_notebook(ls: AtlasLanguageServer, params: types.DidCloseNotebookDocumentParams) -> None:
    path = uri_to_path(params.notebook_document.uri)
    ls.context.close(path)
    ls.stale_notebooks.discard(path)
