"""Every grammar folder loads, every query compiles with known captures, and the queries find what the
fixture files assert inline (`<comment> ^ @capture` marks a column of the line above; `<-` marks the comment's
own column; `!@capture` asserts the capture is absent there)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tree_sitter import Language, Node

from atlas_lsp.syntax.document import SyntaxDocument
from atlas_lsp.syntax.queries import UnknownCaptureError, captures, compile_query
from atlas_lsp.syntax.registry import (
    QUERY_FILES,
    LanguageRegistry,
    LanguageSpec,
    grammars_dir,
    load_language,
    load_registry,
    query_source,
)
from atlas_lsp.syntax.symbols import definitions

FIXTURES = Path(__file__).parent / "fixtures"
LANGUAGES = ["python", "javascript", "typescript", "tsx", "go", "rust", "java", "c", "cpp"]
ASSERTION = re.compile(r"^(?P<indent>\s*)(?P<comment>#|//)(?P<rest>.*)$")


def test_every_language_loads() -> None:
    registry = load_registry()
    assert registry.problems == []
    assert set(LANGUAGES) <= set(registry.languages)
    for name in LANGUAGES:
        assert set(registry.languages[name].queries) == set(QUERY_FILES), name


def test_a_files_language_by_its_suffix() -> None:
    """A path as text or as a Path; suffixes remembered per set of languages (one added later is found)."""
    registry = load_registry()
    python = registry.languages["python"]
    assert registry.for_path("/w/a.py") is registry.for_path(Path("/w/a.py")) is python
    assert registry.for_path("/w/pkg.d/a.py") is registry.for_path("a.b/.c.py") is python
    assert registry.for_path("/w/Makefile") is registry.for_path("/w/a.") is registry.for_path("/w/py") is None
    assert registry.for_path("/w/main.go") is registry.languages["go"]
    growing = LanguageRegistry()
    assert growing.for_path("/w/a.py") is None
    growing.languages["python"] = python
    assert growing.for_path("/w/a.py") is python


@pytest.mark.parametrize("name", LANGUAGES)
def test_queries_compile_against_their_grammar(name: str) -> None:
    spec = load_language(grammars_dir() / name)
    for kind in QUERY_FILES:
        source = query_source(grammars_dir() / name, kind)
        assert source is not None and "@" in source, (name, kind)
        compile_query(spec.language, source)


def test_a_dialect_inherits_its_base_languages_queries(tmp_path: Path) -> None:
    """TSX's query files are one line, `; inherits: typescript`: TypeScript's patterns, then the file's own (and
    TypeScript's own textobjects, imports and references come from JavaScript's)."""
    typescript_references = query_source(grammars_dir() / "typescript", "references")
    assert typescript_references is not None
    assert typescript_references.startswith(query_source(grammars_dir() / "javascript", "references") or "-")
    for kind in QUERY_FILES:
        assert query_source(grammars_dir() / "tsx", kind) == (
            f"{query_source(grammars_dir() / 'typescript', kind)}\n; inherits: typescript\n"
        )
    import shutil

    for name in ("javascript", "typescript", "tsx"):
        shutil.copytree(grammars_dir() / name, tmp_path / name)
    (tmp_path / "tsx" / "tags.scm").write_text("; inherits: typescript\n(jsx_element) @definition.type\n")
    assert query_source(tmp_path / "tsx", "tags").endswith("(jsx_element) @definition.type\n")
    (tmp_path / "typescript" / "tags.scm").write_text("; inherits: tsx\n")
    with pytest.raises(ValueError, match="inherits it back"):
        query_source(tmp_path / "tsx", "tags")
    shutil.copy(grammars_dir() / "typescript" / "tags.scm", tmp_path / "typescript" / "tags.scm")
    (tmp_path / "tsx" / "imports.scm").write_text("; inherits: elm\n")
    registry = load_registry(tmp_path)
    assert "tsx" not in registry.languages and any("elm" in problem for problem in registry.problems)


def test_unknown_capture_names_are_rejected() -> None:
    import tree_sitter_python

    language = Language(tree_sitter_python.language())
    with pytest.raises(UnknownCaptureError, match=r"definition\.fn"):
        compile_query(language, "(function_definition) @definition.fn")
    compile_query(language, "(function_definition name: (identifier) @_helper) @definition.function")


def test_a_broken_language_degrades_and_the_rest_load(tmp_path: Path) -> None:
    import shutil

    for name in ("python", "go"):
        shutil.copytree(grammars_dir() / name, tmp_path / name)
    (tmp_path / "go" / "tags.scm").write_text("(no_such_node) @definition.function")
    registry = load_registry(tmp_path)
    assert list(registry.languages) == ["python"]
    assert registry.problems and "go" in registry.problems[0] and "tags.scm" in registry.problems[0]


def parse_assertions(text: str) -> list[tuple[int, int, str, bool]]:
    """(row, column, capture, expected present) for each inline assertion."""
    assertions: list[tuple[int, int, str, bool]] = []
    code_row = -1
    for row, line in enumerate(text.split("\n")):
        match = ASSERTION.match(line)
        rest = match.group("rest") if match else ""
        if match and ("<-" in rest or re.match(r"\s*\^", rest)):
            arrow = "<-" in rest
            column = len(match.group("indent")) if arrow else len(line) - len(line.lstrip()) + line.lstrip().index("^")
            for negated, capture in re.findall(r"(!?)@([\w.]+)", rest):
                assertions.append((code_row, column, capture, not negated))
        else:
            code_row = row
    return assertions


def capture_starts(spec: LanguageSpec, roots: list[Node]) -> dict[str, set[tuple[int, int]]]:
    starts: dict[str, set[tuple[int, int]]] = {}
    for query in spec.queries.values():
        for root in roots:
            for capture, nodes in captures(query, root).items():
                starts.setdefault(capture, set()).update((n.start_point.row, n.start_point.column) for n in nodes)
    return starts


@pytest.mark.parametrize("name", LANGUAGES)
def test_fixture_assertions(name: str) -> None:
    registry = load_registry()
    spec = registry.languages[name]
    fixture = next(FIXTURES.glob(f"{name}.*"))
    source = fixture.read_bytes()
    tree = spec.parser().parse(source)
    starts = capture_starts(spec, [tree.root_node])
    assertions = parse_assertions(source.decode())
    assert len(assertions) >= 5
    failures = [
        f"line {row + 1}, column {column}: @{capture} {'missing' if present else 'unexpected'}"
        for row, column, capture, present in assertions
        if ((row, column) in starts.get(capture, set())) != present
    ]
    assert failures == []


@pytest.mark.parametrize("name", LANGUAGES)
def test_queries_find_the_same_in_a_document_parsed_in_segments(name: str) -> None:
    """Open documents are parsed in segments of top-level statements; every query must see what a whole-file
    parse sees, doc comments included (a one-byte segment size cuts before every top-level statement it may)."""
    spec = load_registry().languages[name]
    text = next(FIXTURES.glob(f"{name}.*")).read_text()
    whole = spec.parser().parse(text.encode())
    document = SyntaxDocument(spec, text, segment_bytes=1)
    assert document.segments > 3
    assert document.sexp() == str(whole.root_node)
    assert capture_starts(spec, document.roots) == capture_starts(spec, [whole.root_node])
    source = text.encode()
    assert definitions(spec, document.roots, source, "f") == definitions(spec, [whole.root_node], source, "f")
