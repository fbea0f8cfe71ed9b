"""The specification: the workspace's tests that refer to the function, as test ids (the file's path, then the names
around the test: ``tests/test_x.py::TestC::test_y``, ``test/a.test.js::group::adds``, ``src/lib.rs::tests::adds``)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from atlas_lsp.context.index import read_source, workspace_files
from atlas_lsp.prompts.solve import as_written
from atlas_lsp.solve.runs import CASES_SUFFIX
from atlas_lsp.syntax.queries import captures, matches
from atlas_lsp.syntax.registry import LanguageRegistry, LanguageSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SelectedTest:
    """One test that refers to the target: a runner id (`tests/test_x.py::TestC::test_y`) and its source."""

    node_id: str
    path: str
    source: str


TEST_CALLS = ("describe", "suite", "context", "test", "it")  # JavaScript: describe('group', () => { it('x', …) })
DENO_TESTS = ("Deno.test", "Deno.test.only")
TAP_TESTS = ("t.test", "tap.test")  # node-tap's tests and subtests (`t` is the parent test, `tap` the root)
SKIPPED = "test.skipped"  # tests and groups skipped by how they are written: #[ignore], @pytest.mark.skip, it.skip
CASES = "test.cases"  # tests that their framework expands into cases named under their own name (rstest, test-case)
FIXTURE = "test.fixture"  # what a test asks for by a parameter of that name (pytest's fixtures)
FIXTURE_FILES = ("conftest.py",)  # where fixtures live besides test files


def _call_title(node: object, source: bytes) -> str | None:
    """The title of a JavaScript test or suite call (``test('adds', …)``, ``describe.skip('group', …)``,
    ``Deno.test('adds', …)``): its first argument, a plain string."""
    function = node.child_by_field_name("function")  # type: ignore[attr-defined]
    arguments = node.child_by_field_name("arguments")  # type: ignore[attr-defined]
    if function is not None and function.type == "call_expression":  # test.each(table)('adds %i', …)
        function = function.child_by_field_name("function")
    if function is None or arguments is None or arguments.named_child_count == 0:
        return None
    callee = function.child_by_field_name("object") if function.type == "member_expression" else function
    whole = source[function.start_byte : function.end_byte].decode()
    if (
        whole not in DENO_TESTS
        and whole not in TAP_TESTS
        and (callee is None or source[callee.start_byte : callee.end_byte].decode() not in TEST_CALLS)
        and uvu_suite_of(node, source) is None
    ):
        return None
    title = arguments.named_children[0]
    if whole in DENO_TESTS and title.type in ("object", "function_expression"):
        return _deno_test_name(title, source)
    if title.type not in ("string", "template_string") or any(
        c.type == "template_substitution" for c in title.children
    ):
        return None
    return source[title.start_byte + 1 : title.end_byte - 1].decode()


def uvu_suite_of(node: object, source: bytes) -> str | None:
    """The name of the uvu suite whose test the call ``node`` registers (``Add('adds', …)`` or ``Add.only(…)``
    where the file declares ``const Add = suite('add')``), else None."""
    function = node.child_by_field_name("function")  # type: ignore[attr-defined]
    if function is not None and function.type == "member_expression":
        function = function.child_by_field_name("object")
    if function is None or function.type != "identifier":
        return None
    callee = source[function.start_byte : function.end_byte]
    root = node
    while root.parent is not None:  # type: ignore[attr-defined]
        root = root.parent  # type: ignore[attr-defined]
    for statement in root.named_children:  # type: ignore[attr-defined]
        if statement.type not in ("lexical_declaration", "variable_declaration"):
            continue
        for declarator in statement.named_children:
            name, value = declarator.child_by_field_name("name"), declarator.child_by_field_name("value")
            if name is None or value is None or source[name.start_byte : name.end_byte] != callee:
                continue
            maker, arguments = value.child_by_field_name("function"), value.child_by_field_name("arguments")
            if (
                value.type != "call_expression"
                or maker is None
                or source[maker.start_byte : maker.end_byte] != b"suite"
            ):
                continue
            first = arguments.named_children[0] if arguments is not None and arguments.named_child_count else None
            if first is not None and first.type == "string":
                return source[first.start_byte + 1 : first.end_byte - 1].decode()
    return None


def _deno_test_name(argument: object, source: bytes) -> str | None:
    """The name of a Deno test given as an object (``Deno.test({ name: "adds", fn })``) or a named function
    (``Deno.test(function adds() {…})``)."""
    if argument.type == "function_expression":  # type: ignore[attr-defined]
        name = argument.child_by_field_name("name")  # type: ignore[attr-defined]
        return source[name.start_byte : name.end_byte].decode() if name is not None else None
    for pair in argument.named_children:  # type: ignore[attr-defined]
        key, value = pair.child_by_field_name("key"), pair.child_by_field_name("value")
        if key is None or value is None or source[key.start_byte : key.end_byte] != b"name":
            continue
        if value.type == "string":
            return source[value.start_byte + 1 : value.end_byte - 1].decode()
    return None


def _receiver_type(node: object, source: bytes) -> str | None:
    """The type a Go method is declared on (``ShapesSuite`` for ``func (s *ShapesSuite) TestArea()``)."""
    receiver = node.child_by_field_name("receiver")  # type: ignore[attr-defined]
    parameter = receiver.named_children[0] if receiver is not None and receiver.named_child_count else None
    kind = parameter.child_by_field_name("type") if parameter is not None else None
    while kind is not None and kind.type in ("pointer_type", "generic_type"):
        kind = kind.named_children[0] if kind.named_child_count else None
    return source[kind.start_byte : kind.end_byte].decode() if kind is not None else None


def _test_name_path(node: object, source: bytes, scopes: tuple[str, ...]) -> list[str]:
    """Names of the test and of what is around it, outermost first: the declarations of ``scopes`` (the language's
    `test_scopes`: classes and functions in Python, modules in Rust, classes in Java), suites (JavaScript's describe
    titles)."""
    names: list[str] = []
    own = node.child_by_field_name("name")  # type: ignore[attr-defined]
    if own is not None and node.type not in scopes:  # type: ignore[attr-defined]
        names.append(source[own.start_byte : own.end_byte].decode())  # (a Go test function, a Java test method)
    receiver = _receiver_type(node, source) if node.type == "method_declaration" else None  # type: ignore[attr-defined]
    if receiver:
        names.insert(0, receiver)  # (a Go suite's method: its suite type, then its name)
    current = node
    while current is not None:
        kind = current.type  # type: ignore[attr-defined]
        field = current.child_by_field_name("name") if kind in scopes else None  # type: ignore[attr-defined]
        title = _call_title(current, source) if kind == "call_expression" else None
        if field is not None:
            names.insert(0, source[field.start_byte : field.end_byte].decode())
        elif title is not None:
            names.insert(0, title)
        current = current.parent  # type: ignore[attr-defined]
    suite = uvu_suite_of(node, source) if node.type == "call_expression" else None  # type: ignore[attr-defined]
    if suite and names:
        names.insert(len(names) - 1, suite)  # (an uvu suite's test: its suite's name, then its own)
    return names


def _referring(
    name: str,
    spec: LanguageSpec,
    roots: list[Path],
    open_texts: dict[str, str],
    capture: str,
    in_tests: bool,
    limit: int,
    asking: Fixtures | None = None,
) -> list[tuple[Path, Path, bytes, object, bool]]:
    """(root, path, source, node, whether it is captured as ``test.cases`` too) for each ``capture`` text object (in
    test files or not) that uses ``name`` (or, given ``asking``, asks for one of its fixtures that use it), once; in
    test files, none inside a ``test.skipped`` capture."""
    textobjects, references = spec.queries.get("textobjects"), spec.queries.get("references")
    if textobjects is None or references is None:
        return []
    found: list[tuple[Path, Path, bytes, object, bool]] = []
    for root in roots:
        for path in workspace_files(root, set(spec.suffixes)):
            if spec.is_test_file(path.relative_to(root)) != in_tests:
                continue
            text = open_texts.get(str(path)) or read_source(path)
            if text is None or not any(word in text for word in (asking.names if asking is not None else {name})):
                continue
            source = text.encode()
            tree = spec.parser().parse(source)
            all_matches = matches(textobjects, tree.root_node)
            skipped = [(n.start_byte, n.end_byte) for m in all_matches for n in m.get(SKIPPED, [])] if in_tests else []
            cases = {(n.start_byte, n.end_byte) for m in all_matches for n in m.get(CASES, [])}
            seen: set[tuple[int, int]] = set()  # (a test with two case attributes matches twice)
            for match in all_matches:
                for node in match.get(capture, []):
                    if any(start <= node.start_byte and node.end_byte <= end for start, end in skipped):
                        continue  # (a test the runner skips says nothing about the function)
                    if (node.start_byte, node.end_byte) in seen:
                        continue
                    seen.add((node.start_byte, node.end_byte))
                    if node.type == "call_expression" and _call_title(node, source) is None:
                        continue  # (a call the query takes for a test that names none: not an uvu suite's after all)
                    if asking is not None:
                        if asking.used_by(path, parameter_names(node, source)):
                            found.append((root, path, source, node, (node.start_byte, node.end_byte) in cases))
                            if len(found) >= limit:
                                return found
                        continue
                    used = captures(references, tree.root_node, node.start_byte, node.end_byte)
                    names = {source[n.start_byte : n.end_byte].decode() for group in used.values() for n in group}
                    defined = node.child_by_field_name("name")
                    if name in names and (
                        defined is None or source[defined.start_byte : defined.end_byte] != name.encode()
                    ):
                        found.append((root, path, source, node, (node.start_byte, node.end_byte) in cases))
                        if len(found) >= limit:
                            return found
    return found


def parameter_names(node: object, source: bytes) -> set[str]:
    """The names of a function definition's parameters (``def test_x(client, tmp_path: Path)``), and the fixtures
    its ``@pytest.mark.usefixtures("…")`` decorators ask for."""
    found: set[str] = set()
    parameters = node.child_by_field_name("parameters")  # type: ignore[attr-defined]
    for parameter in parameters.named_children if parameters is not None else []:
        name = parameter if parameter.type == "identifier" else parameter.child_by_field_name("name")
        if name is None and parameter.named_child_count and parameter.named_children[0].type == "identifier":
            name = parameter.named_children[0]  # (a typed parameter: its name is its first child)
        if name is not None and name.type == "identifier":
            found.add(source[name.start_byte : name.end_byte].decode())
    parent = node.parent  # type: ignore[attr-defined]
    if parent is not None and parent.type == "decorated_definition":
        for decorator in parent.children:
            text = source[decorator.start_byte : decorator.end_byte].decode()
            if decorator.type == "decorator" and "usefixtures" in text:
                found.update(re.findall(r"[\"']([A-Za-z_]\w*)[\"']", text))
    return found


def _fixture_name(node: object, source: bytes) -> str:
    """A fixture's name: its function's, or the ``name="…"`` its decorator gives it."""
    parent = node.parent  # type: ignore[attr-defined]
    if parent is not None and parent.type == "decorated_definition":
        for decorator in parent.children:
            given = re.search(
                r"\bname\s*=\s*[\"']([A-Za-z_]\w*)[\"']", source[decorator.start_byte : decorator.end_byte].decode()
            )
            if decorator.type == "decorator" and given:
                return given.group(1)
    own = node.child_by_field_name("name")  # type: ignore[attr-defined]
    return source[own.start_byte : own.end_byte].decode() if own is not None else ""


def has_capture(spec: LanguageSpec, kind: str, capture: str) -> bool:
    query = spec.queries.get(kind)
    return query is not None and any(query.capture_name(i) == capture for i in range(query.capture_count))


@dataclass(frozen=True)
class Fixture:
    name: str
    path: Path  # the file that defines it
    source: str  # its definition, decorators included
    asks_for: frozenset[str]  # the fixtures it asks for
    uses: bool  # it refers to the function itself


class Fixtures:
    """A workspace's fixtures (pytest's, in test files and conftest.py files), resolved the way pytest resolves a
    name that a test or a fixture asks for: the one its own module defines, else the one in the nearest conftest.py
    above it; and which of them use the function, themselves or through a fixture they ask for."""

    def __init__(self, defined: list[Fixture]) -> None:
        self._by_name: dict[str, list[Fixture]] = {}
        for fixture in defined:
            self._by_name.setdefault(fixture.name, []).append(fixture)
        self.relevant: set[Fixture] = set()
        grew = True
        while grew:  # (a fixture that asks for one that uses the function uses it too)
            grew = False
            for fixture in defined:
                if fixture not in self.relevant and (
                    fixture.uses or self._asks_relevant(fixture.path, fixture.asks_for)
                ):
                    self.relevant.add(fixture)
                    grew = True
        self.names = frozenset(fixture.name for fixture in self.relevant)

    def resolve(self, name: str, path: Path) -> Fixture | None:
        """The fixture ``name`` that a test or fixture in ``path`` gets."""
        found = self._by_name.get(name, [])
        own = [fixture for fixture in found if fixture.path == path]
        if own:
            return own[-1]  # (a module's last definition of a name is the one it has)
        above = [f for f in found if f.path.name in FIXTURE_FILES and path.is_relative_to(f.path.parent)]
        return max(above, key=lambda fixture: len(fixture.path.parts), default=None)

    def _asks_relevant(self, path: Path, asks_for: frozenset[str] | set[str]) -> bool:
        return any(self.resolve(name, path) in self.relevant for name in asks_for)

    def used_by(self, path: Path, asks_for: set[str]) -> list[Fixture]:
        """The fixtures that use the function among those a test in ``path`` asks for, and those they ask for in
        turn, the innermost first (the way they are built)."""
        chain: list[Fixture] = []
        wanted = [(name, path) for name in sorted(asks_for)]
        while wanted:
            name, asking = wanted.pop(0)
            fixture = self.resolve(name, asking)
            if fixture is not None and fixture in self.relevant and fixture not in chain:
                chain.append(fixture)
                wanted += [(inner, fixture.path) for inner in sorted(fixture.asks_for)]
        return chain[::-1]


def fixtures_of(name: str, spec: LanguageSpec, roots: list[Path], open_texts: dict[str, str]) -> Fixtures:
    """The fixtures in test files and conftest.py files, and which of them use ``name``."""
    textobjects, references = spec.queries.get("textobjects"), spec.queries.get("references")
    defined: list[Fixture] = []
    for root in roots if textobjects is not None and references is not None else []:
        for path in workspace_files(root, set(spec.suffixes)):
            if path.name not in FIXTURE_FILES and not spec.is_test_file(path.relative_to(root)):
                continue
            text = open_texts.get(str(path)) or read_source(path)
            if text is None or "fixture" not in text:
                continue
            source = text.encode()
            tree = spec.parser().parse(source)
            for match in matches(textobjects, tree.root_node):
                for node in match.get(FIXTURE, []):
                    used = captures(references, tree.root_node, node.start_byte, node.end_byte)
                    names = {source[n.start_byte : n.end_byte].decode() for group in used.values() for n in group}
                    whole = node.parent if node.parent is not None else node  # (with its decorators)
                    asks = frozenset(parameter_names(node, source))
                    text_of = source[whole.start_byte : whole.end_byte].decode()
                    defined.append(Fixture(_fixture_name(node, source), path, text_of, asks, name in names))
    return Fixtures(defined)


def tests_referring_to(
    name: str,
    registry: LanguageRegistry,
    spec: LanguageSpec,
    roots: list[Path],
    open_texts: dict[str, str] | None = None,
    limit: int = 40,
) -> list[SelectedTest]:
    """Tests (per the language's `test_globs`) whose body refers to ``name``, or (pytest) that ask for a fixture
    that uses it, as runner node ids."""
    selected: list[SelectedTest] = []
    texts = open_texts or {}
    found = _referring(name, spec, roots, texts, "test.around", True, limit)
    fixtures = fixtures_of(name, spec, roots, texts) if has_capture(spec, "textobjects", FIXTURE) else None
    if fixtures is not None and fixtures.relevant:
        logger.info(
            "solve: the fixtures %s use %s: tests that ask for them are selected too", sorted(fixtures.names), name
        )
        seen = {(path, node.start_byte) for _, path, _, node, _ in found}  # type: ignore[attr-defined]
        asking = _referring(name, spec, roots, texts, "test.around", True, limit, asking=fixtures)
        found += [hit for hit in asking if (hit[1], hit[3].start_byte) not in seen][: max(0, limit - len(found))]  # type: ignore[attr-defined]
        files = list(dict.fromkeys(path for _, path, _, _, _ in found))
        found.sort(key=lambda hit: (files.index(hit[1]), hit[3].start_byte))  # type: ignore[attr-defined]
    for root, path, source, node, cases in found:
        relative = path.relative_to(root)
        node_id = "::".join([relative.as_posix(), *_test_name_path(node, source, spec.test_scopes)]) + (
            CASES_SUFFIX if cases else ""
        )
        text = _as_written(source, node)
        chain = fixtures.used_by(path, parameter_names(node, source)) if fixtures is not None else []
        if chain:  # (the model sees what the test's parameters are)
            text = "\n\n".join([*(f"# the fixture {f.name}:\n{f.source}" for f in chain), text])
        selected.append(SelectedTest(node_id, str(path), text))
    return selected


def callers_of(
    name: str, spec: LanguageSpec, roots: list[Path], open_texts: dict[str, str] | None = None, limit: int = 3
) -> list[str]:
    """Source of up to ``limit`` non-test functions that call or mention ``name`` (how it is used)."""
    found = _referring(name, spec, roots, open_texts or {}, "function.around", False, limit)
    return [_as_written(source, node) for _, _, source, node, _ in found]


def _as_written(source: bytes, node: object) -> str:
    """A definition's source as it reads on its own: a method's first line given its indentation back, and all its
    lines dedented together."""
    start, end = node.start_byte, node.end_byte  # type: ignore[attr-defined]
    indent = source[source.rfind(b"\n", 0, start) + 1 : start].decode()
    return as_written(source[start:end].decode(), "" if indent.strip() else indent)
