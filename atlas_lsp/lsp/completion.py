"""`textDocument/inlineCompletion` and the `textDocument/completion` fallback for clients without it."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, cast

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from atlas_lsp.completion.service import Suggestion
from atlas_lsp.lsp.documents import uri_to_path
from atlas_lsp.model.backend import ModelError

if TYPE_CHECKING:
    from atlas_lsp.server import AtlasLanguageServer

logger = logging.getLogger(__name__)
ACCEPT_COMMAND = "atlas.didAcceptCompletion"


async def suggest(ls: AtlasLanguageServer, uri: str, position: types.Position) -> Suggestion | None:
    """The suggestion at ``position`` of the open document ``uri``; None on any problem (no pop-ups while typing)."""
    settings = ls.settings
    if not settings.completion.enabled:
        return None
    document = ls.open_document(uri)
    if document is None:
        logger.info("completion for a document that is not open: %s", uri)
        return None
    if not ls.models.ready:
        logger.debug("completion before the model is ready (%s)", ls.models.status.state)
        return None
    cancel = ls.supersede_completion(uri)
    try:
        if settings.completion.debounce_ms:
            await asyncio.sleep(settings.completion.debounce_ms / 1000)
        cancel.deadline = ls.deadline_from_now(settings.completion.time_limit_ms)
        cursor = document.position_from_client_units(position)
        path = uri_to_path(uri)
        return await ls.completions.complete(document.source, cursor.line, cursor.character, settings, cancel, path)
    except asyncio.CancelledError:
        cancel.cancel()  # $/cancelRequest: stop the generation at its next token
        raise
    except ModelError as error:
        logger.info("completion skipped: %s", error)
        return None
    except Exception:
        logger.exception("completion failed")
        return None
    finally:
        ls.forget_completion(uri, cancel)


def _accept_command(suggestion: Suggestion) -> types.Command:
    return types.Command(title="accepted", command=ACCEPT_COMMAND, arguments=[{"chars": len(suggestion.text)}])


async def on_inline_completion(
    ls: AtlasLanguageServer, params: types.InlineCompletionParams
) -> types.InlineCompletionList | None:
    suggestion = await suggest(ls, params.text_document.uri, params.position)
    if suggestion is None:
        return None
    at_cursor = types.Range(start=params.position, end=params.position)
    item = types.InlineCompletionItem(insert_text=suggestion.text, range=at_cursor, command=_accept_command(suggestion))
    return types.InlineCompletionList(items=[item])


def _typed_word(line: str, character: int) -> str:
    start = character
    while start > 0 and (line[start - 1].isalnum() or line[start - 1] == "_"):
        start -= 1
    return line[start:character]


async def on_completion(ls: AtlasLanguageServer, params: types.CompletionParams) -> types.CompletionList | None:
    """One item carrying the whole (multi-line) suggestion, only for clients without inline completion."""
    if ls.client_has_inline_completion():
        return None
    suggestion = await suggest(ls, params.text_document.uri, params.position)
    document = ls.open_document(params.text_document.uri)
    if suggestion is None or document is None:
        return None
    lines = document.lines
    line = lines[params.position.line].rstrip("\r\n") if params.position.line < len(lines) else ""
    word = _typed_word(line, params.position.character)
    start = types.Position(line=params.position.line, character=params.position.character - len(word))
    edit_range = types.Range(start=start, end=params.position)
    first_line = suggestion.text.split("\n", 1)[0].strip() or suggestion.text.strip()
    item = types.CompletionItem(
        label=(word + first_line)[:80],
        kind=types.CompletionItemKind.Text,
        detail="atlas",
        documentation=types.MarkupContent(kind=types.MarkupKind.PlainText, value=word + suggestion.text),
        filter_text=word + suggestion.text.split("\n", 1)[0],
        insert_text_format=types.InsertTextFormat.PlainText,
        text_edit=types.TextEdit(range=edit_range, new_text=word + suggestion.text),
        sort_text="0",
        preselect=True,
        command=_accept_command(suggestion),
    )
    return types.CompletionList(is_incomplete=True, items=[item])


def accept_command(ls: LanguageServer, *_args: Any) -> None:
    """`atlas.didAcceptCompletion`: counted locally, never sent anywhere."""
    cast("AtlasLanguageServer", ls).completions.counters.accepted += 1
