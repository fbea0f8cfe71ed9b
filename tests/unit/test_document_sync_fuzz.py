"""The server keeps two copies of an open file: pygls's workspace document (the prompt's text) and the syntax
document (its trees: the cursor policy, the names near the cursor, the context). Random edits, as a client sends them
(UTF-16 columns, CRLF, emoji, several changes per message, whole texts), must leave the two equal, and the syntax
document's tree what a fresh parse of the text gives. (tests/e2e/test_random_traffic.py reads the first copy back
through the real server.)"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from lsprotocol import types

from atlas_lsp.lsp import documents
from atlas_lsp.server import AtlasLanguageServer, build_server
from atlas_lsp.syntax.document import SyntaxDocument
from tests.support.random_edits import (
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


@pytest.mark.parametrize("seed", range(6))
async def test_random_edits_keep_the_syntax_copy_equal_to_the_editors_text(
    server: AtlasLanguageServer, seed: int
) -> None:
    rng = random.Random(seed)
    item = types.TextDocumentItem(uri=URI, language_id="python", version=1, text=START)
    server.workspace.put_text_document(item)
    documents.on_did_open(server, types.DidOpenTextDocumentParams(text_document=item))
    text, after_wide = START, 0
    for version in range(2, MESSAGES + 2):
        changes = []
        for _ in range(rng.randint(1, 3)):
            change, text_after, at = random_change(rng, text)
            after_wide += at is not None and after_wide_character(text, at)
            changes.append(change)
            text = text_after
        _did_change(server, version, changes)
        assert server.workspace.get_text_document(URI).source == text  # (the test's own copy agrees with pygls's)
        document = server.context.documents[PATH]
        assert document.text == text, (version, changes)
        if version % 25 == 0 or version == MESSAGES + 1:
            assert document.sexp() == SyntaxDocument(document.spec, text).sexp(), version
    assert after_wide >= 3, "too few edits after an emoji on the same line: the UTF-16 columns went untested"


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
