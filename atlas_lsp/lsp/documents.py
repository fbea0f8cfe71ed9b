"""Document sync into the context service (trees updated incrementally) and workspace indexing."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.uris import to_fs_path

from atlas_lsp.context.index import MAX_INDEXED_FILES
from atlas_lsp.lsp.progress import BackgroundProgress
from atlas_lsp.syntax.document import TextEdit

if TYPE_CHECKING:
    from atlas_lsp.server import AtlasLanguageServer

logger = logging.getLogger(__name__)
# after a document's last change, before its edited parts are parsed (see schedule_idle_parse): shorter than the
# default `completion.debounceMs` (60), so a keystroke's request finds its edit parsed once its debounce ends
IDLE_PARSE_S = 0.05
SUMMARY_DELAY_S = 0.1  # after opening a file, before summarising it for completions in other files: by then a
# completion asked for right after opening has usually reached the model, and the event loop is free while it runs


def uri_to_path(uri: str) -> str:
    return to_fs_path(uri) or uri


def on_did_open(ls: AtlasLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
    item = params.text_document
    path = uri_to_path(item.uri)
    ls.context.open(path, item.text, item.language_id)
    # get ready for the first completion in it: its lines tokenized (on a thread), its names collected (on the
    # event loop, once the messages already waiting are handled); and, a moment later, for completions in other
    # files (its skeleton and words), off the path of a completion asked for right after opening
    ls.models.prepare([item.text])
    prepare_context_soon(ls, path)


def prepare_context_soon(ls: AtlasLanguageServer, path: str) -> None:
    """Once the messages already waiting are handled, the names ``path`` defines and imports; a moment later, its
    skeleton and words (for completions in other files) and, a slice at a time, the names used on each line."""
    loop = asyncio.get_running_loop()
    loop.call_soon(ls.context.prepare, path)
    loop.call_later(SUMMARY_DELAY_S, ls.context.summarise, path)
    loop.call_later(SUMMARY_DELAY_S, _collect_names, ls, path)


def _collect_names(ls: AtlasLanguageServer, path: str) -> None:
    if ls.context.collect_names(path):
        asyncio.get_running_loop().call_soon(_collect_names, ls, path)


def edit_from_change(
    ls: AtlasLanguageServer, path: str, change: types.TextDocumentContentChangePartial, first_line: int = 0
) -> TextEdit:
    """An LSP range in the client's position encoding -> (line, code-point column) edit on our copy of ``path``;
    the client's line 0 is our line ``first_line`` (a notebook cell's, see atlas_lsp/lsp/notebooks.py)."""
    document = ls.context.documents[path]
    codec = ls.workspace.position_codec

    def column(position: types.Position) -> int:
        line = document.line_text(first_line + position.line)  # only the edited lines: this runs per keystroke
        if line is None:
            return 0
        return codec.position_from_client_units([line], types.Position(0, position.character)).character

    start, end = change.range.start, change.range.end
    return TextEdit(first_line + start.line, column(start), first_line + end.line, column(end), change.text)


def schedule_idle_parse(ls: AtlasLanguageServer, path: str, uri: str | None = None) -> None:
    """``path`` was just edited: its edited parts are parsed once its edits pause for IDLE_PARSE_S. A tree is parsed
    when it is read, so edits that no request read (typing answered from the suggestion cache, typing with
    suggestions off) were parsed by the next request that reads it, in another place of the file maybe: a
    millisecond or more of its answer. A request right after an edit parses that edit itself, unless it waits out
    a debounce longer than IDLE_PARSE_S (the default one is). With ``uri``: ``path`` is set aside (not parsed: a
    line too long, a carriage return alone), and in the pause it is parsed again if its text allows now."""
    pending = ls.idle_parses.pop(path, None)
    if pending is not None:
        pending.cancel()
    ls.idle_parses[path] = asyncio.get_running_loop().call_later(IDLE_PARSE_S, _parse_when_idle, ls, path, uri)


def _parse_when_idle(ls: AtlasLanguageServer, path: str, uri: str | None = None) -> None:
    ls.idle_parses.pop(path, None)
    if uri is not None and path in ls.context.set_aside:
        document = ls.workspace.text_documents.get(uri)
        if document is not None and ls.context.parse_again(path, document.source):
            prepare_context_soon(ls, path)
        return
    if ls.context.parse(path):
        ls.parsed_while_idle += 1
        _collect_names(ls, path)  # an edit that added or removed lines dropped its segment's


def on_did_change(ls: AtlasLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
    from atlas_lsp.lsp.completion import schedule_warm_up_after  # (here: that module imports this one)

    uri = params.text_document.uri
    path = uri_to_path(uri)
    for change in params.content_changes:
        if path not in ls.context.documents:
            break  # not parsed: never opened, another language, or set aside (by an earlier change of this message)
        if isinstance(change, types.TextDocumentContentChangePartial):
            ls.context.change(path, [edit_from_change(ls, path, change)])
        else:
            ls.context.change(path, [change.text])
    if path in ls.context.documents:
        schedule_idle_parse(ls, path)
    elif path in ls.context.set_aside:  # not parsed (a line too long, a carriage return alone): checked again in
        schedule_idle_parse(ls, path, uri)  # the pause after its edits, as that may be gone now
    schedule_warm_up_after(ls, uri, params.content_changes[-1] if params.content_changes else None)


def on_did_close(ls: AtlasLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.context.close(uri_to_path(params.text_document.uri))


def on_did_save(ls: AtlasLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
    ls.context.saved(uri_to_path(params.text_document.uri))


def on_watched_files(ls: AtlasLanguageServer, params: types.DidChangeWatchedFilesParams) -> None:
    for change in params.changes:
        ls.context.saved(uri_to_path(change.uri))


def workspace_roots(ls: AtlasLanguageServer) -> list[Path]:
    folders = ls.workspace.folders
    roots = [Path(uri_to_path(folder.uri)) for folder in folders.values()] if folders else []
    if not roots and ls.workspace.root_path:
        roots = [Path(ls.workspace.root_path)]
    return [root for root in roots if root.is_dir()]


def on_workspace_folders(ls: AtlasLanguageServer, _params: types.DidChangeWorkspaceFoldersParams) -> None:
    """Folders added or removed (pygls has updated the workspace's): the index is built again for the new set."""
    ls.run_in_background(build_index_with_progress(ls))


async def build_index_with_progress(ls: AtlasLanguageServer) -> None:
    """Index the workspace on a worker thread, with work-done progress where the client supports it (one build at a
    time: a build for changed folders waits for the one running, so the last folders set wins)."""
    async with ls.index_builds:
        await _build_index(ls)


async def _build_index(ls: AtlasLanguageServer) -> None:
    roots = workspace_roots(ls)
    if not roots:
        if ls.context.index.roots:
            ls.context.index.build([])  # the last folder removed: nothing left indexed
        return
    progress_bar = BackgroundProgress(ls, f"atlas-index-{uuid.uuid4().hex[:8]}", "atlas: indexing", percentage=0)

    def progress(done: int, total: int) -> None:
        progress_bar.report(f"{done}/{total} files", done * 100 // total)

    try:
        stats = await asyncio.to_thread(ls.context.build_index, roots, progress)
        message = f"{stats.files} files, {stats.definitions} definitions in {stats.seconds:.1f} s"
        if stats.left_out:
            message += f" ({stats.left_out} more not indexed: over {MAX_INDEXED_FILES} files)"
    except Exception as error:
        logger.exception("indexing failed")
        message = f"indexing failed: {error}"
    progress_bar.end(message)


async def watch_files(ls: AtlasLanguageServer) -> None:
    """Ask the client to report file changes of supported languages (when it allows dynamic registration)."""
    workspace = ls.client_capabilities.workspace
    watched = workspace.did_change_watched_files if workspace is not None else None
    if watched is None or not watched.dynamic_registration:
        return
    pattern = "**/*{" + ",".join(sorted(ls.context.registry.suffixes)) + "}"
    options = types.DidChangeWatchedFilesRegistrationOptions(watchers=[types.FileSystemWatcher(glob_pattern=pattern)])
    registration = types.Registration(
        id=f"atlas-watch-{uuid.uuid4().hex[:8]}",
        method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
        register_options=options,
    )
    try:
        await ls.client_register_capability_async(types.RegistrationParams(registrations=[registration]))
    except Exception as error:  # noqa: BLE001 - watching is optional; saves still refresh the index
        logger.info("file watching not registered: %s", error)
