import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from atlas_lsp.context import assemble
from atlas_lsp.context.assemble import ContextPart, RecentEdit, approx_tokens, completion_context, fit_to_budget
from atlas_lsp.context.index import WorkspaceIndex, workspace_files
from atlas_lsp.context.service import ContextService
from atlas_lsp.lsp.documents import IDLE_PARSE_S, SUMMARY_DELAY_S, on_did_open, schedule_idle_parse, uri_to_path
from atlas_lsp.server import build_server
from atlas_lsp.syntax import symbols
from atlas_lsp.syntax.document import LONGEST_PARSED_LINE, SyntaxDocument, TextEdit
from atlas_lsp.syntax.registry import load_registry

REGISTRY = load_registry()

SHAPES = '''class Circle:
    """A circle of a given radius."""

    def __init__(self, radius: float) -> None:
        self.radius = radius

    def area(self) -> float:
        """The area."""
        return 3.14159 * self.radius ** 2
'''

MAIN = """from geometry.shapes import Circle


def biggest(radii):
    circles = [Circle(r) for r in radii]
    return max(c.area() for c in circles)
"""


def make_workspace(root: Path) -> None:
    (root / "geometry").mkdir()
    (root / "geometry" / "shapes.py").write_text(SHAPES)
    (root / "main.py").write_text(MAIN)
    (root / "web.ts").write_text("export function greet(name: string): string { return name; }\n")
    (root / "node_modules" / "lib").mkdir(parents=True)
    (root / "node_modules" / "lib" / "index.js").write_text("function vendored() {}\n")
    (root / ".venv").mkdir()
    (root / ".venv" / "site.py").write_text("def hidden(): pass\n")
    (root / "blob.py").write_bytes(b"\x00\x01binary")
    (root / "latin1.py").write_bytes("x = 'caf\xe9'\n".encode("latin-1"))
    (root / "huge.py").write_text("x = 1\n" * 200_000)
    (root / "bundle.min.js").write_text("var a=[" + ",".join(["1"] * 15_000) + "];function minified(){}\n")


def test_a_definitions_skeleton_is_built_once_until_its_file_is_indexed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A class's skeleton (with its methods') is built from its file's definitions once, then remembered; indexing
    the file again (a save) forgets it, so a renamed method shows."""
    make_workspace(tmp_path)
    index = WorkspaceIndex(REGISTRY)
    index.build([tmp_path])
    built: list[str] = []
    build = symbols.class_skeleton
    monkeypatch.setattr(
        "atlas_lsp.context.index.class_skeleton",
        lambda definition, *rest: built.append(definition.name) or build(definition, *rest),  # type: ignore[func-returns-value]
    )
    (circle,) = index.lookup("Circle")
    skeleton = index.skeleton(circle, "#")
    assert skeleton == build(circle, index.file_definitions(circle.path), "#")
    assert "def area(self) -> float:" in skeleton and "return" not in skeleton
    assert index.skeleton(circle, "#") == skeleton and index.skeleton(circle, "//") == skeleton  # (a Python class)
    assert built == ["Circle", "Circle"]  # once per comment style
    shapes = tmp_path / "geometry" / "shapes.py"
    shapes.write_text(SHAPES.replace("def area(self)", "def size(self)"))
    index.update_file(shapes)
    (again,) = index.lookup("Circle")
    assert again == circle  # the class itself is as it was (same bytes, doc and signature)...
    assert "def size(self) -> float:" in index.skeleton(again, "#")  # ...but not its members
    assert built == ["Circle", "Circle", "Circle"]


def test_imported_names_unused_near_the_cursor_come_in_name_order(tmp_path: Path) -> None:
    """Their parts have one score: in name order, the same in every run (a set's order changes between runs, and
    with it which of them a tight budget kept)."""
    names = ["zeta", "alpha", "mu", "kappa", "omega", "beta", "delta", "sigma"]
    (tmp_path / "lib.py").write_text("".join(f"def {name}(x):\n    return x\n\n\n" for name in names))
    filler = "".join(f"value_{n} = {n}\n" for n in range(30))  # (the import out of the cursor's window)
    main = f"from lib import {', '.join(names)}\n{filler}\n\ndef run():\n    pass\n"
    (tmp_path / "main.py").write_text(main)
    service = ContextService(REGISTRY)
    service.build_index([tmp_path])
    path = str(tmp_path / "main.py")
    service.open(path, main)
    parts = completion_context(service.documents[path], path, 34, 8, service.index, service.documents, [], budget=2000)
    imported = [part.reason.split(":")[0] for part in parts if part.kind == "import"]
    assert imported == sorted(names)


def test_workspace_files_skip_vendored_and_virtualenv(tmp_path: Path) -> None:
    make_workspace(tmp_path)
    names = sorted(p.relative_to(tmp_path).as_posix() for p in workspace_files(tmp_path, REGISTRY.suffixes))
    assert "node_modules/lib/index.js" not in names and ".venv/site.py" not in names
    assert "geometry/shapes.py" in names and "web.ts" in names


def test_index_build_lookup_and_refresh(tmp_path: Path) -> None:
    make_workspace(tmp_path)
    index = WorkspaceIndex(REGISTRY)
    stats = index.build([tmp_path])
    assert stats.skipped == 4  # binary, undecodable, over the size cap, minified (a line of 30,000 characters)
    assert index.lookup("minified") == []
    (circle,) = index.lookup("Circle")
    assert circle.kind == "class" and circle.path.endswith("shapes.py") and "circle" in circle.doc
    assert index.lookup("greet")[0].signature.startswith("export function greet") or index.lookup("greet")
    assert index.lookup("vendored") == [] and index.lookup("hidden") == []
    (tmp_path / "geometry" / "shapes.py").write_text("class Square:\n    pass\n")
    index.update_file(tmp_path / "geometry" / "shapes.py")
    assert index.lookup("Circle") == [] and index.lookup("Square")
    (tmp_path / "geometry" / "shapes.py").unlink()
    index.update_file(tmp_path / "geometry" / "shapes.py")
    assert index.lookup("Square") == []


def test_a_huge_workspace_indexes_its_shallowest_files_up_to_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A workspace folder like a home directory: the shallowest files are indexed up to the cap, the rest counted
    (and shown in the progress message); a walk outside git stops after MAX_WALKED_FILES files."""
    from atlas_lsp.context import index as index_module

    for depth in range(4):
        folder = tmp_path.joinpath(*(["deeper"] * depth))
        folder.mkdir(parents=True, exist_ok=True)
        for number in range(3):
            (folder / f"mod_{depth}_{number}.py").write_text(f"def level_{depth}_{number}():\n    pass\n")
    monkeypatch.setattr(index_module, "MAX_INDEXED_FILES", 5)
    index = WorkspaceIndex(REGISTRY)
    stats = index.build([tmp_path])
    assert (stats.files, stats.left_out) == (5, 7)
    assert all(index.lookup(f"level_0_{number}") for number in range(3))  # the top level first
    assert index.lookup("level_1_0") and not index.lookup("level_3_0")
    monkeypatch.setattr(index_module, "MAX_WALKED_FILES", 4)
    assert len(workspace_files(tmp_path, REGISTRY.suffixes)) < 12


def test_a_minified_file_is_not_parsed_and_a_normal_one_is() -> None:
    """A line over LONGEST_PARSED_LINE characters: the file gets plain-text context (its one statement took 0.15 s
    to reparse per keystroke); a whole-text change that brings such a line drops the trees, one that takes it away
    brings them back at the next open."""
    service = ContextService(REGISTRY)
    minified = "data = [" + ", ".join(["1"] * (LONGEST_PARSED_LINE // 2)) + "]\n"
    service.open("/w/data.py", minified, "python")
    assert "/w/data.py" not in service.documents
    service.change("/w/data.py", [TextEdit(0, 3, 0, 3, "x")])  # (edits of an unparsed file are no-ops here)
    service.open("/w/main.py", MAIN, "python")
    assert "/w/main.py" in service.documents
    service.change("/w/main.py", [minified])
    assert "/w/main.py" not in service.documents
    long_but_lines = "x = 1\n" * (LONGEST_PARSED_LINE // 2)  # a long file of short lines is parsed
    service.open("/w/long.py", long_but_lines, "python")
    assert "/w/long.py" in service.documents


def test_a_lone_carriage_return_leaves_the_file_unparsed() -> None:
    """LSP counts a carriage return alone as a line break, tree-sitter does not: every line after one would be
    numbered differently, and a solve's edit would land elsewhere. Such a file gets plain-text context; CRLF is
    parsed; an edit that brings a carriage return alone drops the trees."""
    service = ContextService(REGISTRY)
    service.open("/w/mac.py", "import os\rdef add(a, b):\r    pass\r", "python")
    assert "/w/mac.py" not in service.documents
    service.open("/w/dos.py", "import os\r\ndef add(a, b):\r\n    pass\r\n", "python")
    assert "/w/dos.py" in service.documents
    service.change("/w/dos.py", [TextEdit(0, 9, 0, 9, "  # fine\r\n")])
    assert "/w/dos.py" in service.documents
    service.change("/w/dos.py", [TextEdit(1, 0, 2, 0, "\r")])  # a line break replaced by a carriage return alone
    assert "/w/dos.py" not in service.documents
    service.open("/w/typed.py", "x = 1\n", "python")
    service.change("/w/typed.py", [TextEdit(0, 5, 0, 5, "\r")])  # before the line feed: CRLF, still parsed
    assert "/w/typed.py" in service.documents
    service.change("/w/typed.py", [TextEdit(0, 1, 0, 1, "\r")])
    assert "/w/typed.py" not in service.documents


def test_completion_context_resolves_names_from_other_files(tmp_path: Path) -> None:
    make_workspace(tmp_path)
    index = WorkspaceIndex(REGISTRY)
    index.build([tmp_path])
    path = str(tmp_path / "main.py")
    document = SyntaxDocument(REGISTRY.languages["python"], MAIN)
    parts = completion_context(document, path, 5, 4, index, {path: document}, [], budget=500)
    circle = [p for p in parts if "class Circle" in p.text]
    assert circle and circle[0].label.endswith("shapes.py")
    assert "def area(self) -> float" not in circle[0].text or "..." in circle[0].text
    assert "Circle" in circle[0].reason and "imported" in circle[0].reason
    assert "self.radius = radius" not in "".join(p.text for p in parts)  # bodies collapsed


def test_enclosing_scope_only_when_out_of_view() -> None:
    source = "def outer(a):\n" + "    x = 1\n" * 50 + "    return \n"
    document = SyntaxDocument(REGISTRY.languages["python"], source)
    visible = completion_context(document, "f.py", 51, 11, None, {}, [], budget=500, visible_from_line=0)
    hidden = completion_context(document, "f.py", 51, 11, None, {}, [], budget=500, visible_from_line=10)
    assert not [p for p in visible if p.kind == "enclosing"]
    assert [p.text for p in hidden if p.kind == "enclosing"] == ["def outer(a):\n    ..."]


def test_open_files_and_recent_edits_are_ranked_and_budgeted(tmp_path: Path) -> None:
    main = SyntaxDocument(REGISTRY.languages["python"], MAIN)
    other = SyntaxDocument(REGISTRY.languages["python"], "def area_of(circles):\n    return 0\n")
    edits = [RecentEdit("/elsewhere.py", 3, "TOTAL = compute()\n")]
    parts = completion_context(main, "main.py", 5, 4, None, {"main.py": main, "o.py": other}, edits, budget=500)
    kinds = [p.kind for p in parts]
    assert "open-file" in kinds and "recent-edit" in kinds
    tiny = completion_context(main, "main.py", 5, 4, None, {"main.py": main, "o.py": other}, edits, budget=8)
    assert sum(p.tokens for p in tiny) <= 8


def test_fit_to_budget_keeps_the_best_and_drops_duplicates() -> None:
    parts = [
        ContextPart("a", "x", "low " * 10, "", 1.0),
        ContextPart("b", "y", "high", "", 9.0),
        ContextPart("c", "z", "high", "", 5.0),
    ]
    chosen = fit_to_budget(parts, budget=approx_tokens("high") + 1)
    assert [p.kind for p in chosen] == ["b"]


def test_an_open_files_summary_is_computed_when_it_opens_and_again_only_when_it_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Completions elsewhere take an open file's skeleton and its words; with a few large files open, recomputing
    them on every request took 4-21 ms. The service computes them soon after the file opens; a request then uses
    them as they are, and an edit to that file makes the next request see the new text."""
    service = ContextService(REGISTRY)
    service.open("/w/main.py", MAIN)
    service.open("/w/shapes.py", SHAPES)
    service.summarise("/w/shapes.py")
    queried: list[str] = []
    query = assemble.definitions
    monkeypatch.setattr(
        assemble,
        "definitions",
        lambda spec, roots, source, path, **span: queried.append(path) or query(spec, roots, source, path, **span),
    )
    parts = service.for_completion("/w/main.py", 5, 4, budget=2000, visible_from_line=0).parts
    assert any("class Circle" in p.text for p in parts if p.kind == "open-file")
    assert "/w/shapes.py" not in queried  # its summary was kept
    service.change("/w/shapes.py", [TextEdit(9, 0, 9, 0, "\ndef perimeter(circle):\n    return 0\n")])
    parts = service.for_completion("/w/main.py", 5, 4, budget=2000, visible_from_line=0).parts
    assert any("def perimeter(circle)" in p.text for p in parts if p.kind == "open-file")
    assert queried.count("/w/shapes.py") == 1  # summarised again, once
    service.for_completion("/w/main.py", 5, 4, budget=2000, visible_from_line=0)
    assert queried.count("/w/shapes.py") == 1


def big_module(classes: int, methods: int, functions: int) -> str:
    """Functions, then classes with docstrings and (decorated) methods: large enough to be cut into segments, and
    its classes into pieces, at 256-byte segments."""
    functions_text = "".join(
        f'# helper {n}\ndef helper_{n}(items):\n    """Sum {n}."""\n    return sum(items) + {n}\n\n\n'
        for n in range(functions)
    )
    classes_text = "".join(
        f'class Shape{c}(object):\n    """Shape number {c}."""\n\n    sides = {c}\n\n'
        + "".join(
            ("    @property\n" if m % 3 == 0 else "")
            + f'    def method_{m}(self, items):\n        """Area {m}."""\n        return sum(items) * {m}\n\n'
            for m in range(methods)
        )
        + "\n\n"
        for c in range(classes)
    )
    return f"import math\n\n\n{functions_text}{classes_text}def last():\n    return Shape0()\n"


def whole_file_summary(text: str) -> tuple[str, frozenset[str]]:
    """The summary from a whole-file parse (what open files' summaries were before they were kept per segment)."""
    spec = REGISTRY.languages["python"]
    source = text.encode()
    found = symbols.definitions(spec, [spec.parser().parse(source).root_node], source, "/w/big.py")
    found = [d for d in found if d.kind != "field"]  # (a class's fields are shown with it, not in the list)
    skeleton = "\n".join(d.skeleton("#") for d in found if d.kind != "method" or len(found) < 30)
    return skeleton, frozenset(assemble._WORD.findall(text))


@pytest.mark.parametrize(("classes", "methods", "functions"), [(2, 8, 6), (1, 40, 3), (3, 15, 20)])
def test_an_open_files_summary_kept_per_segment_is_the_whole_files_through_edits(
    classes: int, methods: int, functions: int
) -> None:
    """Kept per segment (a class cut into pieces is summarised once, from its first piece), through typing inside
    lines, new lines, deleted lines and an edit of a class's header; with fewer than 30 definitions, methods too."""
    text = big_module(classes, methods, functions)
    document = SyntaxDocument(REGISTRY.languages["python"], text, segment_bytes=256)
    assert document.segments > 5
    assert assemble.open_file_summary(document, "/w/big.py", "#") == whole_file_summary(text)
    rows = text.split("\n")
    header = rows.index("class Shape0(object):")
    method = rows.index("    def method_4(self, items):")
    edits = [
        TextEdit(method, 17, method, 17, "_renamed"),  # typing inside a line
        TextEdit(method + 2, 0, method + 2, 0, "        extra = 1\n    def inserted(self):\n        pass\n"),
        TextEdit(header, 6, header, 12, "Figure"),  # the class's header: its pieces merge
        TextEdit(3, 0, 8, 0, ""),  # a function deleted
        TextEdit(len(rows) - 2, 0, len(rows) - 2, 0, "def appended(x):\n    return x\n"),
    ]
    for edit in edits:
        document.apply(edit)
        expected = whole_file_summary(document.text)
        assert assemble.open_file_summary(document, "/w/big.py", "#") == expected, edit


def test_an_edit_summarises_only_the_edited_segment_again(monkeypatch: pytest.MonkeyPatch) -> None:
    text = big_module(2, 8, 40)
    document = SyntaxDocument(REGISTRY.languages["python"], text, segment_bytes=256)
    queried: list[int] = []
    query = assemble.definitions
    monkeypatch.setattr(
        assemble, "definitions", lambda spec, roots, *rest: queried.append(len(roots)) or query(spec, roots, *rest)
    )
    assemble.open_file_summary(document, "/w/big.py", "#")
    assert len(queried) == document.segments > 10
    line = text.split("\n").index("def helper_20(items):")
    document.apply(TextEdit(line + 1, 7, line + 1, 7, "The "))  # in its docstring
    queried.clear()
    assert assemble.open_file_summary(document, "/w/big.py", "#") == whole_file_summary(document.text)
    assert len(queried) == 1


def test_opening_a_file_summarises_it_a_moment_later_not_before_a_completion_in_it() -> None:
    """didOpen collects the file's names at once (a completion in it needs them) and its summary for other files
    a moment later, off the path of a completion asked for right after opening."""
    server = build_server()
    uri = "file:///w/shapes.py"
    params = types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, SHAPES))

    async def main() -> tuple[bool, bool]:
        on_did_open(server, params)
        await asyncio.sleep(0.05)
        document = server.context.documents[uri_to_path(uri)]
        summarised = lambda: any(key.startswith("open-file-summary") for key in document._derived)  # noqa: E731
        early = summarised()  # (peeking: `derived` would compute it)
        await asyncio.sleep(SUMMARY_DELAY_S + 0.2)
        return early, summarised()

    try:
        early, later = asyncio.run(main())
    finally:
        server.close_services()
    assert not early and later


@pytest.mark.parametrize(
    ("language", "source", "name", "skeleton"),
    [
        (
            "python",
            '@dataclass\nclass Point:\n    """A point."""\n\n    x: float\n    y: float = 0.0\n    LABEL = "p"\n\n'
            "    def norm(self) -> float:\n        return 0.0\n\n    class Meta:\n        ordering: str = 'x'\n",
            "Point",
            'class Point:\n    """A point."""\n    x: float\n    y: float = 0.0\n    LABEL = "p"\n'
            "    def norm(self) -> float:\n        ...",
        ),
        (
            "go",
            'package p\n\ntype Point struct {\n\tX, Y float64\n\tName string `json:"name"`\n}\n',
            "Point",
            'type Point struct {\n    X, Y float64\n    Name string `json:"name"`\n}',
        ),
        (
            "go",
            "package p\n\ntype Shape interface {\n\tArea() float64\n}\n",
            "Shape",
            "type Shape interface {\n    Area() float64\n}",
        ),
        (
            "rust",
            "pub struct Point {\n    pub x: f64,\n    y: f64,\n}\n",
            "Point",
            "pub struct Point {\n    pub x: f64\n    y: f64\n}",
        ),
        (
            "rust",
            "enum Corner {\n    TopLeft,\n    Named { x: i32 },\n}\n",
            "Corner",
            "enum Corner {\n    TopLeft\n    Named { x: i32 }\n}",
        ),
        (
            "java",
            "class Square {\n    static final int SIDES = 4;\n    private int side;\n\n    int area() {\n"
            "        return side * side;\n    }\n}\n",
            "Square",
            "class Square {\n    static final int SIDES = 4;\n    private int side;\n    int area() { ... }\n}",
        ),
        (
            "typescript",
            "interface Shape {\n  area(): number;\n  label?: string;\n}\n",
            "Shape",
            "interface Shape {\n    area(): number\n    label?: string\n}",
        ),
        (  # a C typedef of a named struct: the struct's fields, and the name it declares after the brace
            "c",
            "/* A point. */\ntypedef struct point {\n    int x;\n    int y;\n} point_t;\n",
            "point_t",
            "// A point.\ntypedef struct point {\n    int x;\n    int y;\n} point_t;",
        ),
        (
            "c",
            "typedef struct {\n    double w, h;\n} size2;\n",
            "size2",
            "typedef struct {\n    double w, h;\n} size2;",
        ),
        ("cpp", "typedef struct { int c; } T;\n", "T", "typedef struct { int c; } T;"),
        ("go", "package p\n\ntype P struct{ X int }\n", "P", "type P struct{ X int }"),
        (
            "typescript",
            "/** A place. */\nexport type Point = {\n  x: number;\n  label?: string;\n  norm(): number;\n};\n",
            "Point",
            "// A place.\nexport type Point = {\n    x: number\n    label?: string\n    norm(): number\n};",
        ),
        (  # an intersection with an object type, too long to be shown as written: its properties, and the rest
            "typescript",
            "type Labeled = {\n  label: string;\n  color?: string;\n  size: number;\n  weight: number;\n"
            "  hidden: boolean;\n} & Base;\n",
            "Labeled",
            "type Labeled = {\n    label: string\n    color?: string\n    size: number\n    weight: number\n"
            "    hidden: boolean\n} & Base;",
        ),
        (
            "tsx",
            "export type Props = A & B & {\n  a: number;\n  b: number;\n  c: number;\n  d: number;\n  e: number;\n};\n",
            "Props",
            "export type Props = A & B & {\n    a: number\n    b: number\n    c: number\n    d: number\n"
            "    e: number\n};",
        ),
        ("rust", "/// Meters.\npub struct Meters(pub f64);\n", "Meters", "// Meters.\npub struct Meters(pub f64);"),
    ],
)
def test_a_types_skeleton_shows_its_fields(language: str, source: str, name: str, skeleton: str) -> None:
    """What a completion elsewhere sees of a class, struct, interface or enum: its own fields (a dataclass's, a
    struct's, an enum's variants, an interface's members) with its methods' bodies collapsed, not a nested class's;
    before, only methods (a dataclass or a struct showed nothing of what it holds)."""
    spec = REGISTRY.languages[language]
    document = SyntaxDocument(spec, source)
    found = symbols.definitions(spec, document.roots, document.source, "f")
    (definition,) = [d for d in found if d.name == name]
    assert symbols.class_skeleton(definition, found, spec.line_comment) == skeleton


def test_the_members_inside_another_member_are_found_in_one_pass() -> None:
    """`_nested` (one pass in start order) marks what the pairwise check marked: a member inside another (a
    method of a nested class), one that shares its start with a longer one, and both of two with the same bytes."""

    def member(name: str, start: int, end: int) -> symbols.Definition:
        return symbols.Definition(name, "method", name, "", "f", 0, 0, start, end)

    members = [
        member("outer", 10, 100),
        member("inner", 20, 40),  # inside outer
        member("inner_head", 10, 50),  # starts with outer, ends before it
        member("after", 100, 150),  # touches outer's end: not inside
        member("twin_a", 200, 220),
        member("twin_b", 200, 220),  # the same bytes: each inside the other
        member("deep", 25, 30),  # inside inner and outer
        member("alone", 300, 310),
    ]
    pairwise = {
        m.name
        for m in members
        if any(o is not m and o.start_byte <= m.start_byte and m.end_byte <= o.end_byte for o in members)
    }
    assert pairwise == {"inner", "inner_head", "twin_a", "twin_b", "deep"}
    assert {m.name for m in members if id(m) in symbols._nested(members)} == pairwise
    assert symbols._nested(list(reversed(members))) == symbols._nested(members)


def test_context_comes_from_files_of_the_documents_language_family(tmp_path: Path) -> None:
    """A name defined in a Python file and in a Go file: a Python completion sees the Python definition only (and
    no open Go file); a TypeScript file still sees a JavaScript file's (one family: they import each other)."""
    (tmp_path / "shapes.py").write_text("class Point:\n    x: float\n")
    (tmp_path / "shapes.go").write_text("package shapes\n\ntype Point struct {\n\tX float64\n}\n")
    (tmp_path / "util.js").write_text("export function scale(p, k) {\n  return p * k;\n}\n")
    index = WorkspaceIndex(REGISTRY)
    index.build([tmp_path])
    assert len(index.lookup("Point")) == 2 and len(index.lookup("Point", "python")) == 1
    use = "from shapes import Point\n\n\ndef far(p: Point) -> bool:\n    return p.\n"
    document = SyntaxDocument(REGISTRY.languages["python"], use)
    go_document = SyntaxDocument(REGISTRY.languages["go"], (tmp_path / "shapes.go").read_text())
    open_documents = {"use.py": document, str(tmp_path / "shapes.go"): go_document}
    parts = completion_context(document, "use.py", 4, 13, index, open_documents, [], budget=500)
    assert [p.label for p in parts] == [str(tmp_path / "shapes.py")], parts
    assert parts[0].text == "class Point:\n    x: float"
    edits = [RecentEdit("/w/geo.go", 3, "\tX float64\n", "go"), RecentEdit("/w/geo.py", 3, "TOTAL = 3\n", "python")]
    parts = completion_context(document, "use.py", 4, 13, None, {}, edits, budget=500)
    assert [p.label for p in parts if p.kind == "recent-edit"] == ["/w/geo.py"]
    typescript = SyntaxDocument(REGISTRY.languages["typescript"], "import { scale } from './util';\n\nscale(2, 3);\n")
    parts = completion_context(typescript, "main.ts", 2, 5, index, {}, [], budget=500)
    assert [p.label for p in parts] == [str(tmp_path / "util.js")]


@pytest.mark.parametrize(
    ("language", "source", "name", "skeleton"),
    [
        (
            "typescript",
            "/** The area of a square. */\nexport function area(side: number): number {\n  return side * side;\n}\n",
            "area",
            "// The area of a square.\nexport function area(side: number): number { ... }",
        ),
        (
            "javascript",
            "// Doubles x.\nexport const double = (x) => {\n  return x * 2;\n};\n",
            "double",
            "// Doubles x.\nexport const double = (x) => { ... }",
        ),
        (
            "go",
            "package p\n\n// Point is a place.\ntype Point struct {\n\tX int\n}\n",
            "Point",
            "// Point is a place.\ntype Point struct {\n\tX int\n}",
        ),
        (
            "go",
            "package p\n\ntype (\n\t// Point is a place.\n\tPoint struct {\n\t\tX int\n\t}\n\tID int\n)\n",
            "Point",
            "// Point is a place.\ntype Point struct {\n\tX int\n}",
        ),
        (  # one without a body, shown as written when short: a union type, a dict constant
            "typescript",
            '/** Colors. */\nexport type Color =\n  | "red"\n  | "green";\n',
            "Color",
            '// Colors.\nexport type Color =\n  | "red"\n  | "green";',
        ),
        (
            "python",
            'LIMITS = {\n    "low": 1,\n    "high": 9,\n}\n',
            "LIMITS",
            'LIMITS = {\n    "low": 1,\n    "high": 9,\n}',
        ),
        (  # longer: its first line
            "python",
            "NAMES = [\n" + "".join(f'    "n{i}",\n' for i in range(8)) + "]\n",
            "NAMES",
            "NAMES = [",
        ),
        (
            "rust",
            '/// A place.\n#[derive(Debug)]\n#[serde(rename_all = "camelCase")]\npub struct Point {\n    x: i32,\n}\n',
            "Point",
            "// A place.\npub struct Point { ... }",
        ),
    ],
)
def test_a_definition_is_shown_as_declared_with_its_doc_comment(
    language: str, source: str, name: str, skeleton: str
) -> None:
    """An exported function's JSDoc (above `export`, not the function), a Go type's comment (above `type`) and a
    Rust item's doc comment above its attributes reach its skeleton, which starts where its declaration does."""
    spec = REGISTRY.languages[language]
    document = SyntaxDocument(spec, source)
    (definition,) = [d for d in symbols.definitions(spec, document.roots, document.source, "f") if d.name == name]
    assert definition.skeleton(spec.line_comment) == skeleton


def test_matches_that_lose_to_a_definition_already_found_are_not_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tags query matches a documented method four times (as a method and as a function, with and without its
    docstring) and a documented class or function twice; the matches that would lose to the definition already
    found for the node are skipped before anything is built (a third of an index build's time went to them)."""
    spec = REGISTRY.languages["python"]
    methods = "".join(f'    def m{n}(self):\n        """Doc {n}."""\n        return {n}\n\n' for n in range(3))
    functions = "".join(f'def f{n}():\n    """F {n}."""\n    return {n}\n\n' for n in range(2))
    document = SyntaxDocument(spec, 'class Model:\n    """A model."""\n\n' + methods + functions)
    built: list[str] = []
    signature_of = symbols.signature_of

    def counted(*args: Any, **kwargs: Any) -> str:
        built.append("")
        return signature_of(*args, **kwargs)

    monkeypatch.setattr(symbols, "signature_of", counted)
    found = symbols.definitions(spec, document.roots, document.source, "f")
    assert [(d.kind, d.doc) for d in found] == [
        ("class", '"""A model."""'),
        *(("method", f'"""Doc {n}."""') for n in range(3)),
        *(("function", f'"""F {n}."""') for n in range(2)),
    ]
    assert len(built) <= 2 * len(found)  # 18 matches: each built at most twice (12 here), not every match


def whole_parse_names(text: str, first: int, end: int) -> list[str]:
    """`referenced_names` of lines first..end (exclusive) from one whole-file parse."""
    whole = SyntaxDocument(REGISTRY.languages["python"], text, segment_bytes=10**9)
    start, _ = whole.point(first, 0)
    stop, _ = whole.point(end, 0)
    return symbols.referenced_names(whole.spec, whole.roots, whole.source, start, stop)


def names_computed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each segment's names computed from now on (its first line)."""
    computed: list[int] = []
    compute = assemble.names_by_line
    monkeypatch.setattr(
        assemble,
        "names_by_line",
        lambda *args: computed.append(args[-1]) or compute(*args),  # type: ignore[func-returns-value]
    )
    return computed


@pytest.mark.parametrize(("classes", "methods", "functions"), [(2, 8, 6), (1, 40, 3), (3, 15, 20)])
def test_names_near_the_cursor_kept_per_line_are_a_whole_parses_through_edits(
    classes: int, methods: int, functions: int
) -> None:
    """The names of a window of lines, added up from each segment's names per line, are the query's over those
    lines of a whole-file parse (a class cut into pieces: its header's names counted once), through new lines,
    deleted lines, typing inside a line and an edit of a class's header; at every window of the file."""
    text = big_module(classes, methods, functions).replace("return sum(items)", "return helper(sum(items), self)")
    document = SyntaxDocument(REGISTRY.languages["python"], text, segment_bytes=256)
    assert document.segments > 5
    rows = text.split("\n")
    header = rows.index("class Shape0(object):")
    method = rows.index("    def method_4(self, items):")
    edits = [
        TextEdit(method + 2, 0, method + 2, 0, "        extra = outer(items)\n    def inserted(self):\n        pass\n"),
        TextEdit(method + 1, 12, method + 1, 12, "Big "),  # typing inside a line (its docstring)
        TextEdit(header, 6, header, 12, "Figure"),  # the class's header: its pieces merge
        TextEdit(3, 0, 8, 0, ""),  # a function deleted
        TextEdit(len(rows) - 2, 0, len(rows) - 2, 0, "def appended(x):\n    return wrap(x)\n"),
    ]
    for edit in [None, *edits]:
        if edit is not None:
            document.apply(edit)
        lines = document.text.count("\n") + 1
        for line in range(0, lines + 3, 3):
            first, end = max(0, line - assemble.WINDOW_LINES), line + assemble.WINDOW_LINES
            assert assemble.window_names(document, first, end) == whole_parse_names(document.text, first, end), (
                edit,
                line,
            )


def test_a_window_computes_only_its_own_segments_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Computed for the segments a window reaches, once; kept through typing inside their lines and through edits
    of other segments that move their lines; an edit that adds a line computes its segment's again."""
    text = big_module(3, 15, 20)
    document = SyntaxDocument(REGISTRY.languages["python"], text, segment_bytes=256)
    computed = names_computed(monkeypatch)
    rows = text.split("\n")
    line = rows.index("    def method_7(self, items):")
    start, _ = document.point(line - 20, 0)
    end, _ = document.point(line + 20, 0)
    spans = [document.segment_span(segment) for segment in range(document.segments)]
    reached = [span for span in spans if span[0] < end and span[1] > start]
    names = assemble.window_names(document, line - 20, line + 20)
    assert len(computed) == len(reached) < document.segments
    assemble.window_names(document, line - 20, line + 20)
    assert len(computed) == len(reached)  # remembered
    document.apply(TextEdit(2, 0, 2, 0, "# a comment\n# and another\n"))  # above: its lines move down by two
    assert assemble.window_names(document, line - 18, line + 22) == names
    assert len(computed) == len(reached)
    body = line + 4  # `        return sum(items) * 7`
    assert document.line_text(body) == "        return sum(items) * 7"
    document.apply(TextEdit(body, 29, body, 29, " + typed"))  # typing inside a line: reused for a while
    assert "typed" not in assemble.window_names(document, line - 18, line + 22)
    assert len(computed) == len(reached)
    document.apply(TextEdit(body + 1, 0, body + 1, 0, "        pass\n"))  # a new line: its segment's again
    assert "typed" in assemble.window_names(document, line - 18, line + 22)
    assert len(computed) == len(reached) + 1
    assert assemble.window_names(document, line - 18, line + 22) == whole_parse_names(
        document.text, line - 18, line + 22
    )


def test_names_collected_ahead_leave_a_window_nothing_to_compute(monkeypatch: pytest.MonkeyPatch) -> None:
    document = SyntaxDocument(REGISTRY.languages["python"], big_module(3, 15, 20), segment_bytes=256)
    computed = names_computed(monkeypatch)
    assert assemble.collect_line_names(document, deadline=0.0)  # no time: all left
    assert computed == []
    assert not assemble.collect_line_names(document, deadline=time.perf_counter() + 60)
    assert len(computed) == document.segments
    looked: list[int] = []
    between = document.per_segment_between
    document.per_segment_between = lambda *args, **kwargs: looked.append(1) or between(*args, **kwargs)  # type: ignore[method-assign]
    assert not assemble.collect_line_names(document, deadline=time.perf_counter() + 60)
    assert looked == []  # nothing lacking (after most pauses in typing): no segment visited
    del document.per_segment_between
    lines = document.text.count("\n") + 1
    for line in range(0, lines, 7):
        assemble.window_names(document, max(0, line - 20), line + 20)
    assert len(computed) == document.segments


def test_names_are_collected_a_moment_after_opening_and_after_an_edit_adds_lines() -> None:
    """Off the path of a completion asked for right after opening: a moment later, a slice at a time; and in the
    pause after an edit that dropped a segment's."""
    server = build_server()
    uri = "file:///w/big.py"
    text = big_module(3, 30, 60)
    params = types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, text))

    def collected(document: SyntaxDocument) -> int:  # (peeking: `line_names` would compute them)
        return sum("names-by-line" in values for values in document._segment_values)

    async def main() -> tuple[int, int, int, int, int]:
        on_did_open(server, params)
        await asyncio.sleep(0.02)
        path = uri_to_path(uri)
        document = server.context.documents[path]
        early = collected(document)
        await asyncio.sleep(SUMMARY_DELAY_S + 0.4)
        later = collected(document)
        server.context.change(path, [TextEdit(5, 0, 5, 0, "x = 1\n")])
        schedule_idle_parse(server, path)
        edited = collected(document)
        await asyncio.sleep(IDLE_PARSE_S + 0.3)
        return document.segments, early, later, edited, collected(document)

    try:
        segments, early, later, edited, idle = asyncio.run(main())
    finally:
        server.close_services()
    assert segments > 2
    assert (early, later, edited, idle) == (0, segments, segments - 1, segments)
