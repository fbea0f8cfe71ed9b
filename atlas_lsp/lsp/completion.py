"""`textDocument/inlineCompletion` and the `textDocument/completion` fallback for clients without it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from atlas_lsp.completion.service import Suggestion
from atlas_lsp.lsp.notebooks import completion_source
from atlas_lsp.lsp.positions import cursor_position
from atlas_lsp.model.backend import CancelToken, ModelError

if TYPE_CHECKING:
    from atlas_lsp.server import AtlasLanguageServer

logger = logging.getLogger(__name__)
ACCEPT_COMMAND = "atlas.didAcceptCompletion"
WARM_UP_DELAY_S = 0.3  # the cursor has rested this long (no newer request) before a warm-up starts
SPECULATE_AFTER_S = 0.05  # after answering, before a speculation starts: the answer's delivery has the CPU first


def _with_selected_item(
    text: str, lines: list[str], codec: Any, selected: types.SelectedCompletionInfo
) -> tuple[str, int, int]:
    """The text as it will be once the completion item selected in the editor's popup is accepted, and the cursor
    after it (inline suggestions must extend that item, LSP 3.18 `selectedCompletionInfo`)."""
    start = cursor_position(codec, lines, selected.range.start)
    end = cursor_position(codec, lines, selected.range.end)
    rows = text.split("\n")

    def offset(line: int, column: int) -> int:
        return sum(len(row) + 1 for row in rows[:line]) + column

    virtual = text[: offset(start.line, start.character)] + selected.text + text[offset(end.line, end.character) :]
    inserted = selected.text.split("\n")
    line = start.line + len(inserted) - 1
    column = (start.character if len(inserted) == 1 else 0) + len(inserted[-1])
    return virtual, line, column


async def suggest(
    ls: AtlasLanguageServer,
    uri: str,
    position: types.Position,
    selected: types.SelectedCompletionInfo | None = None,
) -> Suggestion | None:
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
    ls.cancel_warm_up()  # a request is here: a warm-up pending or running makes way
    cancel = ls.supersede_completion(uri)
    try:
        if settings.completion.debounce_ms:
            await asyncio.sleep(settings.completion.debounce_ms / 1000)
        cancel.deadline = ls.deadline_from_now(settings.completion.time_limit_ms)
        cursor = document.position_from_client_units(position)
        source = completion_source(ls, uri, document)  # the document, or a code cell's whole notebook
        text = source.text()  # (a document's lines: split at the cursor without joining the whole text)
        line, column = source.line(cursor.line), cursor.character
        if selected is not None:
            lines = list(document.lines)
            own, own_line, column = _with_selected_item(document.source, lines, document.position_codec, selected)
            text, line = source.text(own), source.line(own_line)
        version = document.version
        suggestion = await ls.completions.complete(text, line, column, settings, cancel, source.path)
        if suggestion is not None and selected is None:
            shown = ShownSuggestion(uri, version, source.path, text, line, column, suggestion.text)
            schedule_speculation(ls, shown)
        return suggestion
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


def warm_up_enabled(ls: AtlasLanguageServer) -> bool:
    """`completion.warmUp` applies now (auto: only when the model runs on a GPU). Cheap: checked per keystroke."""
    settings = ls.settings.completion
    info = ls.models.info
    if settings.warm_up == "off" or not settings.enabled or not ls.models.ready or info is None:
        return False
    return settings.warm_up == "on" or info.gpu_layers > 0


def schedule_warm_up_after(
    ls: AtlasLanguageServer, uri: str, change: types.TextDocumentContentChangeEvent | None
) -> None:
    """The user just made ``change`` (the last of an edit) in ``uri``: a warm-up where it leaves the cursor."""
    if not warm_up_enabled(ls):  # (off, or auto on a CPU: nothing more per keystroke)
        return
    document = ls.open_document(uri)
    if isinstance(change, types.TextDocumentContentChangePartial) and document is not None:
        schedule_warm_up(ls, uri, _after_insert(change, document.position_codec.client_num_units))


def _after_insert(change: types.TextDocumentContentChangePartial, units: Callable[[str], int]) -> types.Position:
    """Where the cursor is after ``change``, in the client's position units (``units`` counts a text's)."""
    start = change.range.start
    rows = change.text.split("\n")
    width = units(rows[-1])
    if len(rows) == 1:
        return types.Position(line=start.line, character=start.character + width)
    return types.Position(line=start.line + len(rows) - 1, character=width)


def schedule_warm_up(ls: AtlasLanguageServer, uri: str, position: types.Position) -> None:
    """The cursor is at ``position`` (the editor asked for code actions there, or the user just typed there):
    unless it moves on or a request comes within WARM_UP_DELAY_S, evaluate the start of the prompt a suggestion
    there would need (when `warm_up_enabled`)."""
    if not warm_up_enabled(ls):
        return
    ls.cancel_warm_up()
    token = CancelToken()
    ls.warm_up_token = token
    ls.run_in_background(_warm_up(ls, uri, position, token))


async def _warm_up(ls: AtlasLanguageServer, uri: str, position: types.Position, token: CancelToken) -> None:
    await asyncio.sleep(WARM_UP_DELAY_S)
    document = ls.open_document(uri)
    if token.cancelled or document is None or ls.models.worker.busy:
        return  # moved on, closed, or the model is at work (a request, a solve job)
    try:
        cursor = document.position_from_client_units(position)
        source = completion_source(ls, uri, document)
        await ls.completions.warm_up(
            source.text(), source.line(cursor.line), cursor.character, ls.settings, token, source.path
        )
    except (ModelError, asyncio.CancelledError):
        return
    except Exception:
        logger.exception("warm-up failed")
    finally:
        if ls.warm_up_token is token:
            ls.warm_up_token = None


def speculation_enabled(ls: AtlasLanguageServer) -> bool:
    """`completion.speculate` applies now (auto: see `atlas_lsp/completion/speculation.py`)."""
    settings = ls.settings.completion
    if settings.speculate == "off" or not settings.enabled or settings.temperature > 0 or not ls.models.ready:
        return False
    return settings.speculate == "on" or ls.completions.speculation_pays()


@dataclass(frozen=True)
class ShownSuggestion:
    """A suggestion just answered: ``text`` (the text or lines it was made for: document ``uri``'s at version
    ``version``, or its notebook's) at (line, column), code points; ``path`` the context service's key for it."""

    uri: str
    version: int | None
    path: str
    text: str | Sequence[str]
    line: int
    column: int
    suggestion: str


def schedule_speculation(ls: AtlasLanguageServer, shown: ShownSuggestion) -> None:
    """A moment after the answer, unless the document changed meanwhile, compute the suggestion that follows
    ``shown`` once it is accepted (when `speculation_enabled`)."""
    if speculation_enabled(ls):
        ls.speculations_pending += 1  # now: a status request right after the answer sees it (benchmarks wait on it)
        ls.run_in_background(_speculate(ls, shown))


async def _speculate(ls: AtlasLanguageServer, shown: ShownSuggestion) -> None:
    try:
        await asyncio.sleep(SPECULATE_AFTER_S)
        document = ls.open_document(shown.uri)
        if document is None or document.version != shown.version:
            return  # closed, or typed on (typing the suggestion's start asks again, and speculates from there)
        await ls.completions.speculate(
            shown.text,
            shown.line,
            shown.column,
            shown.suggestion,
            ls.settings,
            shown.path,
            ls.models.worker.has_waiting_jobs,
        )
    except (ModelError, asyncio.CancelledError):
        return
    except Exception:
        logger.exception("speculation failed")
    finally:
        ls.speculations_pending -= 1


def _accept_command(suggestion: Suggestion) -> types.Command:
    return types.Command(title="accepted", command=ACCEPT_COMMAND, arguments=[{"chars": len(suggestion.text)}])


def _in_document(lines: Sequence[str], span: types.Range) -> bool:
    """``span`` is a range of the document ``lines``: in order, on its lines (or at the start of the line after
    the last, where a final newline leaves the cursor)."""
    start, end = span.start, span.end
    if (start.line, start.character) > (end.line, end.character):
        return False
    return end.line < len(lines) or (end.line == len(lines) and end.character == 0)


async def on_inline_completion(
    ls: AtlasLanguageServer, params: types.InlineCompletionParams
) -> types.InlineCompletionList | None:
    selected = params.context.selected_completion_info if params.context else None
    document = ls.open_document(params.text_document.uri)
    if selected is not None and document is not None and not _in_document(document.lines, selected.range):
        logger.info("selectedCompletionInfo with a range outside the document ignored: %s", selected.range)
        selected = None  # (answering with it would hand the editor that range to replace)
    suggestion = await suggest(ls, params.text_document.uri, params.position, selected)
    if suggestion is None:
        return None
    if selected is not None:  # replace the selected item's range with its text followed by the suggestion
        extended = selected.text + suggestion.text
        item = types.InlineCompletionItem(
            insert_text=extended, range=selected.range, command=_accept_command(suggestion)
        )
        return types.InlineCompletionList(items=[item])
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
