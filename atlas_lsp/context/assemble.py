"""Context assembly: ranked parts, each labelled with its file, fitted into a token budget. Pure functions."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from tree_sitter import Node

from atlas_lsp.context.index import WorkspaceIndex
from atlas_lsp.syntax.document import SyntaxDocument
from atlas_lsp.syntax.symbols import (
    Definition,
    LineNames,
    defined_names,
    definitions,
    imported_names,
    names_by_line,
)

WINDOW_LINES = 20
LINE_NAMES = "names-by-line"  # the per-segment value `line_names` keeps
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class ContextPart:
    """One piece of context: where it comes from, why it was chosen, and its text."""

    kind: str  # enclosing | definition | import | open-file | recent-edit
    label: str  # the file it comes from
    text: str
    reason: str
    score: float
    tokens: int = 0


@dataclass(frozen=True)
class RecentEdit:
    path: str
    line: int
    text: str
    family: str = ""  # the edited file's language family ("": any)


def approx_tokens(text: str) -> int:
    """A cheap token estimate for ranking and budgets (code averages about 3.5 characters a token)."""
    return len(text) * 2 // 7 + 1


def fit_to_budget(
    parts: Iterable[ContextPart], budget: int, count: Callable[[str], int] = approx_tokens
) -> list[ContextPart]:
    """The best-scored parts that fit ``budget`` tokens, each once, best first."""
    chosen: list[ContextPart] = []
    seen: set[str] = set()
    used = 0
    for part in sorted(parts, key=lambda p: -p.score):
        if part.text in seen:
            continue
        tokens = count(part.text)
        if used + tokens > budget:
            continue
        chosen.append(replace(part, tokens=tokens))
        seen.add(part.text)
        used += tokens
    return chosen


def render(parts: list[ContextPart], comment: str, root: Path | None = None) -> str:
    """Parts as the prompt shows them: each under a comment naming its file."""
    blocks = []
    for part in parts:
        label = part.label
        if root is not None:
            try:
                label = str(Path(label).relative_to(root))
            except ValueError:
                pass
        blocks.append(f"{comment} {label}\n{part.text.rstrip()}\n")
    return "\n".join(blocks) + ("\n" if blocks else "")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text))


def _enclosing_parts(
    local: list[Definition], line: int, path: str, comment: str, visible_from_line: int
) -> list[ContextPart]:
    """Enclosing functions/classes whose signature the prompt's own window does not already show."""
    containing = [
        d
        for d in local
        if d.start_line <= line <= d.end_line
        and d.kind in ("function", "method", "class")
        and d.start_line < visible_from_line
    ]
    return [
        ContextPart("enclosing", path, d.skeleton(comment), f"the cursor is inside {d.kind} {d.name}", 100.0 - i)
        for i, d in enumerate(sorted(containing, key=lambda d: d.start_byte))
    ]


def _definition_parts(
    names: list[str], imported: set[str], index: WorkspaceIndex, path: str, comment: str, family: str
) -> list[ContextPart]:
    """The definitions in the workspace (of the document's language family) of the names used near the cursor and
    of those the file imports."""
    parts: list[ContextPart] = []
    for rank, name in enumerate(names[:40]):
        for definition in index.lookup(name, family)[:3]:
            if definition.path == path:
                continue
            why = "imported and used near the cursor" if name in imported else "used near the cursor"
            score = 60.0 - rank + (10.0 if name in imported else 0.0)
            skeleton = index.skeleton(definition, comment)
            parts.append(ContextPart("definition", definition.path, skeleton, f"{name}: {why}", score))
    for name in sorted(imported - set(names)):  # (in name order: a set's order changes from run to run)
        for definition in index.lookup(name, family)[:2]:
            if definition.path != path:
                skeleton = index.skeleton(definition, comment)
                parts.append(ContextPart("import", definition.path, skeleton, f"{name}: imported", 30.0))
    return parts


SegmentSummary = tuple[tuple[tuple[str, str], ...], frozenset[str]]  # (kind, skeleton) of its definitions; its words


def open_file_summary(document: SyntaxDocument, path: str, comment: str) -> tuple[str, frozenset[str]]:
    """What a completion in another file takes from this open one: its definitions with their bodies collapsed
    (its methods too, unless there are 30 or more) and the words in it (for its similarity to the cursor's
    window). Kept per segment and joined per revision: after an edit only the edited segment is summarised again
    (a whole 2,000-line file took about 8 ms; with a few large files open, recomputing them took 4-21 ms a
    request), and `ContextService.summarise` computes them soon after a file opens."""
    spec = document.spec

    def summarise_segment(root: Node, start: int, end: int) -> SegmentSummary:
        source = document.source
        # a class's later pieces are parsed after its header: the class is the first piece's (doc included)
        own = [d for d in definitions(spec, [root], source, path) if d.start_byte >= start]
        words = frozenset(_WORD.findall(source[start:end].decode("utf-8", errors="replace")))
        return tuple((d.kind, d.skeleton(comment)) for d in own if d.kind != "field"), words

    def joined() -> tuple[str, frozenset[str]]:
        pieces = document.per_segment_span(f"open-file-summary:{path}:{comment}", summarise_segment)
        found = [item for skeletons, _ in pieces for item in skeletons]
        skeleton = "\n".join(text for kind, text in found if kind != "method" or len(found) < 30)
        return skeleton, frozenset().union(*(words for _, words in pieces))

    return document.derived(f"open-file-summary:{path}:{comment}", joined)


def _open_file_parts(
    window: Callable[[], str], open_documents: dict[str, SyntaxDocument], path: str, comment: str, family: str
) -> list[ContextPart]:
    """The open files of the document's language family, summarised, by their words' likeness to the cursor's
    ``window`` (read only when there is another such file)."""
    near: set[str] | None = None
    parts: list[ContextPart] = []
    for other_path, document in open_documents.items():
        if other_path == path or document.spec.family != family:
            continue
        if near is None:
            near = _words(window())
        skeleton, words = open_file_summary(document, other_path, comment)
        if not skeleton:
            continue
        shared = len(near & words)  # Jaccard, without building the union of a large file's words
        similarity = shared / ((len(near) + len(words) - shared) or 1)
        parts.append(
            ContextPart("open-file", other_path, skeleton, f"open file, similarity {similarity:.2f}", 20.0 * similarity)
        )
    return parts


def _recent_edit_parts(edits: list[RecentEdit], path: str, line: int, family: str) -> list[ContextPart]:
    """The latest edits of files of the document's language family, but those the prompt's own window shows."""
    parts = []
    for age, edit in enumerate(reversed(edits[-8:])):
        if edit.path == path and abs(edit.line - line) <= WINDOW_LINES:
            continue  # already in the prompt's own window
        if edit.family and edit.family != family:
            continue  # (an edit of a Go file says nothing to a Python completion)
        why = f"edited recently (line {edit.line + 1})"
        parts.append(ContextPart("recent-edit", edit.path, edit.text, why, 15.0 - age))
    return parts


def defined_and_imported(document: SyntaxDocument) -> tuple[set[str], set[str]]:
    """The names a document defines and the names it imports, remembered per segment: typing inside a line
    reuses them for a while (a name typed a moment ago may be missing, which ranking can live with); an edit
    that adds or removes lines recomputes its segment's."""
    spec, source = document.spec, document.source
    defined = document.per_segment(
        "defined", lambda root: frozenset(defined_names(spec, [root], source)), stale_edits=64
    )
    imported = document.per_segment(
        "imported",
        lambda root: frozenset(name for _, name in imported_names(spec, [root], source) if name),
        stale_edits=64,
    )
    return set().union(*defined), set().union(*imported)


def line_names(document: SyntaxDocument, start_byte: int, end_byte: int) -> list[tuple[int, LineNames]]:
    """The names used on each line of the segments that hold bytes ``start_byte``..``end_byte``, each segment's with
    the line it starts on. Remembered per segment: once computed, they survive typing inside its lines for a while,
    like `defined_and_imported`'s (a name typed a moment ago may be missing); an edit that adds or removes lines
    computes its segment's again."""
    spec, source = document.spec, document.source

    def by_line(root: Node, segment_start: int, segment_end: int) -> LineNames:
        return names_by_line(spec, root, source, segment_start, segment_end, document.line_of(segment_start))

    return document.per_segment_between(LINE_NAMES, by_line, start_byte, end_byte, stale_edits=64)


def window_names(document: SyntaxDocument, first_line: int, end_line: int) -> list[str]:
    """`referenced_names` of lines ``first_line``..``end_line`` (exclusive), most used first, added up from the
    names kept per line (`line_names`): a window costs a sum over its lines instead of a query over them (40 lines
    of Python on a 2-core Xeon: 0.04 ms instead of 0.24)."""
    start, _ = document.point(first_line, 0)
    end, _ = document.point(end_line, 0)
    counts: dict[str, int] = {}
    for segment_line, lines in line_names(document, start, end):
        for used in lines[max(0, first_line - segment_line) : max(0, end_line - segment_line)]:
            for name, weight in used:
                counts[name] = counts.get(name, 0) + weight
    return sorted(counts, key=lambda name: (-counts[name], name))  # ties by name: the same order in every run


def collect_line_names(document: SyntaxDocument, deadline: float) -> bool:
    """Compute `line_names` for the segments that lack them, until ``deadline`` (time.perf_counter); True when
    some are left (a completion computes those its window needs itself)."""
    for segment in document.segments_lacking(LINE_NAMES):  # (none, after most pauses in typing: a cheap check)
        if time.perf_counter() >= deadline:
            return True
        start, _ = document.segment_span(segment)
        line_names(document, start, start + 1)
    return False


def completion_context(
    document: SyntaxDocument,
    path: str,
    line: int,
    column: int,
    index: WorkspaceIndex | None,
    open_documents: dict[str, SyntaxDocument],
    recent_edits: list[RecentEdit],
    budget: int,
    count: Callable[[str], int] = approx_tokens,
    visible_from_line: int = 0,
) -> list[ContextPart]:
    """Ranked parts for a completion at (line, column): enclosing scope, definitions of names used near the cursor
    and of imported names (skeletons from the workspace index), similar open files, recent edits.

    Lines from ``visible_from_line`` on are already in the prompt, so enclosing definitions there are skipped.
    """
    spec = document.spec
    comment = spec.line_comment
    first, _ = document.point(max(0, line - WINDOW_LINES), 0)
    last, _ = document.point(line + WINDOW_LINES, 0)
    source = document.source
    line_start, _ = document.point(line, 0)
    line_end, _ = document.point(line + 1, 0)
    # what encloses the cursor's line: the tags query on the cursor's segment, over that line only
    segment = document.segment_root_at(line_start)
    enclosing = definitions(spec, [segment], source, path, span=(line_start, max(line_end, line_start + 1)))
    names = window_names(document, max(0, line - WINDOW_LINES), line + WINDOW_LINES)
    local_names, imported = defined_and_imported(document)
    wanted = [name for name in names if name not in local_names or name in imported]
    parts = _enclosing_parts(enclosing, line, path, comment, visible_from_line)
    if index is not None:
        parts += _definition_parts(wanted, imported, index, path, comment, spec.family)

    def window() -> str:
        return source[first:last].decode("utf-8", errors="replace")

    parts += _open_file_parts(window, open_documents, path, comment, spec.family)
    parts += _recent_edit_parts(recent_edits, path, line, spec.family)
    return fit_to_budget(parts, budget, count)
