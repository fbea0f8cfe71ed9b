import random

import pytest

from atlas_lsp.syntax.document import SyntaxDocument, TextEdit
from atlas_lsp.syntax.registry import load_registry

REGISTRY = load_registry()
SOURCE = 'def f(x):\n    """Döc ✓."""\n    return x + 1\n\n\nclass C:\n    pass\n'


def full_parse(text: str) -> str:
    return str(REGISTRY.languages["python"].parser().parse(text.encode()).root_node)


def apply_to_text(text: str, edit: TextEdit) -> str:
    lines = text.split("\n")

    def offset(line: int, column: int) -> int:
        return sum(len(row) + 1 for row in lines[:line]) + column

    start, end = offset(edit.start_line, edit.start_column), offset(edit.end_line, edit.end_column)
    return text[:start] + edit.new_text + text[end:]


@pytest.mark.parametrize(
    "edit",
    [
        TextEdit(2, 15, 2, 16, "2"),  # one character replaced
        TextEdit(1, 8, 1, 8, "ü"),  # a multi-byte insert inside a docstring
        TextEdit(2, 4, 2, 16, ""),  # a deletion
        TextEdit(3, 0, 3, 0, "def g():\n    return [\n"),  # a multi-line insert that leaves an error
        TextEdit(0, 0, 6, 8, "x = 1\n"),  # almost everything replaced
    ],
)
def test_incremental_edit_matches_a_full_parse(edit: TextEdit) -> None:
    document = SyntaxDocument(REGISTRY.languages["python"], SOURCE)
    document.apply(edit)
    expected = apply_to_text(SOURCE, edit)
    assert document.text == expected
    assert document.sexp() == full_parse(expected)
    assert document.incremental_parses == 1 and document.full_parses == 1


def test_a_typing_session_stays_in_sync() -> None:
    rng = random.Random(7)
    document = SyntaxDocument(REGISTRY.languages["python"], SOURCE)
    text = SOURCE
    for _ in range(200):
        lines = text.split("\n")
        line = rng.randrange(len(lines))
        column = rng.randrange(len(lines[line]) + 1)
        edit = TextEdit(line, column, line, column, rng.choice(["a", " ", "(", ")", "\n", ":", "é"]))
        document.apply(edit)
        document.parse()  # after every keystroke: each parse covers the one edit
        text = apply_to_text(text, edit)
    assert document.text == text
    assert document.sexp() == full_parse(text)
    assert document.incremental_parses == 200


def test_edits_are_parsed_when_a_tree_is_read() -> None:
    """A burst of keystrokes before anyone reads the tree costs one parse (none while nobody asks)."""
    document = SyntaxDocument(REGISTRY.languages["python"], SOURCE)
    for column in range(10):
        document.apply(TextEdit(2, 15 + column, 2, 15 + column, "0"))
    assert document.incremental_parses == 0
    assert document.sexp() == full_parse(document.text)
    assert document.incremental_parses == 1


def test_derived_values_are_cached_per_revision_and_may_be_reused_within_lines() -> None:
    document = SyntaxDocument(REGISTRY.languages["python"], SOURCE)
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert document.derived("k", compute) == 1 and document.derived("k", compute) == 1
    document.apply(TextEdit(2, 15, 2, 15, "0"))  # typing inside a line
    assert document.derived("k", compute) == 2  # exact by default
    document.apply(TextEdit(2, 15, 2, 15, "0"))
    assert document.derived("k", compute, stale_edits=8) == 2  # same line count, a recent value is good enough
    document.apply(TextEdit(2, 15, 2, 15, "\n"))
    assert document.derived("k", compute, stale_edits=8) == 3  # lines moved: recomputed


def test_line_text() -> None:
    document = SyntaxDocument(REGISTRY.languages["python"], SOURCE)
    assert document.line_text(1) == '    """Döc ✓."""'
    assert document.line_text(0) == "def f(x):"
    assert document.line_text(99) is None


def module_text(functions: int) -> str:
    return (
        "".join(
            f'# helper {n}\ndef helper_{n}(items):\n    """Sum {n}."""\n    return sum(items) + {n}\n\n\n'
            for n in range(functions)
        )
        + "class Last:\n    def method(self):\n        return 1\n"
    )


def definition_names(document: SyntaxDocument) -> list[tuple[str, int]]:
    from atlas_lsp.syntax.symbols import definitions

    return [(d.name, d.start_line) for d in definitions(document.spec, document.roots, document.source, "m.py")]


def whole_file_names(text: str) -> list[tuple[str, int]]:
    from atlas_lsp.syntax.symbols import definitions

    spec = REGISTRY.languages["python"]
    source = text.encode()
    return [(d.name, d.start_line) for d in definitions(spec, [spec.parser().parse(source).root_node], source, "m.py")]


def test_a_large_file_is_parsed_in_segments_that_match_a_whole_file_parse() -> None:
    text = module_text(60)
    document = SyntaxDocument(REGISTRY.languages["python"], text, segment_bytes=256)
    assert document.segments > 10
    assert document.sexp() == full_parse(text)
    assert definition_names(document) == whole_file_names(text)
    small = SyntaxDocument(REGISTRY.languages["python"], SOURCE, segment_bytes=256)
    assert small.segments == 1


def test_segments_stay_in_sync_through_valid_and_broken_edits() -> None:
    """Random edits anywhere (boundaries included), each undone later: the trees end equal to a whole-file parse."""
    rng = random.Random(11)
    text = module_text(40)
    document = SyntaxDocument(REGISTRY.languages["python"], text, segment_bytes=256)
    merged = 0
    for _ in range(150):
        lines = text.split("\n")
        if rng.random() < 0.4:  # the first column of a top-level statement: where segments begin
            line, column = rng.choice([n for n, row in enumerate(lines) if row.startswith("# helper")]), 0
        else:
            line = rng.randrange(len(lines))
            column = rng.randrange(len(lines[line]) + 1)
        segments = document.segments
        typed = rng.choice(["a", " ", "(", '"""', "\n", "def g():\n    pass\n", "é"])
        edit = TextEdit(line, column, line, column, typed)
        document.apply(edit)
        merged += document.segments < segments
        document.parse()  # as a completion request would
        text = apply_to_text(text, edit)
        assert document.text == text
        rows = typed.split("\n")
        end_line, end_column = line + len(rows) - 1, (column if len(rows) == 1 else 0) + len(rows[-1])
        undo = TextEdit(line, column, end_line, end_column, "")
        document.apply(undo)
        text = apply_to_text(text, undo)
    assert merged > 3 and document.segments > 5
    assert text == module_text(40)
    assert document.text == text
    assert document.sexp() == full_parse(text)
    assert definition_names(document) == whole_file_names(text)


def test_edits_across_boundaries_merge_segments_and_large_ones_split_again() -> None:
    text = module_text(40)
    document = SyntaxDocument(REGISTRY.languages["python"], text, segment_bytes=256)
    before = document.segments
    # delete ten functions at once (many boundaries inside the edit), then type them back one line at a time
    start = text.index("# helper 5\n")
    end = text.index("# helper 15\n")
    removed = text[start:end]
    first_line = text[:start].count("\n")
    edit = TextEdit(first_line, 0, first_line + removed.count("\n"), 0, "")
    document.apply(edit)
    text = apply_to_text(text, edit)
    assert document.segments < before
    assert document.sexp() == full_parse(text)
    for offset, row in enumerate(removed.split("\n")[:-1]):
        edit = TextEdit(first_line + offset, 0, first_line + offset, 0, row + "\n")
        document.apply(edit)
        text = apply_to_text(text, edit)
    assert text == module_text(40)
    assert document.segments >= before - 2  # the grown segment was cut again at its top-level statements
    assert document.sexp() == full_parse(text)
    assert definition_names(document) == whole_file_names(text)


def test_an_unclosed_string_stays_inside_its_segment() -> None:
    """While the user types an opening quote, the rest of the file keeps its definitions."""
    text = module_text(40)
    document = SyntaxDocument(REGISTRY.languages["python"], text, segment_bytes=256)
    line = text.split("\n").index("def helper_3(items):") + 2
    document.apply(TextEdit(line, 4, line, 4, '"""'))
    assert document.has_error
    names = {name for name, _ in definition_names(document)}
    assert {f"helper_{n}" for n in range(6, 40)} <= names
    assert "method" in names
    byte, point = document.point(line + 30, 8)
    node = document.node_at(byte, point)
    assert node is not None and node.start_byte <= byte <= node.end_byte


def test_defined_names_are_the_names_of_the_definitions() -> None:
    from atlas_lsp.syntax.symbols import defined_names

    text = module_text(10)
    document = SyntaxDocument(REGISTRY.languages["python"], text, segment_bytes=256)
    assert defined_names(document.spec, document.roots, document.source) == {n for n, _ in definition_names(document)}


def test_per_segment_values_survive_typing_inside_lines_when_allowed() -> None:
    document = SyntaxDocument(REGISTRY.languages["python"], module_text(20), segment_bytes=256)
    calls: list[int] = []

    def count(root: object) -> int:
        calls.append(1)
        return len(calls)

    document.per_segment("k", count)
    computed = len(calls)
    assert computed == document.segments
    line = module_text(20).split("\n").index("def helper_3(items):")
    document.apply(TextEdit(line, 4, line, 4, "x"))  # typing inside a line of one segment
    document.per_segment("k", count, stale_edits=8)
    assert len(calls) == computed  # reused
    document.per_segment("k", count)
    assert len(calls) == computed + 1  # exact: that one segment again
    document.apply(TextEdit(line, 4, line, 4, "\n"))  # a new line: recomputed even when stale values are allowed
    document.per_segment("k", count, stale_edits=8)
    assert len(calls) == computed + 2


def class_text(methods: int) -> str:
    """A file that is mostly one large class: decorated, with a docstring, comments and decorated methods."""
    body = "".join(
        f"    # method {n}\n"
        + ("    @property\n" if n % 3 == 0 else "")
        + f'    def method_{n}(self, items):\n        """Sum {n}."""\n        return sum(items) + {n}\n\n'
        for n in range(methods)
    )
    return (
        "import functools\n\n\n@functools.total_ordering\nclass Big(object):\n"
        '    """One large class."""\n\n    limit = 3\n\n' + body + "\ndef after():\n    return Big()\n"
    )


def whole_definitions(text: str) -> list[tuple[str, str, int, int, str]]:
    from atlas_lsp.syntax.symbols import definitions

    spec = REGISTRY.languages["python"]
    source = text.encode()
    found = definitions(spec, [spec.parser().parse(source).root_node], source, "m.py")
    return [(d.name, d.kind, d.start_byte, d.end_byte, d.doc) for d in found]


def document_definitions(document: SyntaxDocument) -> list[tuple[str, str, int, int, str]]:
    from atlas_lsp.syntax.symbols import definitions

    found = definitions(document.spec, document.roots, document.source, "m.py")
    return [(d.name, d.kind, d.start_byte, d.end_byte, d.doc) for d in found]


def test_a_large_class_is_cut_into_pieces_parsed_after_its_header() -> None:
    """A file that is one large class has no top-level statements to cut at; its body is cut between methods and
    each piece is parsed after the class's header, so it is still the class's body. Queries see what a
    whole-file parse sees: the class once, with its whole range and its docstring."""
    text = class_text(60)
    document = SyntaxDocument(REGISTRY.languages["python"], text, segment_bytes=256)
    assert document.segments > 10
    assert document.sexp() == full_parse(text)
    assert document_definitions(document) == whole_definitions(text)
    from atlas_lsp.syntax.symbols import text_objects

    spec = document.spec
    whole = spec.parser().parse(text.encode()).root_node
    assert [(o.around_start, o.around_end) for o in text_objects(spec, document.roots, "function")] == [
        (o.around_start, o.around_end) for o in text_objects(spec, [whole], "function")
    ]
    line = text.split("\n").index("    def method_45(self, items):") + 2
    byte, point = document.point(line, 10)
    node = document.node_at(byte, point)
    expected = whole.named_descendant_for_point_range(point, point)
    assert node is not None and expected is not None
    assert (node.type, node.start_byte, node.end_byte) == (expected.type, expected.start_byte, expected.end_byte)
    parents = []
    while node is not None:
        parents.append(node.type)
        node = node.parent
    assert "class_definition" in parents  # a piece is still a class body
    from atlas_lsp.syntax.symbols import definitions

    line_start, _ = document.point(line, 0)
    around = definitions(spec, [document.segment_root_at(line_start)], document.source, "m.py", (line_start, byte))
    expected_around = definitions(spec, [whole], document.source, "m.py", (line_start, byte))
    assert [(d.name, d.doc) for d in around] == [(d.name, d.doc) for d in expected_around]
    assert around[0].name == "Big" and around[0].doc == '"""One large class."""'  # the piece has the class's doc


def test_typing_in_a_large_class_stays_in_sync_and_an_edit_of_its_header_merges_its_pieces() -> None:
    rng = random.Random(5)
    text = class_text(40)
    document = SyntaxDocument(REGISTRY.languages["python"], text, segment_bytes=256)
    pieces = document.segments
    for _ in range(150):
        lines = text.split("\n")
        line = rng.randrange(len(lines))
        column = rng.randrange(len(lines[line]) + 1)
        typed = rng.choice(["a", " ", "(", '"""', "\n", ":", "    def g(self):\n        pass\n", "é"])
        edit = TextEdit(line, column, line, column, typed)
        document.apply(edit)
        document.parse()
        text = apply_to_text(text, edit)
        rows = typed.split("\n")
        end_line, end_column = line + len(rows) - 1, (column if len(rows) == 1 else 0) + len(rows[-1])
        undo = TextEdit(line, column, end_line, end_column, "")
        document.apply(undo)
        text = apply_to_text(text, undo)
    assert text == class_text(40) and document.text == text
    assert document.sexp() == full_parse(text)
    assert document_definitions(document) == whole_definitions(text)
    assert document.segments > 5
    # renaming the class and giving it another base: every piece is parsed after the new header
    header = text.split("\n").index("class Big(object):")
    for edit in (TextEdit(header, 6, header, 9, "Huge"), TextEdit(header, 16, header, 16, ", dict")):
        document.apply(edit)
        text = apply_to_text(text, edit)
    assert document.sexp() == full_parse(text)
    assert document_definitions(document) == whole_definitions(text)
    assert document.segments > 1  # cut again once parsed
    assert pieces > 5


def test_an_unclosed_string_in_a_large_class_stays_inside_its_piece() -> None:
    text = class_text(60)
    document = SyntaxDocument(REGISTRY.languages["python"], text, segment_bytes=256)
    line = text.split("\n").index("    def method_10(self, items):") + 2
    document.apply(TextEdit(line, 8, line, 8, '"""'))
    parses = document.incremental_parses
    document.parse()
    assert document.incremental_parses == parses + 1  # one piece parsed again
    assert document.has_error
    names = {name for name, _, _, _, _ in document_definitions(document)}
    assert {f"method_{n}" for n in range(20, 60)} <= names and "after" in names


def test_names_near_a_large_classs_header_are_counted_once() -> None:
    """Each piece of a class is parsed after its header, so the header's names are in every piece's tree."""
    from atlas_lsp.syntax.symbols import referenced_names

    text = class_text(60).replace("class Big(object):", "class Big(Base, Mixin):")
    document = SyntaxDocument(REGISTRY.languages["python"], text, segment_bytes=256)
    assert document.segments > 10
    spec = document.spec
    whole = spec.parser().parse(text.encode()).root_node
    end = text.index("    def method_2(")
    assert referenced_names(spec, document.roots, document.source, 0, end) == referenced_names(
        spec, [whole], document.source, 0, end
    )


def test_a_piece_that_grows_is_cut_again_after_the_same_header() -> None:
    """Methods typed into one piece of a class without a docstring: the grown piece is cut again, and its new
    pieces are parsed after the class's header only (not after the class's earlier pieces)."""
    text = class_text(30).replace('    """One large class."""\n\n', "")
    document = SyntaxDocument(REGISTRY.languages["python"], text, segment_bytes=256)
    heads = {head for head in document._heads if head is not None}
    assert len(heads) == 1
    (head,) = heads
    assert document.source[head[0] : head[1]] == b"class Big(object):\n"
    line = text.split("\n").index("    def method_20(self, items):")
    added = "".join(f"    def extra_{n}(self):\n        return {n}\n\n" for n in range(12))
    document.apply(TextEdit(line, 0, line, 0, added))
    text = apply_to_text(text, TextEdit(line, 0, line, 0, added))
    document.parse()
    assert document.sexp() == full_parse(text)
    assert {head for head in document._heads if head is not None} == {head}
    assert document_definitions(document) == whole_definitions(text)


def test_solve_finds_a_method_in_a_later_piece_of_a_large_class() -> None:
    from atlas_lsp.solve.target import find_function

    text = class_text(60)
    pieced = SyntaxDocument(REGISTRY.languages["python"], text, segment_bytes=256)
    whole = SyntaxDocument(REGISTRY.languages["python"], text, segment_bytes=1 << 20)
    assert pieced.segments > 10 and whole.segments == 1
    line = text.split("\n").index("    def method_45(self, items):") + 2
    for found in (find_function(pieced, "m.py", line=line), find_function(pieced, "m.py", name="method_45")):
        assert found is not None and found == find_function(whole, "m.py", line=line)
        assert found.name == "method_45" and found.text.startswith("def method_45(self, items):")
