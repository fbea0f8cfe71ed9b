"""The server keeps two copies of an open file: pygls's workspace document (the prompt's text) and the syntax
document (its trees: the cursor policy, the names near the cursor, the context). Random edits, as a client sends them
(UTF-16 columns, CRLF, emoji, several changes per message, whole texts), must leave the two equal, and the syntax
document's tree what a fresh parse of the text gives. (tests/e2e/test_random_traffic.py reads the first copy back
through the real server.)"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import pytest
from lsprotocol import types

from atlas_lsp.context.service import ContextService
from atlas_lsp.lsp import documents
from atlas_lsp.lsp.documents import IDLE_PARSE_S
from atlas_lsp.server import AtlasLanguageServer, build_server
from atlas_lsp.syntax.document import LARGEST_PARSED_CHARS, SyntaxDocument, TextEdit, unparsed_reason
from tests.support.random_edits import (
    PIECES,
    START,
    after_wide_character,
    line_starts,
    lsp_position,
    random_change,
    valid_index,
)

URI = "file:///w/edited.py"
PATH = "/w/edited.py"
MESSAGES = 150
SEEDS = 6
# odd seeds: a carriage return alone ends a line too (such a file is not parsed until it is gone again; once in, it
# often stays, so even seeds go without, to compare trees throughout)
PIECES_WITH_CR = (*PIECES, "\r")


ENCODINGS = (None, "utf-8", "utf-32")  # None: a client that names none (UTF-16)


@pytest.fixture(params=ENCODINGS[:1])
def encoding(request: pytest.FixtureRequest) -> str | None:
    return request.param


@pytest.fixture
def server(encoding: str | None) -> Iterator[AtlasLanguageServer]:
    server = build_server()
    general = types.GeneralClientCapabilities(position_encodings=[encoding]) if encoding else None
    steps = server.protocol.lsp_initialize(
        types.InitializeParams(capabilities=types.ClientCapabilities(general=general), root_uri=None)
    )
    next(steps)  # pygls has built the workspace
    steps.close()
    yield server
    server.close_services()


def _change(change: dict[str, Any]) -> types.TextDocumentContentChangeEvent:
    if "range" not in change:
        return types.TextDocumentContentChangeWholeDocument(text=change["text"])
    start, end = change["range"]["start"], change["range"]["end"]
    span = types.Range(types.Position(**start), types.Position(**end))
    return types.TextDocumentContentChangePartial(range=span, text=change["text"])


def _did_change(server: AtlasLanguageServer, version: int, changes: list[dict[str, Any]]) -> None:
    """A textDocument/didChange as pygls's own handler takes it, then ours."""
    params = types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=version),
        content_changes=[_change(change) for change in changes],
    )
    for change in params.content_changes:
        server.workspace.update_text_document(params.text_document, change)
    documents.on_did_change(server, params)


@pytest.mark.parametrize("encoding", ENCODINGS, indirect=True)
@pytest.mark.parametrize("seed", range(SEEDS))
async def test_random_edits_keep_the_syntax_copy_equal_to_the_editors_text(
    server: AtlasLanguageServer, seed: int, encoding: str | None
) -> None:
    rng = random.Random(seed)
    item = types.TextDocumentItem(uri=URI, language_id="python", version=1, text=START)
    server.workspace.put_text_document(item)
    documents.on_did_open(server, types.DidOpenTextDocumentParams(text_document=item))
    text, after_wide, set_aside, parsed_again = START, 0, 0, 0
    for version in range(2, MESSAGES + 2):
        changes = []
        for _ in range(rng.randint(1, 3)):
            pieces = PIECES_WITH_CR if seed % 2 else PIECES
            change, text_after, at = random_change(rng, text, pieces, encoding or "utf-16")
            after_wide += at is not None and after_wide_character(text, at)
            changes.append(change)
            text = text_after
        _did_change(server, version, changes)
        assert server.workspace.get_text_document(URI).source == text  # (the test's own copy agrees with pygls's)
        if unparsed_reason(text) is not None:  # a carriage return alone: not parsed until it is gone
            assert PATH not in server.context.documents and PATH in server.context.set_aside
            set_aside += 1
            continue
        if PATH in server.context.set_aside:  # it is gone: parsed again in the pause after the edit
            await asyncio.sleep(IDLE_PARSE_S + 0.05)
            parsed_again += 1
        document = server.context.documents[PATH]
        assert document.text == text, (version, changes)
        if version % 25 == 0 or version == MESSAGES + 1:
            assert document.sexp() == SyntaxDocument(document.spec, text).sexp(), version
    assert after_wide >= 3, "too few edits after an emoji on the same line: the UTF-16 columns went untested"
    assert server.workspace.position_encoding == (encoding or "utf-16")
    seen_aside[(seed, encoding)] = (set_aside, parsed_again)


seen_aside: dict[tuple[int, str | None], tuple[int, int]] = {}


def test_the_seeds_set_files_aside_and_parse_them_again() -> None:
    """(After the fuzz above: its seeds reached both sides of a carriage return alone.)"""
    assert len(seen_aside) == SEEDS * len(ENCODINGS), "run with the fuzz test"
    assert sum(aside for aside, _ in seen_aside.values()) >= 5
    assert sum(again for _, again in seen_aside.values()) >= 3


def test_the_generators_positions_are_lsp_positions() -> None:
    """UTF-16 columns; \\r\\n, \\r and \\n end lines; never a place between \\r and \\n."""
    text = "a😀b\r\ncd\re\n"
    assert line_starts(text) == [0, 5, 8, 10]
    assert lsp_position(text, 2) == {"line": 0, "character": 3}  # after the emoji: two UTF-16 units
    assert lsp_position(text, 5) == {"line": 1, "character": 0}
    assert lsp_position(text, len(text)) == {"line": 3, "character": 0}
    rng = random.Random(1)
    assert all(valid_index(rng, text) != 4 for _ in range(200))
    assert after_wide_character(text, 2) and not after_wide_character(text, 1) and not after_wide_character(text, 6)


async def test_a_file_set_aside_by_a_pasted_line_is_parsed_again_once_it_is_gone(server: AtlasLanguageServer) -> None:
    """A minified line pasted in (over LONGEST_PARSED_LINE) sets the file aside; undoing the paste (a whole-text
    change, as an editor's undo may send) brings its trees back in the pause after the edit, in its language."""
    uri, path = "file:///w/notes.txt", "/w/notes.txt"  # Python by the language id, not by the name
    item = types.TextDocumentItem(uri=uri, language_id="python", version=1, text=START)
    server.workspace.put_text_document(item)
    documents.on_did_open(server, types.DidOpenTextDocumentParams(text_document=item))
    pasted = {"range": {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 0}}, "text": "x" * 30_000}
    for version, change in ((2, pasted), (3, {"text": START})):
        params = types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[_change(change)],
        )
        for content in params.content_changes:
            server.workspace.update_text_document(params.text_document, content)
        documents.on_did_change(server, params)
        if version == 2:
            assert path not in server.context.documents and path in server.context.set_aside
    assert path not in server.context.documents  # (not at once: in the pause after the edits)
    await asyncio.sleep(IDLE_PARSE_S + 0.05)
    document = server.context.documents[path]
    assert document.text == START and document.spec.name == "python" and path not in server.context.set_aside
    documents.on_did_close(server, types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri)))
    assert path not in server.context.set_aside and path not in server.context.language_ids


HALF = "y" * 15_000  # two of these on one line are over LONGEST_PARSED_LINE


@pytest.mark.parametrize(
    ("text", "edit", "set_aside"),
    [
        (f"a = '{HALF}'\nb = '{HALF}'\n", TextEdit(0, len(HALF) + 6, 1, 0, ""), True),  # two lines joined
        ("a = 1\nb = 2\n", TextEdit(1, 0, 1, 0, f"c = 3\nd = '{HALF * 2}'\ne = 4\n"), True),  # inside a paste
        ("a = 1\nb = 2\n", TextEdit(1, 0, 1, 0, f"'{HALF}"), False),  # long, but not too long
        (f"a = '{HALF}'\n", TextEdit(0, 4, 0, 4, f"'{HALF}' + "), True),  # the paste's line joins a long one
        ("a = 1\nb = 2\n", TextEdit(1, 0, 1, 0, "c = 3\n" * 2_000), False),  # many short lines
        (f"a = '{HALF}'\nb = 1\n", TextEdit(1, 0, 1, 1, "x"), False),  # a keystroke elsewhere
        ("a = [\n]\n", TextEdit(1, 0, 1, 0, "    1,\n" * 300_000), True),  # a paste that makes it too large
        ("a = 1\n", TextEdit(0, 5, 0, 5, "\rb = 2"), True),  # a carriage return alone
    ],
)
def test_an_edit_that_leaves_a_line_too_long_sets_the_file_aside(text: str, edit: TextEdit, set_aside: bool) -> None:
    context = ContextService()
    context.open("/w/m.py", text, "python")
    context.change("/w/m.py", [edit])
    assert ("/w/m.py" in context.set_aside) == set_aside
    assert ("/w/m.py" in context.documents) != set_aside


async def test_a_file_too_large_to_parse_is_set_aside_until_it_is_smaller(server: AtlasLanguageServer) -> None:
    """Opening one over LARGEST_PARSED_CHARS parses nothing (every request would wait for it); cut below it, it is
    parsed in the pause after the edit. The check at each pause is its size alone: no scan of a large text."""
    uri, path = "file:///w/generated.py", "/w/generated.py"
    rows = "VALUES = [\n" + "    1,\n" * 400_000 + "]\n"
    assert len(rows) > LARGEST_PARSED_CHARS
    item = types.TextDocumentItem(uri=uri, language_id="python", version=1, text=rows)
    server.workspace.put_text_document(item)
    documents.on_did_open(server, types.DidOpenTextDocumentParams(text_document=item))
    assert path not in server.context.documents and path in server.context.set_aside
    assert unparsed_reason(rows) == f"over {LARGEST_PARSED_CHARS:,} characters"
    params = types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=START)],
    )
    server.workspace.update_text_document(params.text_document, params.content_changes[0])
    documents.on_did_change(server, params)
    await asyncio.sleep(IDLE_PARSE_S + 0.05)
    assert server.context.documents[path].text == START
