"""pygls's protocol, plus an error *response* for a request whose params do not parse, and faster documents.

pygls 2.1 raises while decoding such a request and never answers it, so the client waits forever. Here the
request gets a JSON-RPC error naming the method and the problem, and the server reads on.

Document text with a lone UTF-16 surrogate (valid JSON, `"\\ud800"`, but no character; a JavaScript editor can hold
one) has each such surrogate replaced by U+FFFD, one code unit for another, so positions still match: Python
cannot encode it, and parsing, tokenizing and every completion in that file failed.

The workspace pygls builds at `initialize` is made a BufferedWorkspace (its documents splice edits into a list of
lines instead of rewriting the whole text per keystroke; see atlas_lsp/lsp/text_document.py), and its position
codec a FastPositionCodec (atlas_lsp/lsp/positions.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.json_rpc import JsonRPCNotification
from pygls.workspace import Workspace

from atlas_lsp.lsp.positions import make_fast
from atlas_lsp.lsp.text_document import BufferedWorkspace

logger = logging.getLogger(__name__)
REJECTED_NOTIFICATION = "atlas/internal/rejectedRequest"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _encodable(text: Any) -> Any:
    """``text`` with lone surrogates replaced by U+FFFD (anything but a string as it is)."""
    if not isinstance(text, str) or text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _LONE_SURROGATE.sub("\ufffd", text)
    return text


def _clean_text(data: Any) -> None:
    """Make the document text a message carries encodable, in place (see the module's docstring)."""
    method, params = data.get("method"), data.get("params")
    if not isinstance(params, dict):
        return
    if method == types.TEXT_DOCUMENT_DID_OPEN and isinstance(params.get("textDocument"), dict):
        params["textDocument"]["text"] = _encodable(params["textDocument"].get("text"))
    elif method == types.TEXT_DOCUMENT_DID_CHANGE:
        _clean_items(params.get("contentChanges"))
    elif method == types.TEXT_DOCUMENT_INLINE_COMPLETION and isinstance(params.get("context"), dict):
        selected = params["context"].get("selectedCompletionInfo")
        if isinstance(selected, dict):
            selected["text"] = _encodable(selected.get("text"))
    elif method == types.NOTEBOOK_DOCUMENT_DID_OPEN:
        _clean_items(params.get("cellTextDocuments"))
    elif method == types.NOTEBOOK_DOCUMENT_DID_CHANGE:
        change = params.get("change")
        cells = change.get("cells") if isinstance(change, dict) else None
        if isinstance(cells, dict):
            structure = cells.get("structure")
            _clean_items(structure.get("didOpen") if isinstance(structure, dict) else None)
            contents = cells.get("textContent")
            for content in contents if isinstance(contents, list) else []:
                _clean_items(content.get("changes") if isinstance(content, dict) else None)


def _clean_items(items: Any) -> None:
    """Each dict's "text" in ``items`` (a list, or anything else, left as it is) made encodable."""
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and "text" in item:
            item["text"] = _encodable(item["text"])


def _cause(error: BaseException) -> str:
    cause = error.__cause__
    while cause is not None and cause.__cause__ is not None and not isinstance(cause, KeyError):
        cause = cause.__cause__
    if isinstance(cause, KeyError):
        return f"missing field {cause}"
    return str(cause or error)


class AtlasProtocol(LanguageServerProtocol):
    on_message: Callable[[], None] | None = None  # told of every message from the client (atlas_lsp/idle_gc.py)

    @property
    def _workspace(self) -> Workspace | None:
        return self.__dict__.get("_atlas_workspace")

    @_workspace.setter
    def _workspace(self, workspace: Workspace | None) -> None:
        if type(workspace) is Workspace:
            workspace.__class__ = BufferedWorkspace  # same state; only how it builds documents differs
            make_fast(workspace.position_codec)  # (its documents share it)
        self.__dict__["_atlas_workspace"] = workspace

    def structure_message(self, data: Any) -> Any:
        if self.on_message is not None:
            self.on_message()
        if isinstance(data, dict) and "method" in data:
            _clean_text(data)
        try:
            return super().structure_message(data)
        except JsonRpcException as error:
            if not (isinstance(data, dict) and "id" in data and "method" in data):
                raise
            method = data.get("method")
            message = f"{method}: invalid params ({_cause(error)})"
            logger.warning("rejected request %s: %s", data.get("id"), message)
            self._send_response(data["id"], error=types.ResponseError(code=error.code, message=message))
            return JsonRPCNotification(method=REJECTED_NOTIFICATION, jsonrpc="2.0", params=None)

    def warm_up(self) -> None:
        """Have cattrs build its (un)structure code for the messages of typing (a change, a completion request and
        its answer) now, at start-up, instead of on the user's first keystroke (about 5 ms the first time)."""
        position = {"line": 0, "character": 0}
        where = {"textDocument": {"uri": "file:///warm-up.py"}, "position": position}
        for method, params in (
            (types.TEXT_DOCUMENT_INLINE_COMPLETION, {**where, "context": {"triggerKind": 2}}),
            (types.TEXT_DOCUMENT_COMPLETION, where),
        ):
            LanguageServerProtocol.structure_message(
                self, {"jsonrpc": "2.0", "id": 0, "method": method, "params": params}
            )
        change = {"range": {"start": position, "end": position}, "text": "x"}
        LanguageServerProtocol.structure_message(
            self,
            {
                "jsonrpc": "2.0",
                "method": types.TEXT_DOCUMENT_DID_CHANGE,
                "params": {"textDocument": {"uri": "file:///warm-up.py", "version": 1}, "contentChanges": [change]},
            },
        )
        span = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0))
        command = types.Command(title="accepted", command="atlas.didAcceptCompletion", arguments=[{"chars": 1}])
        inline = types.InlineCompletionItem(insert_text="x", range=span, command=command)
        item = types.CompletionItem(label="x", insert_text="x", command=command)
        self._converter.unstructure(types.InlineCompletionResponse(id=0, result=types.InlineCompletionList([inline])))
        self._converter.unstructure(types.CompletionResponse(id=0, result=types.CompletionList(False, [item])))
