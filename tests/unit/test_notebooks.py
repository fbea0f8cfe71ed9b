"""A notebook as one text: its layout, and the server's copy kept equal to pygls's cells through every change."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator

import pytest
from lsprotocol import types

from atlas_lsp.context.notebook import NotebookCell, first_line, lay_out
from atlas_lsp.lsp import notebooks
from atlas_lsp.server import AtlasLanguageServer, build_server
from atlas_lsp.syntax.document import SyntaxDocument
from tests.support.random_edits import after_wide_character, random_change

NOTEBOOK = "file:///w/analysis.ipynb"
PATH = "/w/analysis.ipynb"


def cell(name: str, text: str, code: bool = True, language: str = "python") -> NotebookCell:
    return NotebookCell(f"vscode-notebook-cell:/w/analysis.ipynb#{name}", code, language, text)


def test_code_cells_as_they_are_after_markers_and_markdown_as_comments() -> None:
    cells = [
        cell("a", "# Load\nThe *raw* data.", code=False, language="markdown"),
        cell("b", "import json\n\nrows = json.load(open('d.json'))"),
        cell("c", "SELECT 1", language="sql"),
        cell("d", "def total(rows):\n    "),
        cell("e", ""),
    ]
    layout = lay_out(cells)
    assert layout.language == "python"
    assert layout.text == (
        "# %% [markdown]\n# # Load\n# The *raw* data.\n"
        "\n# %%\nimport json\n\nrows = json.load(open('d.json'))\n"
        "\n# %% [sql]\n# SELECT 1\n"
        "\n# %%\ndef total(rows):\n    \n"
        "\n# %%\n\n"
    )
    for code in ("b", "d", "e"):  # each code cell is its lines, one for one, first_line lines down
        placement = layout.placement(cell(code, "").uri)
        assert placement is not None
        own = next(c.text for c in cells if c.uri.endswith(code))
        assert placement.head + own + placement.tail == layout.text
        assert layout.text.split("\n")[placement.first_line : placement.first_line + own.count("\n") + 1] == (
            own.split("\n")
        )
    for each in cells:  # the keystroke path's shortcut gives the same lines
        placement = layout.placement(each.uri)
        assert first_line(cells, each.uri) == (placement.first_line if placement is not None else None)
    assert first_line(cells, "vscode-notebook-cell:/w/other.ipynb#b") is None
    assert layout.placement(cell("a", "").uri) is None  # markdown: not written as it is
    assert layout.placement(cell("c", "").uri) is None  # another language: a comment
    assert layout.placement("vscode-notebook-cell:/w/other.ipynb#b") is None


def test_the_first_code_cell_names_the_language_and_line_comments_follow_it() -> None:
    layout = lay_out(
        [cell("a", "notes", code=False, language="markdown"), cell("b", "let x = 1;", language="rust")], "//"
    )
    assert layout.language == "rust"
    assert layout.text == "// %% [markdown]\n// notes\n\n// %%\nlet x = 1;\n"
    assert lay_out([cell("a", "only words", code=False, language="markdown")]).language is None


# -- the server's copy ---------------------------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[AtlasLanguageServer]:
    server = build_server()
    steps = server.protocol.lsp_initialize(
        types.InitializeParams(capabilities=types.ClientCapabilities(), root_uri=None)
    )
    next(steps)  # pygls has built the workspace
    steps.close()
    yield server
    server.close_services()


def cell_uri(n: int) -> str:
    return f"vscode-notebook-cell:/w/analysis.ipynb#c{n}"


def expected_text(server: AtlasLanguageServer) -> str:
    notebook = server.workspace.get_notebook_document(notebook_uri=NOTEBOOK)
    assert notebook is not None
    return notebooks.notebook_layout(server, notebook).text


def assert_in_sync(server: AtlasLanguageServer) -> None:
    """Our notebook text and trees are what laying out pygls's cells anew and parsing them gives."""
    document = server.context.documents[PATH]
    text = expected_text(server)
    assert document.text == text
    assert document.sexp() == SyntaxDocument(document.spec, text).sexp()


def change(server: AtlasLanguageServer, version: int, cells: types.NotebookDocumentCellChanges) -> None:
    """A notebookDocument/didChange as pygls's own handler takes it, then ours."""
    params = types.DidChangeNotebookDocumentParams(
        notebook_document=types.VersionedNotebookDocumentIdentifier(uri=NOTEBOOK, version=version),
        change=types.NotebookDocumentChangeEvent(cells=cells),
    )
    server.workspace.update_notebook_document(params)
    notebooks.on_did_change_notebook(server, params)


def text_edit(
    uri: str, version: int, line: int, start: int, end_line: int, end: int, text: str
) -> types.NotebookDocumentCellChanges:
    edit = types.TextDocumentContentChangePartial(
        range=types.Range(start=types.Position(line, start), end=types.Position(end_line, end)), text=text
    )
    content = types.NotebookDocumentCellContentChanges(
        document=types.VersionedTextDocumentIdentifier(uri=uri, version=version), changes=[edit]
    )
    return types.NotebookDocumentCellChanges(text_content=[content])


def open_code_cells(server: AtlasLanguageServer, cells: list[tuple[str, str]]) -> None:
    """Open NOTEBOOK with a code cell of each (language, text), as pygls's handler then ours take it."""
    opened = types.DidOpenNotebookDocumentParams(
        notebook_document=types.NotebookDocument(
            uri=NOTEBOOK,
            notebook_type="jupyter-notebook",
            version=1,
            cells=[
                types.NotebookCell(kind=types.NotebookCellKind.Code, document=cell_uri(n)) for n in range(len(cells))
            ],
        ),
        cell_text_documents=[
            types.TextDocumentItem(uri=cell_uri(n), language_id=language, version=1, text=text)
            for n, (language, text) in enumerate(cells)
        ],
    )
    server.workspace.put_notebook_document(opened)
    notebooks.on_did_open_notebook(server, opened)


async def test_every_change_of_a_notebook_keeps_the_servers_copy_equal_to_its_cells(
    server: AtlasLanguageServer,
) -> None:
    texts = [
        ("markdown", types.NotebookCellKind.Markup, "# Totals\nSum the *rows*."),
        ("python", types.NotebookCellKind.Code, "import json\n\nrows = [1, 2, 3]"),
        ("python", types.NotebookCellKind.Code, "def total(rows):\n    return sum(rows)"),
        ("python", types.NotebookCellKind.Code, "print(total(rows))"),
    ]
    documents = [
        types.TextDocumentItem(uri=cell_uri(n), language_id=language, version=1, text=text)
        for n, (language, _, text) in enumerate(texts)
    ]
    opened = types.DidOpenNotebookDocumentParams(
        notebook_document=types.NotebookDocument(
            uri=NOTEBOOK,
            notebook_type="jupyter-notebook",
            version=1,
            cells=[types.NotebookCell(kind=kind, document=cell_uri(n)) for n, (_, kind, _) in enumerate(texts)],
        ),
        cell_text_documents=documents,
    )
    server.workspace.put_notebook_document(opened)
    notebooks.on_did_open_notebook(server, opened)
    await asyncio.sleep(0)
    assert_in_sync(server)
    parses = server.context.documents[PATH].full_parses

    # typing in code cells: edits of our copy, a few lines down (no new parse of the whole text)
    version = 1
    for n, line, column, text in [
        (2, 1, 22, "\n\n\ndef mean(rows):\n    return total(rows) / len(rows)"),
        (1, 2, 0, "# the data\n"),
        (3, 0, 5, "("),
    ]:
        version += 1
        change(server, version, text_edit(cell_uri(n), version, line, column, line, column, text))
        assert_in_sync(server)
    rng = random.Random(7)
    for _ in range(40):  # random deletions and insertions across lines of random code cells
        version += 1
        n = rng.choice([1, 2, 3])
        lines = server.workspace.get_text_document(cell_uri(n)).lines
        start_line = rng.randrange(len(lines))
        end_line = min(len(lines) - 1, start_line + rng.choice([0, 0, 1]))
        start = rng.randrange(len(lines[start_line].rstrip("\n")) + 1)
        end = rng.randrange(len(lines[end_line].rstrip("\n")) + 1) if end_line > start_line else start
        text = rng.choice(["", "x", "\n", "  y = 1\n", "é", "(", "\n\n"])
        change(server, version, text_edit(cell_uri(n), version, start_line, start, end_line, end, text))
        assert_in_sync(server)
    assert server.context.documents[PATH].full_parses == parses  # each was an edit of the tree

    # typing in a markdown cell: laid out again when next needed, once (the code cells below it moved)
    typed_into = server.context.documents[PATH]
    for column in range(3):
        version += 1
        change(server, version, text_edit(cell_uri(0), version, 1, column, 1, column, "+"))
        assert PATH in server.stale_notebooks
        version += 1
        change(server, version, text_edit(cell_uri(1), version, 0, 0, 0, 0, "#"))  # (then in a code cell)
    assert server.context.documents[PATH].full_parses == parses  # no parse per keystroke
    assert "+++" not in server.context.documents[PATH].text
    notebooks.completion_source(server, cell_uri(2), server.workspace.get_text_document(cell_uri(2)))
    assert PATH not in server.stale_notebooks and "# +++Sum the *rows*." in server.context.documents[PATH].text
    assert server.context.documents[PATH] is not typed_into  # (parsed anew)
    assert_in_sync(server)

    # a cell added, one removed, two swapped: laid out again at once
    added = types.TextDocumentItem(uri=cell_uri(9), language_id="python", version=1, text="rows.append(4)")
    structure = types.NotebookDocumentCellChangeStructure(
        array=types.NotebookCellArrayChange(
            start=2, delete_count=0, cells=[types.NotebookCell(kind=types.NotebookCellKind.Code, document=added.uri)]
        ),
        did_open=[added],
    )
    version += 1
    change(server, version, types.NotebookDocumentCellChanges(structure=structure))
    assert "\n# %%\nrows.append(4)\n\n# %%\n" in server.context.documents[PATH].text
    assert_in_sync(server)
    markers = server.context.documents[PATH].text.count("# %%")
    removed = types.NotebookDocumentCellChangeStructure(
        array=types.NotebookCellArrayChange(start=1, delete_count=1),
        did_close=[types.TextDocumentIdentifier(uri=cell_uri(1))],
    )
    version += 1
    change(server, version, types.NotebookDocumentCellChanges(structure=removed))
    assert server.context.documents[PATH].text.count("# %%") == markers - 1
    assert_in_sync(server)
    notebook = server.workspace.get_notebook_document(notebook_uri=NOTEBOOK)
    assert notebook is not None
    first, second = notebook.cells[:2]
    swapped = types.NotebookDocumentCellChangeStructure(
        array=types.NotebookCellArrayChange(start=0, delete_count=2, cells=[second, first])
    )
    version += 1
    change(server, version, types.NotebookDocumentCellChanges(structure=swapped))
    assert server.context.documents[PATH].text.startswith("# %%\nrows.append(4)\n\n# %% [markdown]\n")
    assert_in_sync(server)

    closed = types.DidCloseNotebookDocumentParams(
        notebook_document=types.NotebookDocumentIdentifier(uri=NOTEBOOK),
        cell_text_documents=[types.TextDocumentIdentifier(uri=cell_uri(n)) for n in (0, 9, 2, 3)],
    )
    server.workspace.remove_notebook_document(closed)
    notebooks.on_did_close_notebook(server, closed)
    assert PATH not in server.context.documents


async def test_a_completion_in_a_cell_is_made_in_the_notebooks_text(server: AtlasLanguageServer) -> None:
    """What `suggest` completes in: the whole notebook, the cell's line moved down; a file: itself."""
    open_code_cells(server, [("python", "import math"), ("python", "def area(r):\n    return ")])
    document = server.workspace.get_text_document(cell_uri(1))
    source = notebooks.completion_source(server, cell_uri(1), document)
    assert source.path == PATH
    assert source.text() == "# %%\nimport math\n\n# %%\ndef area(r):\n    return \n"
    assert source.line(1) == 5
    assert (
        source.text("def area(r):\n    return math.pi")
        == "# %%\nimport math\n\n# %%\ndef area(r):\n    return math.pi\n"
    )
    item = types.TextDocumentItem(uri="untitled:Untitled-1", language_id="python", version=1, text="x = 1\n")
    server.workspace.put_text_document(item)
    plain = notebooks.completion_source(server, item.uri, server.workspace.get_text_document(item.uri))
    assert (plain.path, list(plain.text()), plain.line(0)) == ("untitled:Untitled-1", ["x = 1\n"], 0)


async def test_a_cell_edit_that_sets_the_notebook_aside_then_one_that_undoes_it(server: AtlasLanguageServer) -> None:
    """One message of two edits in a cell: the first pastes a line too long to parse (the notebook is set aside),
    the second lands in the same cell (it used to fail, our copy gone). Once the line is deleted, the next completion
    lays the notebook out again and parses it."""
    open_code_cells(server, [("python", "rows = [1, 2, 3]\nprint(rows)")])
    assert PATH in server.context.documents
    long_line = "blob = '" + "z" * 30_000 + "'\n"
    paste = text_edit(cell_uri(0), 2, 1, 0, 1, 0, long_line)
    assert paste.text_content is not None
    typed = types.TextDocumentContentChangePartial(
        range=types.Range(types.Position(0, 0), types.Position(0, 0)), text="# data\n"
    )
    paste.text_content[0].changes.append(typed)
    change(server, 2, paste)  # (raised KeyError before)
    assert PATH not in server.context.documents and PATH in server.context.set_aside
    assert PATH in server.stale_notebooks
    change(server, 3, text_edit(cell_uri(0), 3, 2, 0, 3, 0, ""))  # the long line deleted again
    cell_document = server.workspace.get_text_document(cell_uri(0))
    assert cell_document.source == "# data\nrows = [1, 2, 3]\nprint(rows)"
    notebooks.completion_source(server, cell_uri(0), cell_document)  # what a completion in the cell does first
    assert_in_sync(server)
    assert PATH not in server.context.set_aside


@pytest.mark.parametrize("seed", range(3))
async def test_random_edits_in_code_cells_keep_the_copy_in_sync(server: AtlasLanguageServer, seed: int) -> None:
    """Edits as a client sends them (UTF-16 columns after emoji, CRLF, one to three changes a message, in one cell):
    our copy of the notebook stays pygls's cells laid out, and its trees a fresh parse's."""
    rng = random.Random(seed)
    texts = ["import os\n\nrows = [1, 2]", "def total(rows):\n    return sum(rows)", "print(total(rows))"]
    open_code_cells(server, [("python", text) for text in texts])
    cells = dict(enumerate(texts))
    wide = 0
    for version in range(2, 122):
        n = rng.randrange(3)
        edits = []
        for _ in range(rng.randint(1, 3)):
            edit, after, at = random_change(rng, cells[n])
            if at is None:
                continue  # (a whole text: not how a client changes a cell)
            wide += after_wide_character(cells[n], at)
            cells[n] = after
            start, end = edit["range"]["start"], edit["range"]["end"]
            edits.append(
                types.TextDocumentContentChangePartial(
                    range=types.Range(types.Position(**start), types.Position(**end)), text=edit["text"]
                )
            )
        content = types.NotebookDocumentCellContentChanges(
            document=types.VersionedTextDocumentIdentifier(uri=cell_uri(n), version=version), changes=edits
        )
        change(server, version, types.NotebookDocumentCellChanges(text_content=[content]))
        assert server.workspace.get_text_document(cell_uri(n)).source == cells[n]
        assert_in_sync(server)
    assert wide >= 2, "too few edits after an emoji on the same line: the UTF-16 columns went untested"
