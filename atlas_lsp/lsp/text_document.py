"""Open documents kept as lists of lines, so a keystroke costs the lines it touches.

pygls's TextDocument re-splits and rewrites the whole text on every incremental change and splits it again for
every position conversion: about a millisecond per keystroke on a 2,000-line file, on the path of every
completion. BufferedTextDocument keeps the lines, splices an edit into them, and joins the text (and builds the
line tuple) at most once per change, when someone asks. Its edits give exactly pygls's results (tested against
it); the workspace builds these documents instead of pygls's own (AtlasProtocol installs BufferedWorkspace).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from urllib.parse import unquote

from lsprotocol import types
from pygls.workspace import ServerTextPosition, TextDocument, Workspace

from atlas_lsp.lsp.positions import cursor_position

logger = logging.getLogger(__name__)


def split_lines(text: str) -> list[str]:
    """``text`` as lines with their endings, as pygls splits them (``str.splitlines(keepends=True)``)."""
    return text.splitlines(True)


class BufferedTextDocument(TextDocument):
    """A pygls TextDocument whose text lives in a list of lines (each with its line ending)."""

    def __init__(self, uri: str, source: str | None = None, **options: object) -> None:
        super().__init__(uri, source=source, **options)  # type: ignore[arg-type]
        self._buffered = source is not None  # without a source, pygls reads the file from disk: leave that to it
        self._line_list: list[str] = split_lines(source) if source is not None else []
        self._joined: str | None = source
        self._line_tuple: tuple[str, ...] | None = None

    def _changed(self) -> None:
        self._joined = None
        self._line_tuple = None

    @property
    def source(self) -> str:
        if not self._buffered:
            return super().source
        if self._joined is None:
            self._joined = "".join(self._line_list)
        return self._joined

    @property
    def lines(self) -> Sequence[str]:
        if not self._buffered:
            return super().lines
        if self._line_tuple is None:
            self._line_tuple = tuple(self._line_list)
        return self._line_tuple

    def position_from_client_units(self, position: types.Position) -> ServerTextPosition:
        """The cursor at ``position``: see `cursor_position`."""
        return cursor_position(self._position_codec, self.lines, position)

    def _apply_incremental_change(self, change: types.TextDocumentContentChangePartial) -> None:
        if not self._buffered:
            super()._apply_incremental_change(change)
            return
        lines = self._line_list
        server_range = self._position_codec.range_from_client_units(lines, change.range)
        first, last = server_range.start.line, server_range.end.line
        head = lines[first][: server_range.start.character] if first < len(lines) else ""
        tail = lines[last][server_range.end.character :] if last < len(lines) else ""
        # re-split with one neighbour on each side: a lone "\r" meeting a "\n" across the edit's edges is one line
        # ending in the whole text
        low, high = max(first - 1, 0), min(last + 2, len(lines))
        window = "".join(lines[low:first]) + head + change.text + tail + "".join(lines[last + 1 : high])
        lines[low:high] = split_lines(window)
        self._changed()

    def _apply_full_change(self, change: types.TextDocumentContentChangeEvent) -> None:
        super()._apply_full_change(change)
        self._buffered = True
        self._line_list = split_lines(change.text)
        self._changed()


class BufferedWorkspace(Workspace):
    """pygls's Workspace, building BufferedTextDocuments."""

    def update_text_document(
        self, text_doc: types.VersionedTextDocumentIdentifier, change: types.TextDocumentContentChangeEvent
    ) -> None:
        """pygls's, except that a change to a document that is not open is ignored, with a line in the log once per
        document (pygls raised KeyError, which reached the editor as an internal error naming only the URI)."""
        uri = unquote(text_doc.uri)
        if uri not in self.text_documents:
            # (AtlasProtocol turns pygls's Workspace into this class without calling __init__)
            logged: set[str] = self.__dict__.setdefault("_unopened_changed", set())
            if uri not in logged:
                logged.add(uri)
                logger.warning(
                    "ignored changes to a document that is not open (no didOpen, or after didClose): %s", uri
                )
            return
        super().update_text_document(text_doc, change)

    def _create_text_document(
        self,
        doc_uri: str,
        source: str | None = None,
        version: int | None = None,
        language_id: str | None = None,
    ) -> TextDocument:
        return BufferedTextDocument(
            doc_uri,
            source=source,
            version=version,
            language_id=language_id,
            sync_kind=self._sync_kind,
            position_codec=self._position_codec,
        )
