"""Solve this function in JavaScript (node:test, tap, uvu), TypeScript (vitest), Rust (cargo test), Go (go test) and
Java (mvn test), end to end over LSP: the real server finds the project's tests, runs them with the project's own
runner in the sandbox and proposes only what passed."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from pytest_lsp import LanguageClient

from tests.e2e.conftest import open_document, start_session, wait_for_status
from tests.e2e.test_solve import record_edits
from tests.e2e.test_solve_scripted import solve_through_the_action
from tests.support.npm_packages import installed, link_node_modules
from tests.support.scripted_openai import ScriptedEndpoint
from tests.unit.test_maven_runner import CALC, maven_project
from tests.unit.test_runners import BUN, DENO, TAP, UVU, VITEST

MATH_JS = "function add(a, b) {\n  // TODO: the sum of a and b\n}\n\nmodule.exports = { add };\n"
MATH_TESTS = """const { describe, it, test } = require('node:test');
const assert = require('node:assert');
const { add } = require('../math');

test('adds two numbers', () => {
  assert.strictEqual(add(2, 3), 5);
});

describe('add', () => {
  it('adds a negative number', () => {
    assert.strictEqual(add(-1, 1), 0);
  });
});
"""


async def solve_add_with_the_bundled_model(
    client: LanguageClient, root: Path, package: dict[str, object], tests: str
) -> tuple[list[str], str]:
    """Solve add() of math.js (a stub) with the bundled model, its tests in test/math.test.js: the job's progress
    messages and the edit proposed (one: SmolLM2 writes add() in JavaScript correctly); the file never changes."""
    (root / "test").mkdir()
    (root / "package.json").write_text(json.dumps({"name": "calc", **package}))
    (root / "math.js").write_text(MATH_JS)
    (root / "test" / "math.test.js").write_text(tests)
    edits = record_edits(client)
    await start_session(client, root, options={"solve": {"candidates": 4, "repairRounds": 1}})
    await wait_for_status(client, {"ready"})
    uri = open_document(client, root / "math.js", MATH_JS, "javascript")
    reports = await solve_through_the_action(client, uri, 1)
    messages = [getattr(r, "message", "") or "" for r in reports]
    assert len(edits) == 1, messages
    assert (root / "math.js").read_text() == MATH_JS
    return messages, edits[0].edit.document_changes[0].edits[0].new_text


@pytest.mark.usefixtures("model_backend")
async def test_a_javascript_function_is_solved_with_the_bundled_model_and_its_node_tests(
    client: LanguageClient, tmp_path: Path
) -> None:
    messages, proposed = await solve_add_with_the_bundled_model(
        client, tmp_path, {"scripts": {"test": "node --test"}}, MATH_TESTS
    )
    assert any(m.startswith("running 2 tests on candidate") for m in messages), messages
    assert "2/2 selected tests pass: adds two numbers, adds a negative number" in messages[-1], messages
    assert proposed.startswith("function add(a, b) {") and "return" in proposed


TAP_TESTS = """const t = require('tap');
const { add } = require('../math');

t.test('add', async (t) => {
  t.test('adds two numbers', async (t) => {
    t.equal(add(2, 3), 5);
  });
  t.test('adds a negative number', async (t) => {
    t.equal(add(-1, 1), 0);
  });
});
"""


@pytest.mark.usefixtures("model_backend")
async def test_a_javascript_function_is_solved_with_the_bundled_model_and_its_tap_tests(
    client: LanguageClient, tmp_path: Path
) -> None:
    """node-tap: its nested subtests selected and read from its TAP, with the project's own tap."""
    link_node_modules(tmp_path, TAP)
    messages, proposed = await solve_add_with_the_bundled_model(
        client, tmp_path, {"devDependencies": {"tap": "^21"}}, TAP_TESTS
    )
    assert any(m.startswith("running 3 tests on candidate") for m in messages), messages
    assert "3/3 selected tests pass: add, adds two numbers, adds a negative number" in messages[-1], messages
    assert proposed.startswith("function add(a, b) {") and "return" in proposed


UVU_TESTS = """const { suite } = require('uvu');
const assert = require('uvu/assert');
const { add } = require('../math');

const Add = suite('add');
Add('adds two numbers', () => {
  assert.is(add(2, 3), 5);
});
Add('adds a negative number', () => {
  assert.is(add(-1, 1), 0);
});
Add.run();
"""


@pytest.mark.usefixtures("model_backend")
async def test_a_javascript_function_is_solved_with_the_bundled_model_and_its_uvu_tests(
    client: LanguageClient, tmp_path: Path
) -> None:
    """uvu: a suite's tests selected, run through its wrapped exports, with the project's own uvu."""
    link_node_modules(tmp_path, UVU)
    messages, proposed = await solve_add_with_the_bundled_model(
        client, tmp_path, {"devDependencies": {"uvu": "^0.5"}}, UVU_TESTS
    )
    assert any(m.startswith("running 2 tests on candidate") for m in messages), messages
    assert "2/2 selected tests pass: adds two numbers, adds a negative number" in messages[-1], messages
    assert proposed.startswith("function add(a, b) {") and "return" in proposed


async def solve_with_script(
    client: LanguageClient, root: Path, replies: list[str], relative: str, language: str, line: int = 1
) -> tuple[ScriptedEndpoint, list[str]]:
    """Solve the function on ``line`` of ``relative`` with a scripted model answering ``replies`` (one candidate,
    then repairs): the endpoint (what it was asked) and the job's progress messages."""
    with ScriptedEndpoint(replies).running() as endpoint:
        solve = {"candidates": 1, "repairRounds": len(replies) - 1}
        await start_session(client, root, options={"model": {"backend": "openai", "url": endpoint.url}, "solve": solve})
        await wait_for_status(client, {"ready"})
        uri = open_document(client, root / relative, (root / relative).read_text(), language)
        reports = await solve_through_the_action(client, uri, line)
    return endpoint, [getattr(r, "message", "") or "" for r in reports]


CARGO_TOML = '[package]\nname = "shapes"\nversion = "0.1.0"\nedition = "2021"\n'
LIB_RS = """pub fn area(width: u32, height: u32) -> u32 {
    todo!()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rectangle() {
        assert_eq!(area(2, 3), 6);
    }

    #[test]
    fn empty() {
        assert_eq!(area(0, 7), 0);
    }
}
"""
DOES_NOT_COMPILE = '```rust\npub fn area(width: u32, height: u32) -> u32 {\n    "width times height"\n}\n```'
WRONG = "```rust\npub fn area(width: u32, height: u32) -> u32 {\n    width * width\n}\n```"
RIGHT = "```rust\npub fn area(width: u32, height: u32) -> u32 {\n    width * height\n}\n```"


async def test_a_rust_function_is_repaired_from_the_compiler_and_its_cargo_tests(
    client: LanguageClient, tmp_path: Path
) -> None:
    """A scripted model (so the outcome is known; the bundled one cannot write Rust): a candidate that does not
    compile, its repair from the compiler's error that fails a test, the repair of that from the failing assertion,
    which passes and is proposed."""
    (tmp_path / "src").mkdir()
    (tmp_path / "Cargo.toml").write_text(CARGO_TOML)
    (tmp_path / "src" / "lib.rs").write_text(LIB_RS)
    edits = record_edits(client)
    replies = [DOES_NOT_COMPILE, WRONG, RIGHT]
    endpoint, messages = await solve_with_script(client, tmp_path, replies, "src/lib.rs", "rust")
    assert "repair round 2" in messages and "2/2 selected tests pass: rectangle, empty" in messages[-1], messages
    first_repair = "\n".join(m["content"] for m in endpoint.requests[1]["messages"])
    assert "the code does not compile" in first_repair and "mismatched types" in first_repair
    second_repair = "\n".join(m["content"] for m in endpoint.requests[2]["messages"])
    assert "tests::rectangle failed" in second_repair and "left: 4" in second_repair
    (edit,) = edits
    assert edit.edit.document_changes[0].edits[0].new_text == RIGHT.split("\n", 1)[1].rsplit("\n", 1)[0]
    assert (tmp_path / "src" / "lib.rs").read_text() == LIB_RS


SHAPES_TS = "export function area(width: number, height: number): number {\n  return 0;\n}\n"
SHAPES_TESTS = """import { describe, expect, it } from 'vitest';
import { area } from './shapes';

describe('area', () => {
  it('of a rectangle', () => {
    expect(area(2, 3)).toBe(6);
  });
});
"""
AREA = "```typescript\nfunction area(width: number, height: number): number {\n  return width * height;\n}\n```"


async def test_a_typescript_function_of_a_vitest_project_is_solved_with_vitest(
    client: LanguageClient, tmp_path: Path
) -> None:
    """TypeScript on this machine's Node.js 20 (which cannot run it itself): the project's vitest compiles it. The
    light bulb is there, and the scripted model's candidate is tested by vitest and proposed."""
    (tmp_path / "src").mkdir()
    (tmp_path / "package.json").write_text(json.dumps({"type": "module", "devDependencies": {"vitest": "^3"}}))
    link_node_modules(tmp_path, VITEST)
    (tmp_path / "src" / "shapes.ts").write_text(SHAPES_TS)
    (tmp_path / "src" / "shapes.test.ts").write_text(SHAPES_TESTS)
    edits = record_edits(client)
    _, messages = await solve_with_script(client, tmp_path, [AREA], "src/shapes.ts", "typescript")
    assert "1/1 selected tests pass: of a rectangle" in messages[-1], messages
    (edit,) = edits
    assert "return width * height;" in edit.edit.document_changes[0].edits[0].new_text


GO_MOD = "module example.com/shapes\n\ngo 1.19\n"
AREA_GO = "package shapes\n\nfunc Area(width int, height int) int {\n\treturn 0\n}\n"
AREA_TEST_GO = (
    'package shapes\n\nimport "testing"\n\nfunc TestArea(t *testing.T) {\n'
    '\tif got := Area(2, 3); got != 6 {\n\t\tt.Fatalf("Area(2, 3) = %d, want 6", got)\n\t}\n}\n'
)
GO_DOES_NOT_COMPILE = '```go\nfunc Area(width int, height int) int {\n\treturn "six"\n}\n```'
GO_RIGHT = "```go\nfunc Area(width int, height int) int {\n\treturn width * height\n}\n```"


async def test_a_go_function_is_repaired_from_the_compiler_and_its_go_tests(
    client: LanguageClient, tmp_path: Path
) -> None:
    """A scripted model: a candidate Go cannot build, then its repair from the compiler's error, which `go test`
    passes; the light bulb is on the Go function of a module."""
    (tmp_path / "go.mod").write_text(GO_MOD)
    (tmp_path / "area.go").write_text(AREA_GO)
    (tmp_path / "area_test.go").write_text(AREA_TEST_GO)
    edits = record_edits(client)
    endpoint, messages = await solve_with_script(client, tmp_path, [GO_DOES_NOT_COMPILE, GO_RIGHT], "area.go", "go")
    assert "1/1 selected tests pass: TestArea" in messages[-1], messages
    repair = "\n".join(m["content"] for m in endpoint.requests[1]["messages"])
    assert "the code does not compile" in repair and "area.go:4" in repair
    (edit,) = edits
    assert "return width * height" in edit.edit.document_changes[0].edits[0].new_text


BUN_SHAPES = "export function area(width: number, height: number): number {\n  return 0;\n}\n"
BUN_SHAPES_TESTS = """import { expect, test } from "bun:test";
import { area } from "./shapes";

test("of a rectangle", () => {
  expect(area(2, 3)).toBe(6);
});
"""
BUN_WRONG = "```ts\nfunction area(width: number, height: number): number {\n  return width * width;\n}\n```"


async def test_a_typescript_function_of_a_bun_project_is_repaired_from_its_bun_tests(
    client: LanguageClient, tmp_path: Path
) -> None:
    """A Bun project (its lockfile; bun from the project's node_modules/.bin, as npm's bun package puts it): a
    scripted candidate that fails its `bun:test` test, then the repair from bun's message, which passes."""
    (tmp_path / "src").mkdir()
    (tmp_path / "package.json").write_text(json.dumps({"name": "shapes"}))
    (tmp_path / "bun.lock").write_text("{}")
    bin_folder = tmp_path / "node_modules" / ".bin"
    bin_folder.mkdir(parents=True)
    (bin_folder / "bun").symlink_to(installed(BUN) / "node_modules" / "@oven" / "bun-linux-x64" / "bin" / "bun")
    (tmp_path / "src" / "shapes.ts").write_text(BUN_SHAPES)
    (tmp_path / "src" / "shapes.test.ts").write_text(BUN_SHAPES_TESTS)
    edits = record_edits(client)
    endpoint, messages = await solve_with_script(client, tmp_path, [BUN_WRONG, AREA], "src/shapes.ts", "typescript")
    assert "1/1 selected tests pass: of a rectangle" in messages[-1], messages
    repair = "\n".join(m["content"] for m in endpoint.requests[1]["messages"])
    assert "Expected: 6" in repair and "Received: 4" in repair
    (edit,) = edits
    assert "return width * height;" in edit.edit.document_changes[0].edits[0].new_text


@pytest.fixture
def deno_for_the_server(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Deno on the PATH the server starts with (requested before the client fixture starts it)."""
    folder = installed(DENO) / "node_modules" / "@deno" / "linux-x64-glibc"
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DENO_DIR", str(tmp_path_factory.mktemp("deno-dir")))


DENO_SHAPES_TESTS = """import { area } from "./shapes.ts";

Deno.test("of a rectangle", () => {
  const got = area(2, 3);
  if (got !== 6) throw new Error(`area(2, 3) is ${got}, not 6`);
});
"""
DENO_DOES_NOT_TYPE_CHECK = '```ts\nfunction area(width: number, height: number): number {\n  return "six";\n}\n```'


@pytest.mark.usefixtures("deno_for_the_server")
async def test_a_typescript_function_of_a_deno_project_is_repaired_from_deno(
    client: LanguageClient, tmp_path: Path
) -> None:
    """A Deno project: a scripted candidate that does not type-check, then the repair from Deno's type error, which
    its Deno.test passes."""
    (tmp_path / "deno.json").write_text("{}")
    (tmp_path / "shapes.ts").write_text(BUN_SHAPES)
    (tmp_path / "shapes_test.ts").write_text(DENO_SHAPES_TESTS)
    edits = record_edits(client)
    endpoint, messages = await solve_with_script(
        client, tmp_path, [DENO_DOES_NOT_TYPE_CHECK, AREA], "shapes.ts", "typescript"
    )
    assert "1/1 selected tests pass: of a rectangle" in messages[-1], messages
    repair = "\n".join(m["content"] for m in endpoint.requests[1]["messages"])
    assert "the code does not compile" in repair and "TS2322" in repair
    (edit,) = edits
    assert "return width * height;" in edit.edit.document_changes[0].edits[0].new_text


JAVA_EVIDENCE = "4/4 selected tests pass: addsSmallNumbers, addsPairs (cases), addsOnAnotherMachine"  # (, …, 3.0 s)


SIMPLE_CALC = """package com.example;

public class Calc {
    /** The sum of a and b. */
    public static int add(int a, int b) {
        throw new UnsupportedOperationException("TODO");
    }
}
"""
SIMPLE_CALC_TESTS = """package com.example;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class CalcTest {
    @Test
    void addsTwoNumbers() {
        assertEquals(5, Calc.add(2, 3));
    }

    @Test
    void addsANegativeNumber() {
        assertEquals(0, Calc.add(-1, 1));
    }
}
"""


@pytest.mark.usefixtures("model_backend")
async def test_a_java_function_is_solved_with_the_bundled_model_and_its_junit_tests(
    client: LanguageClient, tmp_path: Path
) -> None:
    """A Maven project's stub (throw new UnsupportedOperationException) solved with the bundled model (SmolLM2
    writes add() in Java correctly, as it does in JavaScript; the test selection's harder cases are the scripted
    test's below and the runner's unit tests): its JUnit tests run with mvn test, and the edit is proposed with the
    evidence."""
    path = maven_project(tmp_path)  # (its pom.xml, with the local repository primed), then a plain class and tests
    shutil.rmtree(tmp_path / "src" / "test")
    (tmp_path / "src" / "test" / "java" / "com" / "example").mkdir(parents=True)
    path.write_text(SIMPLE_CALC)
    (tmp_path / "src" / "test" / "java" / "com" / "example" / "CalcTest.java").write_text(SIMPLE_CALC_TESTS)
    edits = record_edits(client)
    await start_session(client, tmp_path, options={"solve": {"candidates": 4, "repairRounds": 1}})
    await wait_for_status(client, {"ready"})
    uri = open_document(client, path, SIMPLE_CALC, "java")
    reports = await solve_through_the_action(client, uri, 5)
    messages = [getattr(r, "message", "") or "" for r in reports]
    assert any(m.startswith("running 2 tests on candidate") for m in messages), messages
    assert "2/2 selected tests pass: addsTwoNumbers, addsANegativeNumber" in messages[-1], messages
    (edit,) = edits
    proposed = edit.edit.document_changes[0].edits[0].new_text
    assert proposed.startswith("public static int add(int a, int b) {") and "return" in proposed
    assert path.read_text() == SIMPLE_CALC and not (tmp_path / "target").exists()


JAVA_DOES_NOT_COMPILE = "```java\npublic static int add(int a, int b) {\n    return a + c;\n}\n```"
JAVA_WRONG = "```java\npublic static int add(int a, int b) {\n    return a - b;\n}\n```"  # (adds zero only)
JAVA_RIGHT = "```java\npublic static int add(int a, int b) {\n    return a + b;\n}\n```"


async def test_a_java_function_is_repaired_from_javac_and_its_junit_tests(
    client: LanguageClient, tmp_path: Path
) -> None:
    """A scripted model: a candidate javac rejects, its repair from the compiler's error that fails a test, the
    repair of that from the failing assertion, which passes and is proposed, indented as the method is."""
    path = maven_project(tmp_path)
    edits = record_edits(client)
    replies = [JAVA_DOES_NOT_COMPILE, JAVA_WRONG, JAVA_RIGHT]
    relative = path.relative_to(tmp_path).as_posix()
    endpoint, messages = await solve_with_script(client, tmp_path, replies, relative, "java", line=5)
    assert "repair round 2" in messages and JAVA_EVIDENCE in messages[-1], messages
    first_repair = "\n".join(m["content"] for m in endpoint.requests[1]["messages"])
    assert "the code does not compile" in first_repair and "Calc.java:6:20: cannot find symbol" in first_repair
    assert "symbol:   variable c" in first_repair
    second_repair = "\n".join(m["content"] for m in endpoint.requests[2]["messages"])
    assert "CalcTest::addsSmallNumbers failed" in second_repair and "expected: <3> but was: <-1>" in second_repair
    (edit,) = edits
    assert edit.edit.document_changes[0].edits[0].new_text == (
        "public static int add(int a, int b) {\n        return a + b;\n    }"
    )
    assert path.read_text() == CALC
