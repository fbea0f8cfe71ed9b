"""Per-server context state: parsed open documents, the workspace index, recent edits."""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from atlas_lsp.context.assemble import (
    ContextPart,
    RecentEdit,
    collect_line_names,
    completion_context,
    defined_and_imported,
    open_file_summary,
    render,
)
from atlas_lsp.context.index import IndexStats, WorkspaceIndex
from atlas_lsp.prompts.completion import ContextFile
from atlas_lsp.syntax.document import (
    LARGEST_PARSED_CHARS,
    LONGEST_PARSED_LINE,
    SyntaxDocument,
    TextEdit,
    has_lone_carriage_return,
    unparsed_reason,
)
from atlas_lsp.syntax.registry import LanguageRegistry, load_registry

logger = logging.getLogger(__name__)
PASTE_CHARS = 1_000  # an inserted text longer than this may make a file not parsed (see _reason_to_set_aside)
NAMES_SLICE_S = 0.002  # names are collected in slices this long, between which the event loop handles messages


@dataclass(frozen=True)
class AssembledContext:
    parts: list[ContextPart]
    text: str  # the parts rendered as comments + code, for prompts without file markers
    files: list[ContextFile] = field(default_factory=list)  # the parts by file, for repo-level FIM
    repo: str = ""
    path: str = ""  # the current file, relative to the workspace root


class ContextService:
    """Knows nothing about LSP: paths, (line, code-point column) positions and text edits."""

    def __init__(self, registry: LanguageRegistry | None = None) -> None:
        self.registry = registry or load_registry()
        self.index = WorkspaceIndex(self.registry)
        self.documents: dict[str, SyntaxDocument] = {}
        self.language_ids: dict[str, str | None] = {}  # the language id each open file came with
        # open files of a known language that are not parsed (a line too long, a carriage return alone): parsed
        # again once their text no longer has that (`parse_again`)
        self.set_aside: set[str] = set()
        self.recent_edits: deque[RecentEdit] = deque(maxlen=16)

    def open(self, path: str, text: str, language_id: str | None = None) -> None:
        spec = self.registry.for_document(path, language_id)
        if spec is None:
            self.documents.pop(path, None)
            return  # unknown language: plain-text context only
        self.language_ids[path] = language_id
        reason = unparsed_reason(text)
        if reason is not None:
            self.documents.pop(path, None)
            self.set_aside.add(path)
            logger.info("not parsed (%s; plain-text context): %s", reason, path)
            return
        self.set_aside.discard(path)
        self.documents[path] = SyntaxDocument(spec, text)

    def parse_again(self, path: str, text: str) -> bool:
        """``path`` was set aside (see `set_aside`) and has changed: parse it when ``text`` (its whole text now) no
        longer has what set it aside; True when it is parsed again."""
        if path not in self.set_aside or unparsed_reason(text) is not None:
            return False
        self.open(path, text, self.language_ids.get(path))
        logger.info("parsed again: %s", path)
        return path in self.documents

    def prepare(self, path: str) -> None:
        """Compute what context assembly keeps per document (its defined and imported names) ahead of the first
        completion in it."""
        document = self.documents.get(path)
        if document is not None:
            defined_and_imported(document)

    def summarise(self, path: str) -> None:
        """Compute what completions in other files take from this one (its skeleton and words) ahead of them; a
        few milliseconds for a large file, which a completion in the file just opened does not need."""
        document = self.documents.get(path)
        if document is not None:
            open_file_summary(document, path, document.spec.line_comment)

    def collect_names(self, path: str, seconds: float = NAMES_SLICE_S) -> bool:
        """Compute the names used on each line of ``path`` (what a completion's window of lines ranks definitions
        by) for its segments that lack them, for up to ``seconds``; True when some are left for another call."""
        document = self.documents.get(path)
        return document is not None and collect_line_names(document, time.perf_counter() + seconds)

    def change(self, path: str, edits: list[TextEdit | str]) -> None:
        """Apply the client's edits in order; a plain string replaces the whole text."""
        document = self.documents.get(path)
        if document is None:
            return
        for edit in edits:
            if isinstance(edit, str):
                if unparsed_reason(edit) is not None:
                    self.open(path, edit, self.language_ids.get(path))  # not parsed any more (see open)
                    return
                document.replace_all(edit)
                continue
            document.apply(edit)
            reason = _reason_to_set_aside(document, edit)
            if reason is not None:
                self.documents.pop(path, None)
                self.set_aside.add(path)
                logger.info("not parsed any more (%s; plain-text context): %s", reason, path)
                return
            if edit.new_text.strip():
                start, _ = document.point(max(0, edit.start_line - 2), 0)
                end, _ = document.point(edit.start_line + 3, 0)
                snippet = document.source[start:end].decode("utf-8", errors="replace")
                self._remember(RecentEdit(path, edit.start_line, snippet, document.spec.family))

    def _remember(self, edit: RecentEdit) -> None:
        if (
            self.recent_edits
            and self.recent_edits[-1].path == edit.path
            and abs(self.recent_edits[-1].line - edit.line) < 3
        ):
            self.recent_edits[-1] = edit
        else:
            self.recent_edits.append(edit)

    def close(self, path: str) -> None:
        self.documents.pop(path, None)
        self.set_aside.discard(path)
        self.language_ids.pop(path, None)

    def parse(self, path: str) -> bool:
        """Parse the parts of ``path`` edited since they were last parsed (reading its trees would); True when
        there were any."""
        document = self.documents.get(path)
        if document is None:
            return False
        parses = document.incremental_parses
        document.parse()
        return document.incremental_parses != parses

    def saved(self, path: str) -> None:
        self.index.update_file(Path(path))

    def build_index(self, roots: list[Path], progress=None) -> IndexStats:  # type: ignore[no-untyped-def]
        return self.index.build(roots, progress)

    def for_completion(
        self, path: str, line: int, column: int, budget: int, visible_from_line: int
    ) -> AssembledContext:
        document = self.documents.get(path)
        if document is None or budget <= 0:
            return AssembledContext([], "")
        parts = completion_context(
            document,
            path,
            line,
            column,
            self.index if self.index.ready else None,
            self.documents,
            list(self.recent_edits),
            budget,
            visible_from_line=visible_from_line,
        )
        root = self.index.roots[0] if self.index.roots else None

        def relative(label: str) -> str:
            try:
                return str(Path(label).relative_to(root)) if root is not None else label
            except ValueError:
                return label

        files = [ContextFile(relative(part.label), part.text) for part in parts]
        repo = root.name if root is not None else ""
        return AssembledContext(parts, render(parts, document.spec.line_comment, root), files, repo, relative(path))


def _reason_to_set_aside(document: SyntaxDocument, edit: TextEdit) -> str | None:
    """What ``edit``, just applied, brought that a file is not parsed with (see `unparsed_reason`), or None. Only an
    edit's own text can bring a carriage return alone (LSP positions cannot split "\r\n"); only a long insertion (a
    paste) or lines joined can make a line too long, or a paste the file too large: a keystroke costs a comparison.
    The lines inside the inserted text are its own; the first and last it touches join old text."""
    if "\r" in edit.new_text and has_lone_carriage_return(document.source):
        return "a carriage return without a line feed"
    pasted = len(edit.new_text) > PASTE_CHARS
    if not pasted and edit.end_line == edit.start_line:
        return None
    if pasted and len(document.source) > LARGEST_PARSED_CHARS and len(document.text) > LARGEST_PARSED_CHARS:
        return f"over {LARGEST_PARSED_CHARS:,} characters"
    lines = edit.new_text.split("\n")
    too_long = len(lines) > 2 and max(map(len, lines[1:-1])) > LONGEST_PARSED_LINE
    first, last = edit.start_line, edit.start_line + len(lines) - 1
    if too_long or any(len(document.line_text(line) or "") > LONGEST_PARSED_LINE for line in {first, last}):
        return f"a line over {LONGEST_PARSED_LINE:,} characters"
    return None
