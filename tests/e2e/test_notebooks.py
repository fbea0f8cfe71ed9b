"""Notebooks (LSP notebook sync, as VS Code sends Jupyter notebooks) and unsaved buffers, end to end."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.e2e.conftest import start_session, wait_for_status

CELLS = [
    (types.NotebookCellKind.Markup, "markdown", "# Geometry\nHelpers for circles."),
    (types.NotebookCellKind.Code, "python", "import math\n\ndef circle_area(r):\n    return math.pi * r * r"),
    (types.NotebookCellKind.Code, "python", "def add(a, b):\n    return "),
    (types.NotebookCellKind.Code, "python", "print(add(1, 2))"),
]


def cell_uri(notebook: Path, n: int) -> str:
    """As VS Code names a cell (its fragment percent-encoded)."""
    return f"vscode-notebook-cell:{notebook.as_posix()}#W{n}sZmlsZQ%3D%3D"


def open_notebook(client: LanguageClient, notebook: Path) -> None:
    client.notebook_document_did_open(
        types.DidOpenNotebookDocumentParams(
            notebook_document=types.NotebookDocument(
                uri=notebook.as_uri(),
                notebook_type="jupyter-notebook",
                version=1,
                cells=[
                    types.NotebookCell(kind=kind, document=cell_uri(notebook, n))
                    for n, (kind, _, _) in enumerate(CELLS)
                ],
            ),
            cell_text_documents=[
                types.TextDocumentItem(uri=cell_uri(notebook, n), language_id=language, version=1, text=text)
                for n, (_, language, text) in enumerate(CELLS)
            ],
        )
    )


def type_in_cell(
    client: LanguageClient, notebook: Path, n: int, version: int, line: int, column: int, text: str
) -> None:
    at = types.Position(line=line, character=column)
    content = types.NotebookDocumentCellContentChanges(
        document=types.VersionedTextDocumentIdentifier(uri=cell_uri(notebook, n), version=version),
        changes=[types.TextDocumentContentChangePartial(range=types.Range(start=at, end=at), text=text)],
    )
    client.notebook_document_did_change(
        types.DidChangeNotebookDocumentParams(
            notebook_document=types.VersionedNotebookDocumentIdentifier(uri=notebook.as_uri(), version=version),
            change=types.NotebookDocumentChangeEvent(cells=types.NotebookDocumentCellChanges(text_content=[content])),
        )
    )


def inline_params(uri: str, line: int, character: int) -> types.InlineCompletionParams:
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=line, character=character),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
    )


async def command(client: LanguageClient, name: str, *arguments: Any) -> Any:
    params = types.ExecuteCommandParams(command=name, arguments=list(arguments) or None)
    return await client.workspace_execute_command_async(params)


async def start(client: LanguageClient, root: Path) -> None:
    initialized = await start_session(client, root, notebooks=True)
    await wait_for_status(client, {"ready"})
    sync = initialized.capabilities.notebook_document_sync
    assert isinstance(sync, types.NotebookDocumentSyncOptions), sync
    languages = {cell.language for entry in sync.notebook_selector for cell in entry.cells or []}
    assert {"python", "markdown"} <= languages


@pytest.mark.usefixtures("model_backend")
async def test_a_completion_in_a_notebook_cell_sees_the_cells_around_it(client: LanguageClient, tmp_path: Path) -> None:
    await start(client, tmp_path)
    notebook = tmp_path / "geometry.ipynb"
    open_notebook(client, notebook)
    target = cell_uri(notebook, 2)
    shown = await client.text_document_inline_completion_async(inline_params(target, 1, 11))
    assert shown is not None and shown.items, "no suggestion in the cell"
    suggestion = shown.items[0].insert_text
    assert isinstance(suggestion, str) and len(suggestion) > 1
    assert shown.items[0].range == types.Range(start=types.Position(1, 11), end=types.Position(1, 11))  # the cell's
    prompt = (await command(client, "atlas.lastCompletion"))["prompt"]
    # the cells above, in order, the markdown as comments, then the cell's own text up to the cursor
    assert "# %% [markdown]\n# # Geometry\n# Helpers for circles.\n" in prompt
    assert (
        "# %%\nimport math\n\ndef circle_area(r):\n    return math.pi * r * r\n\n# %%\ndef add(a, b):\n    return "
        in prompt
    )

    type_in_cell(client, notebook, 2, 2, 1, 11, suggestion[0])  # typing what the suggestion shows
    typed = await client.text_document_inline_completion_async(inline_params(target, 1, 12))
    assert typed is not None and typed.items[0].insert_text == suggestion[1:]
    assert (await command(client, "atlas.lastCompletion"))["cached"] is True

    end_of_area = len("    return math.pi * r * r")
    type_in_cell(client, notebook, 1, 2, 3, end_of_area, "\n\nTAU = 2 * math.pi")  # an edit in the cell above
    again = await client.text_document_inline_completion_async(inline_params(target, 1, 12))
    assert again is not None
    last = await command(client, "atlas.lastCompletion")
    assert last["cached"] is False
    assert (
        "    return math.pi * r * r\n\nTAU = 2 * math.pi\n\n# %%\ndef add(a, b):\n    return " + suggestion[0]
        in last["prompt"]
    )


async def test_typing_in_a_cell_is_parsed_in_the_pause_after_it(client: LanguageClient, tmp_path: Path) -> None:
    """A keystroke in a code cell is an edit of the notebook's text; like a file's, it is parsed once the typing
    pauses, not by the next request that reads the tree."""
    await start(client, tmp_path)
    notebook = tmp_path / "geometry.ipynb"
    open_notebook(client, notebook)
    await asyncio.sleep(0.5)  # (what opening starts reads the tree)
    for column, character in enumerate("# sum"):
        type_in_cell(client, notebook, 3, column + 2, 0, column, character)
    assert (await command(client, "atlas.status"))["syntax"]["parsedWhileIdle"] == 0  # still typing
    await asyncio.sleep(1.0)
    assert (await command(client, "atlas.status"))["syntax"]["parsedWhileIdle"] == 1


async def test_solving_needs_a_saved_file_and_unsaved_buffers_get_completions(
    client: LanguageClient, tmp_path: Path
) -> None:
    await start(client, tmp_path)
    notebook = tmp_path / "geometry.ipynb"
    open_notebook(client, notebook)
    untitled = "untitled:Untitled-1"
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=untitled, language_id="python", version=1, text="def add(a, b):\n    return "
            )
        )
    )
    shown = await client.text_document_inline_completion_async(inline_params(untitled, 1, 11))
    assert shown is not None and shown.items, "no suggestion in an unsaved buffer"
    for uri in (untitled, cell_uri(notebook, 2)):
        actions = await client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=types.Range(start=types.Position(0, 4), end=types.Position(0, 4)),
                context=types.CodeActionContext(diagnostics=[]),
            )
        )
        assert not actions, (uri, actions)  # no project file to run the tests on
        answer = await command(client, "atlas.solveFunction", {"uri": uri, "version": 1, "name": "add", "line": 0})
        assert answer["status"] == "error" and "saved file" in answer["message"], answer
