"""Which tests "solve this function" selects: every test form each runner runs (Rust's #[should_panic] and
#[tokio::test]-style tests, property tests, rstest's and test-case's tests with their cases, Go's fuzz tests and
examples with their output), none that the runner skips as written (#[ignore], @pytest.mark.skip, it.skip,
xdescribe), and a Rust function's own doc-tests; and how tests that skip themselves at run time are counted (real
pytest in the sandbox)."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas_lsp.solve import tests as selection
from atlas_lsp.solve.loop import Candidate, SolveResult
from atlas_lsp.solve.runners.rust_doc_tests import doc_comment_lines, doc_tests
from atlas_lsp.solve.runs import Limits, TestOutcome, TestReport
from atlas_lsp.solve.sandbox import Sandbox
from atlas_lsp.solve.target import find_function
from atlas_lsp.syntax.document import SyntaxDocument
from atlas_lsp.syntax.registry import LanguageRegistry, load_registry


@pytest.fixture(scope="module")
def registry() -> LanguageRegistry:
    return load_registry()


def selected(registry: LanguageRegistry, language: str, root: Path, name: str) -> list[str]:
    return [t.node_id for t in selection.tests_referring_to(name, registry, registry.languages[language], [root])]


RUST_TESTS = """pub fn area(w: u32, h: u32) -> u32 {
    w * h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "overflow")]
    fn area_overflows() {
        area(u32::MAX, 2);
    }

    #[tokio::test]
    async fn area_async() {
        assert_eq!(area(1, 1), 1);
    }

    #[test]
    #[ignore]
    fn area_slow() {
        assert_eq!(area(1, 1), 1);
    }

    #[ignore = "flaky"]
    #[test]
    fn area_flaky() {
        assert_eq!(area(1, 1), 1);
    }

    #[test]
    fn area_plain() {
        assert_eq!(area(2, 2), 4);
    }

    #[quickcheck]
    fn area_commutes(w: u32, h: u32) -> bool {
        area(w, h) == area(h, w)
    }

    #[rstest]
    #[case(1, 1)]
    #[ignore]
    fn area_ignored_cases(#[case] w: u32, #[case] h: u32) {
        area(w, h);
    }

    #[test_case(2, 3 ; "small")]
    #[test_case(4, 5 ; "large")]
    fn area_cases(w: u32, h: u32) {
        assert!(area(w, h) > 0);
    }

    fn area_helper() -> u32 {
        area(3, 3)
    }
}
"""


def test_rust_tests_with_more_attributes_are_selected_and_ignored_ones_are_not(
    registry: LanguageRegistry, tmp_path: Path
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "lib.rs").write_text(RUST_TESTS)
    assert selected(registry, "rust", tmp_path, "area") == [
        "src/lib.rs::tests::area_overflows",
        "src/lib.rs::tests::area_async",
        "src/lib.rs::tests::area_plain",
        "src/lib.rs::tests::area_commutes",
        "src/lib.rs::tests::area_cases (cases)",  # (once, with its two cases)
    ]


GO_TESTS = """package gx

import (
	"fmt"
	"testing"
)

func TestDouble(t *testing.T) {
	_ = Double(1)
}

func ExampleDouble() {
	fmt.Println(Double(2))
	// Output: 4
}

func ExampleDouble_unordered() {
	fmt.Println(Double(1), Double(2))
	// Unordered output:
	// 2 4
}

func ExampleDouble_unchecked() {
	fmt.Println(Double(3))
}

func FuzzDouble(f *testing.F) {
	f.Add(3)
	f.Fuzz(func(t *testing.T, x int) { _ = Double(x) })
}

func BenchmarkDouble(b *testing.B) {
	_ = Double(4)
}
"""


def test_go_fuzz_tests_and_examples_with_output_are_selected(registry: LanguageRegistry, tmp_path: Path) -> None:
    """An example without an output comment is compiled, never run; benchmarks do not run under go test."""
    (tmp_path / "gx_test.go").write_text(GO_TESTS)
    assert selected(registry, "go", tmp_path, "Double") == [
        "gx_test.go::TestDouble",
        "gx_test.go::ExampleDouble",
        "gx_test.go::ExampleDouble_unordered",
        "gx_test.go::FuzzDouble",
    ]


PYTHON_TESTS = """import unittest

import pytest

from calc import f


@pytest.mark.skip(reason="slow")
def test_skipped():
    assert f() == 1


@pytest.mark.skipif(False, reason="decided when it runs")
def test_conditional():
    assert f() == 1


@pytest.mark.xfail
def test_expected_to_fail():
    assert f() == 2


@unittest.skip("not yet")
class TestSkippedClass(unittest.TestCase):
    def test_inside(self):
        f()


def test_plain():
    assert f() == 1
"""
JS_TESTS = """const { f } = require('../calc');
describe.skip('skipped group', () => { it('inside', () => f()); });
describe('group', () => { it.skip('skipped', () => f()); it('runs', () => f()); xit('x-skipped', () => f()); });
xdescribe('x-skipped group', () => { test('inside', () => f()); });
test.todo('later');
test('plain', () => f());
"""


FIXTURE_TESTS = """import pytest

import calc


@pytest.fixture
def adder():
    return calc.add


@pytest.fixture(name="summer")
def make_summer(adder):
    return lambda xs: adder(xs[0], xs[1])


@pytest.fixture
def unrelated():
    return 1


def test_direct():
    assert calc.add(1, 2) == 3


def test_asks(adder):
    assert adder(1, 2) == 3


def test_asks_through_another(summer, unrelated: int):
    assert summer([1, 2]) == 3


@pytest.mark.usefixtures("adder")
def test_uses_it():
    pass


def test_unrelated(unrelated):
    adder = 1
    assert adder == unrelated
"""


def test_pytest_tests_that_ask_for_a_fixture_that_uses_the_function_are_selected(
    registry: LanguageRegistry, tmp_path: Path
) -> None:
    """A test that asks for a fixture (a parameter of its name, or usefixtures) that uses the function, directly or
    through another fixture (in a test file or a conftest.py, named by its function or its `name=`); not a test that
    only has a variable of a fixture's name."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_calc.py").write_text(FIXTURE_TESTS)
    (tmp_path / "conftest.py").write_text(
        "import pytest\nimport calc\n\n\n@pytest.fixture\ndef twice():\n    return lambda a: calc.add(a, a)\n"
    )
    (tmp_path / "tests" / "test_twice.py").write_text(
        "def test_twice(twice: object) -> None:\n    assert twice(2) == 4\n"
    )
    assert selected(registry, "python", tmp_path, "add") == [
        "tests/test_calc.py::test_direct",
        "tests/test_calc.py::test_asks",
        "tests/test_calc.py::test_asks_through_another",
        "tests/test_calc.py::test_uses_it",
        "tests/test_twice.py::test_twice",
    ]
    found = selection.tests_referring_to("add", registry, registry.languages["python"], [tmp_path])
    shown = found[2].source  # (the model is shown the fixtures a test asks for, the innermost first)
    assert (
        shown.index("# the fixture adder:\n@pytest.fixture\ndef adder():")
        < shown.index('# the fixture summer:\n@pytest.fixture(name="summer")')
        < shown.index("def test_asks_through_another(summer, unrelated: int):")
    )
    assert "def unrelated" not in shown and "# the fixture" not in found[0].source


def test_a_fixture_is_the_one_pytest_would_give_the_test(registry: LanguageRegistry, tmp_path: Path) -> None:
    """Two folders' conftest.py files define `client`, one using the function; a test module defines its own: a
    test is selected when the `client` it gets (its module's, else the nearest conftest.py's) uses the function."""
    fixture = "import pytest\nimport calc\n\n\n@pytest.fixture\ndef client():\n    return {body}\n"
    test = "def test_{name}(client):\n    assert client\n"
    for folder, body in (("api", "calc.add"), ("web", "object()")):
        (tmp_path / "tests" / folder / "deep").mkdir(parents=True)
        (tmp_path / "tests" / folder / "conftest.py").write_text(fixture.format(body=body))
        (tmp_path / "tests" / folder / "test_one.py").write_text(test.format(name=folder))
        (tmp_path / "tests" / folder / "deep" / "test_deeper.py").write_text(test.format(name=f"{folder}_deeper"))
    (tmp_path / "tests" / "api" / "test_own.py").write_text(fixture.format(body="object()") + test.format(name="own"))
    assert sorted(selected(registry, "python", tmp_path, "add")) == [
        "tests/api/deep/test_deeper.py::test_api_deeper",
        "tests/api/test_one.py::test_api",
    ]


def test_an_uvu_suites_tests_are_named_after_the_suite(registry: LanguageRegistry, tmp_path: Path) -> None:
    """`const Add = suite('add'); Add('adds', …)`: the test is `add::adds`; a capitalized call that is not a
    suite's (no `suite()` binds its name) is not a test."""
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "calc.test.js").write_text(
        "const { suite } = require('uvu');\nconst { f } = require('../calc');\n\n"
        "const Calc = suite('calc');\nCalc('runs', () => f());\nCalc.only('runs alone', () => f());\n"
        "Calc.skip('skipped', () => f());\nCalc.run();\n\nRegister('not a test', () => f());\n"
    )
    assert selected(registry, "javascript", tmp_path, "f") == [
        "test/calc.test.js::calc::runs",
        "test/calc.test.js::calc::runs alone",
    ]
    (tmp_path / "test" / "calc.test.js").write_text(
        "const { f } = require('../calc');\n\n"
        + "Register('not a test', () => f());\n" * 3
        + "test('real', () => f());\n"
    )  # (calls that are no tests do not count against the limit)
    found = selection.tests_referring_to("f", registry, registry.languages["javascript"], [tmp_path], limit=2)
    assert [t.node_id for t in found] == ["test/calc.test.js::real"]


def test_go_tests_built_only_with_a_tag_are_left_out(registry: LanguageRegistry, tmp_path: Path) -> None:
    """`go test` builds a file with `//go:build integration` only when given that tag: its tests never run by
    default, so none is selected (a negated tag builds by default: selected)."""
    (tmp_path / "go.mod").write_text("module example.com/calc\n\ngo 1.19\n")
    (tmp_path / "calc.go").write_text("package calc\n\nfunc Add(a, b int) int {\n\treturn 0\n}\n")
    test = 'package calc\n\nimport "testing"\n\nfunc Test{name}(t *testing.T) {{\n\tif Add(1, 2) != 3 {{\n'
    test += "\t\tt.Fatal()\n\t}}\n}}\n"
    (tmp_path / "calc_test.go").write_text(test.format(name="Add"))
    (tmp_path / "integration_test.go").write_text("//go:build integration\n\n" + test.format(name="AddIntegration"))
    (tmp_path / "e2e_test.go").write_text("// Copyright\n\n//go:build linux && e2e\n\n" + test.format(name="AddE2E"))
    (tmp_path / "unit_test.go").write_text("//go:build !integration\n\n" + test.format(name="AddUnit"))
    assert sorted(selected(registry, "go", tmp_path, "Add")) == ["calc_test.go::TestAdd", "unit_test.go::TestAddUnit"]


def test_tests_skipped_as_written_are_left_out(registry: LanguageRegistry, tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_calc.py").write_text(PYTHON_TESTS)
    assert selected(registry, "python", tmp_path, "f") == [
        "tests/test_calc.py::test_conditional",
        "tests/test_calc.py::test_plain",
    ]
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "calc.test.js").write_text(JS_TESTS)
    assert selected(registry, "javascript", tmp_path, "f") == [
        "test/calc.test.js::group::runs",
        "test/calc.test.js::plain",
    ]


def test_tests_that_skip_themselves_count_neither_way(tmp_path: Path) -> None:
    """A test that skips itself when it runs (skipif, pytest.skip()) is left out of the count: "1/1 pass (1
    skipped)", not a failure no candidate could mend; a run where every test skipped has not passed."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "calc.py").write_text("def f():\n    return 0\n")
    (tmp_path / "tests" / "test_calc.py").write_text(
        "import pytest\n\nfrom calc import f\n\n\n"
        '@pytest.mark.skipif(True, reason="not on this machine")\ndef test_skips():\n    assert f() == 1\n\n\n'
        'def test_skips_itself():\n    pytest.skip("no data")\n    assert f() == 1\n\n\n'
        "@pytest.mark.parametrize('n', [1, 2])\ndef test_cases(n):\n    if n == 2:\n        pytest.skip('two')\n"
        "    assert f() == n\n\n\n"
        "def test_runs():\n    assert f() == 1\n"
    )
    ids = [f"tests/test_calc.py::{name}" for name in ("test_skips", "test_skips_itself", "test_cases", "test_runs")]
    sandbox = Sandbox(tmp_path, {}, Limits(wall_seconds=60))
    calc = str(tmp_path / "calc.py")
    right = sandbox.run({calc: "def f():\n    return 1\n"}, ids, {}, None)
    wrong = sandbox.run({calc: "def f():\n    return 2\n"}, ids, {}, None)
    only_skipped = sandbox.run({calc: "def f():\n    return 1\n"}, ids[:2], {}, None)
    sandbox.close()
    assert (right.passed, right.total, right.skipped) == (2, 2, 2) and right.all_passed, right
    assert (wrong.passed, wrong.total, wrong.skipped) == (0, 2, 2) and not wrong.all_passed, wrong
    assert "test_skips" not in wrong.failure_text() and "test_runs failed" in wrong.failure_text()
    assert (only_skipped.total, only_skipped.skipped) == (0, 2) and not only_skipped.all_passed


def test_the_evidence_says_how_many_skipped() -> None:
    outcomes = [TestOutcome("t.py::test_a", True), TestOutcome("t.py::test_b", False, "skipped", skipped=True)]
    best = Candidate("def f(): ...", "sample 1", report=TestReport(outcomes, 1.0))
    target = find_function(
        SyntaxDocument(load_registry().languages["python"], "def f():\n    pass\n"), "t.py", name="f"
    )
    assert target is not None
    result = SolveResult(target, ["t.py::test_a", "t.py::test_b"], "the project's tests", [best], best)
    assert result.evidence() == "1/1 selected tests pass: test_a, test_b, 1.0 s (1 skipped)"


DOCUMENTED = """/// Area of a rectangle.
///
/// ```
/// assert_eq!(shapes::area(2, 3), 6);
/// ```
///
/// ```text
/// area = width * height
/// ```
///
/// ```ignore
/// area(1, 2)
/// ```
///
/// ~~~rust,no_run
/// # use shapes::area;
/// let _ = area(1, 1);
/// ~~~
///
/// ```should_panic
/// shapes::area(u32::MAX, 2);
/// ```
#[inline]
#[must_use]
pub fn area(w: u32, h: u32) -> u32 {
    w * h
}
"""


def test_the_doc_tests_of_a_rust_function_are_its_tested_code_blocks() -> None:
    """rustdoc runs plain, `rust`, `no_run` and `should_panic` blocks (named by their fence's line); not `text`
    or `ignore` ones. Attributes between the comment and the function are passed over."""
    start = DOCUMENTED.split("\n").index("pub fn area(w: u32, h: u32) -> u32 {")
    assert len(doc_comment_lines(DOCUMENTED.split("\n"), start)) == 22
    found = doc_tests("src/lib.rs", ["area"], DOCUMENTED, start)
    assert [t.node_id for t in found] == [
        "src/lib.rs::area (doc-test, line 3)",
        "src/lib.rs::area (doc-test, line 15)",
        "src/lib.rs::area (doc-test, line 20)",
    ]
    assert found[0].source == "assert_eq!(shapes::area(2, 3), 6);"
    assert found[1].source == "# use shapes::area;\nlet _ = area(1, 1);"
    assert doc_tests("src/lib.rs", ["area"], "pub fn area() {}\n", 0) == []


BLOCK_DOCUMENTED = """/**
 * Area of a rectangle.
 *
 * ```
 * assert_eq!(shapes::area(2, 3), 6);
 * ```
 */
// (a plain comment between the docs and the item)
#[inline]
pub fn area(w: u32, h: u32) -> u32 {
    w * h
}

/** Doubled, without a column of stars.

    ```
    assert_eq!(shapes::double(2), 4);
    ```
*/
/// ```
/// assert_eq!(shapes::double(0), 0);
/// ```
pub fn double(n: u32) -> u32 {
    n * 2
}

/*
 * A plain block comment: no doc-tests.
 *
 * ```
 * assert!(false);
 * ```
 */
pub fn plain() {}
"""


def test_the_doc_tests_of_a_block_doc_comment_are_named_as_rustdoc_names_them() -> None:
    """`/** … */` blocks: their column of `*` and shared indentation removed; named by the lines rustdoc prints
    (cargo 1.95 here: 3, 16 and 19), which number the doc's joined lines from its first part's line: a block's
    empty first line and its closing line are not counted."""
    lines = BLOCK_DOCUMENTED.split("\n")
    found = {
        name: doc_tests("src/lib.rs", [name], BLOCK_DOCUMENTED, lines.index(f"pub fn {name}(" + rest))
        for name, rest in [("area", "w: u32, h: u32) -> u32 {"), ("double", "n: u32) -> u32 {"), ("plain", ") {}")]
    }
    assert [(t.node_id, t.source) for t in found["area"]] == [
        ("src/lib.rs::area (doc-test, line 3)", "assert_eq!(shapes::area(2, 3), 6);")
    ]
    assert [(t.node_id, t.source) for t in found["double"]] == [
        ("src/lib.rs::double (doc-test, line 16)", "assert_eq!(shapes::double(2), 4);"),
        ("src/lib.rs::double (doc-test, line 19)", "assert_eq!(shapes::double(0), 0);"),
    ]
    assert found["plain"] == []


def test_a_long_failure_does_not_push_the_others_out_of_the_repair() -> None:
    """The repair is shown each failed test's name and the end of its message within the limit, however long one of
    them is (a diff, V8's out-of-memory report); failures past what fits are counted."""
    long_one = TestOutcome("t.py::test_big", False, "x" * 5000 + "\nAssertionError: the end of it")
    short_one = TestOutcome("t.py::test_small", False, "assert 1 == 2")
    text = TestReport([short_one, long_one], 1.0, "").failure_text(limit=1500)
    assert len(text) <= 1500 + 10
    assert "t.py::test_small failed:\nassert 1 == 2" in text and "t.py::test_big failed:" in text
    assert text.endswith("AssertionError: the end of it")
    many = TestReport([TestOutcome(f"t.py::test_{n}", False, "y" * 400) for n in range(20)], 1.0, "")
    shortened = many.failure_text(limit=1500)
    assert "t.py::test_0 failed:" in shortened and shortened.endswith("… and 15 more failed")
    assert TestReport([short_one], 1.0, "").failure_text() == "t.py::test_small failed:\nassert 1 == 2"
