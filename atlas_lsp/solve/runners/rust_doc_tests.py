"""A Rust function's own doc-tests: the code blocks of its doc comment (`///` lines or a `/** … */` block) that
`cargo test --doc` runs, as test ids (``src/shapes.rs::area (doc-test, line 3)``), and how their results are found
in rustdoc's output.

rustdoc names a doc-test ``<file> - <item path> (line <n>)``, the file relative to the workspace, the line that of
the block's opening fence (one less in a `/**` block whose first line is empty: rustdoc drops that line before it
counts). Its filters cannot hold spaces (cargo splits them), so the run selects by the start of the item path
(``shapes::Grid`` for ``shapes::Grid<T>::two``) and the results are read by file and line."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

_FENCE = re.compile(r"^\s*(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
_DOC_NAME = re.compile(r"^(?P<file>\S+) - .* \(line (?P<line>\d+)\)(?: - compile(?: fail)?)?$")
_ID = re.compile(r"^(?P<file>[^:]+)::(?P<path>.+) \(doc-test, line (?P<line>\d+)\)$")
# words of a code block's info string that keep it a Rust doc-test (rustdoc's own; any other word, "text" or
# "python", makes it something else); "ignore" blocks are left out (rustdoc lists them as ignored)
_RUST_WORDS = {"rust", "should_panic", "no_run", "compile_fail", "test_harness", "standalone_crate"}


@dataclass(frozen=True)
class DocTest:
    node_id: str  # src/shapes.rs::Grid::two (doc-test, line 4)
    source: str  # the block's code, as the model is shown it


def is_doc_test(node_id: str) -> bool:
    return _ID.match(node_id) is not None


def _tested_block(info: str) -> bool:
    words = [word for word in re.split(r"[\s,]+", info.strip()) if word]
    if any(word == "ignore" or word.startswith("ignore-") for word in words):
        return False
    return all(
        word in _RUST_WORDS or re.fullmatch(r"edition\d{4}|E\d{4}|\{.*\}|\..+", word) is not None for word in words
    )


def doc_comment_lines(lines: list[str], start_line: int) -> list[tuple[int, str]]:
    """The doc comment above the item starting at 0-based ``start_line`` as rustdoc reads it, top first: (0-based
    line as rustdoc numbers it, text). Its parts (`///` lines, `/** … */` blocks without their markers and their
    column of `*`) are joined, and rustdoc numbers the joined lines from the first part's line on, so a line's
    number is not always its place in the file (an attribute or a comment between two parts, or the opening or
    closing line of a block, does not count). Attributes, plain comments and blank lines between the parts and the item
    are passed over."""
    parts: list[tuple[int, list[str]]] = []  # (first line, its lines), nearest the item first
    index = start_line - 1
    while index >= 0:
        stripped = lines[index].strip()
        if stripped.startswith("///") and not stripped.startswith("////"):
            text = stripped[3:]
            parts.append((index, [text[1:] if text.startswith(" ") else text]))
        elif stripped.endswith("*/"):
            opening = _block_opening(lines, index)
            if opening is None:
                break
            if _is_outer_doc_block(lines[opening].strip()):
                parts.append((opening, _block_doc_lines(lines, opening, index)))
            index = opening
        elif stripped and not stripped.startswith("//") and not (stripped.startswith("#[") and stripped.endswith("]")):
            break
        index -= 1
    if not parts:
        return []
    first_line = parts[-1][0]
    joined = [text for _, texts in reversed(parts) for text in texts]
    return [(first_line + offset, text) for offset, text in enumerate(joined)]


def _block_opening(lines: list[str], closing: int) -> int | None:
    """The line where the block comment that ends on line ``closing`` starts (its nearest `/*` at or above)."""
    for index in range(closing, -1, -1):
        text = lines[index] if index != closing else lines[index].strip()[:-2]
        if "/*" in text:
            return index
    return None


def _is_outer_doc_block(opening_line: str) -> bool:
    """`/** … */` documents the item below; `/*** … */` and `/**/` are plain comments, `/*! … */` its parent."""
    return opening_line.startswith("/**") and not opening_line.startswith(("/***", "/**/"))


def _block_doc_lines(lines: list[str], opening: int, closing: int) -> list[str]:
    """A `/** … */` block's lines as rustdoc reads them (rustc's beautify_doc_string, as cargo 1.95 numbered
    them): a first line of nothing but `*` (or nothing) dropped, a last one too, the column of `*` that starts
    every line below the first removed with the space after it; a last line left empty is no line."""
    first = lines[opening].strip()[3:]
    if opening == closing:
        return [first[:-2].strip()]
    body = [first, *lines[opening + 1 : closing], lines[closing].rstrip()[:-2]]
    start = 1 if set(body[0]) <= {"*"} else 0
    end = len(body) - 1 if len(body) > start + 1 and body[-1] and set(body[-1]) <= {"*"} else len(body)
    kept = body[start:end]
    below_first = [line for line in (kept[1:] if start == 0 else kept) if line.strip()]
    if below_first and all(line.lstrip().startswith("*") for line in below_first):
        kept = [_unstar(line) if line.lstrip().startswith("*") else line.strip() for line in kept]
    if kept and not kept[-1]:
        kept.pop()
    return kept


def _unstar(line: str) -> str:
    text = line.lstrip()[1:]
    return text[1:] if text.startswith(" ") else text


def doc_tests(file: str, item_path: list[str], text: str, start_line: int) -> list[DocTest]:
    """The doc-tests of the item at 0-based ``start_line`` of ``text`` (the file ``file``, relative to the project;
    ``item_path``: the names of the item within the file, outermost first, its own last)."""
    tests: list[DocTest] = []
    fence: str | None = None
    opened, tested, body = 0, False, []
    for number, line in doc_comment_lines(text.split("\n"), start_line):
        found = _FENCE.match(line)
        if fence is None and found:
            fence, opened, tested, body = found.group("fence"), number, _tested_block(found.group("info")), []
        elif fence is not None and line.strip().startswith(fence[0] * len(fence)) and not line.strip()[len(fence) :]:
            if tested:
                name = f"{'::'.join(item_path)} (doc-test, line {opened + 1})"
                tests.append(DocTest(f"{file}::{name}", textwrap.dedent("\n".join(body))))
            fence = None
        elif fence is not None:
            body.append(line)
    return tests


def doc_filter(module: list[str], node_id: str) -> str:
    """A filter (no spaces) that rustdoc's name of the doc-test ``node_id`` contains: its item path up to where
    rustdoc may print it otherwise (generic arguments, spaces)."""
    found = _ID.match(node_id)
    assert found is not None
    path = "::".join([*module, found.group("path")])
    return re.split(r"[<\s]", path, maxsplit=1)[0]


def doc_key(node_id: str, crate_relative: PurePosixPath) -> tuple[str, int]:
    """How the results of ``node_id`` are found: its file relative to its crate, and its block's line."""
    found = _ID.match(node_id)
    assert found is not None
    return crate_relative.as_posix(), int(found.group("line"))


def result_key(name: str) -> tuple[str, int] | None:
    """(file as rustdoc printed it, line) of a doc-test result's name; None for another test's."""
    found = _DOC_NAME.match(name)
    return (found.group("file"), int(found.group("line"))) if found else None


def same_file(printed: str, crate_relative: str) -> bool:
    """rustdoc prints a file relative to the workspace: ``crates/geo/src/lib.rs`` for a crate's ``src/lib.rs``."""
    return printed == crate_relative or printed.endswith("/" + crate_relative)


def has_library(crate: Path) -> bool:
    """Doc-tests exist for a library only (``src/lib.rs``, or a ``[lib]`` section naming another file)."""
    if (crate / "src" / "lib.rs").is_file():
        return True
    try:
        return "[lib]" in (crate / "Cargo.toml").read_text(encoding="utf-8")
    except OSError:
        return False
