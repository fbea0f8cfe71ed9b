"""Which test runner solves a function of a project: pytest for Python; for JavaScript and TypeScript the project's
jest, vitest, mocha, jasmine, ava, tap or uvu, deno test in a Deno project, bun test in a Bun project, else node:test
(TypeScript on a Node.js that strips types); cargo test for Rust; go test for Go; mvn test for Java; or why none
can."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import subprocess
import sys
from pathlib import Path

from atlas_lsp.solve.runners.ava import AvaRunner
from atlas_lsp.solve.runners.bun_test import LOCKFILES, BunTestRunner, find_bun
from atlas_lsp.solve.runners.cargo_test import CargoTestRunner, find_cargo
from atlas_lsp.solve.runners.deno_test import DenoTestRunner, find_deno, is_deno_project
from atlas_lsp.solve.runners.django_project import django_project
from atlas_lsp.solve.runners.go_test import GoTestRunner, find_go
from atlas_lsp.solve.runners.go_toolchain import ToolchainMissing, toolchain_for
from atlas_lsp.solve.runners.jasmine import JasmineRunner
from atlas_lsp.solve.runners.jest_like import JestLikeRunner
from atlas_lsp.solve.runners.maven_test import MavenTestRunner, choose_maven, find_maven, maven_version, reactor_root
from atlas_lsp.solve.runners.mocha import MochaRunner
from atlas_lsp.solve.runners.node_test import TYPE_STRIPPING, NodeTestRunner, node_version
from atlas_lsp.solve.runners.node_versions import choose_node
from atlas_lsp.solve.runners.pytest_runner import PytestRunner
from atlas_lsp.solve.runners.tap import TapRunner
from atlas_lsp.solve.runners.uvu import UvuRunner
from atlas_lsp.solve.runs import TestRunner
from atlas_lsp.syntax.registry import LanguageSpec

logger = logging.getLogger(__name__)
# JavaScript runners a project may use instead of node:test (in package.json's dependencies or its test script)
OTHER_JS_RUNNERS = ("bun", "vitest", "jest", "mocha", "ava", "jasmine", "uvu", "tap")
JEST_LIKE = ("vitest", "jest")  # one runner for both (jest_like.py); the others have a module each
BIN = Path("node_modules") / ".bin"


NodeRunner = JestLikeRunner | MochaRunner | JasmineRunner | AvaRunner | TapRunner | UvuRunner | NodeTestRunner


class RunnerUnavailable(Exception):
    """No supported test runner can run this project's tests for that language (the message says why)."""


def _package_json(root: Path) -> dict[str, object]:
    try:
        loaded = json.loads((root / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def other_js_runner(root: Path) -> str | None:
    """The JavaScript test runner other than node:test that the project at ``root`` uses, per its package.json."""
    package = _package_json(root)
    names: set[str] = set()
    for section in ("dependencies", "devDependencies"):
        found = package.get(section)
        if isinstance(found, dict):
            names.update(str(name) for name in found)
    scripts = package.get("scripts")
    test_script = str(scripts.get("test", "")) if isinstance(scripts, dict) else ""
    return next((name for name in OTHER_JS_RUNNERS if name in names or name in test_script.split()), None)


def _folders_up(root: Path, path: Path) -> list[Path]:
    """The folders from ``path``'s own up to ``root`` (only ``root`` when the file is not under it)."""
    root = root.resolve()
    folder = path.resolve().parent
    if folder != root and root not in folder.parents:
        return [root]
    folders = [folder]
    while folder != root:
        folder = folder.parent
        folders.append(folder)
    return folders


def _bun_runner(root: Path, folders: list[Path]) -> TestRunner | None:
    """bun test for a project whose test script runs it, or that has Bun's lockfile or bunfig.toml and declares no
    other runner; None for another project."""
    for folder in folders:
        declared = other_js_runner(folder)
        if declared not in (None, "bun"):
            return None
        if declared == "bun" or any((folder / name).exists() for name in LOCKFILES):
            bun = find_bun(folders)
            if bun is None:
                raise RunnerUnavailable(
                    "this project's tests run with bun test: install Bun (bun on PATH or ~/.bun/bin)"
                )
            package = next((f for f in folders if (f / "package.json").is_file()), folder)
            return BunTestRunner(bun, package.relative_to(root.resolve()).as_posix())
    return None


def _deno_runner(root: Path, folders: list[Path]) -> TestRunner | None:
    """deno test for a file under a deno.json (with no package.json between them that declares another runner);
    None for another project."""
    for folder in folders:
        if other_js_runner(folder):
            return None
        if is_deno_project(folder):
            deno = find_deno()
            if deno is None:
                raise RunnerUnavailable(
                    "this project's tests run with deno test: install Deno (deno on PATH or ~/.deno/bin)"
                )
            return DenoTestRunner(deno, folder.relative_to(root.resolve()).as_posix())
    return None


def _strips_types(spec: LanguageSpec, path: Path, node: str, runner: str, why: str, jsx_hint: str = "") -> bool:
    """Whether ``path`` is TypeScript that ``node`` runs itself (stripping its types) under ``runner``, which
    compiles nothing; raises RunnerUnavailable for JSX and TSX, and for TypeScript on a Node.js too old."""
    if spec.name == "tsx" or path.suffix == ".jsx":
        raise RunnerUnavailable(
            f"solving {path.suffix[1:].upper()} functions with {runner} is not supported (it does not compile "
            f"JSX){jsx_hint}"
        )
    typescript = spec.name == "typescript"
    version = node_version(node)
    if typescript and (version is None or version < TYPE_STRIPPING):
        shown = "unknown" if version is None else f"{version[0]}.{version[1]}"
        raise RunnerUnavailable(
            f"solving TypeScript runs the tests with {runner} ({why}), which runs TypeScript from Node.js "
            f"{TYPE_STRIPPING[0]}.{TYPE_STRIPPING[1]} on (type stripping); this node is {shown}"
        )
    return typescript


def _node_runner(spec: LanguageSpec, root: Path, path: Path) -> TestRunner:
    folders = _folders_up(root, path)
    deno = _deno_runner(root, folders)
    if deno is not None:
        return deno
    bun = _bun_runner(root, folders)
    if bun is not None:
        return bun
    choice = choose_node(folders)
    if choice.node is None:
        raise RunnerUnavailable(
            f"solving {spec.name} runs the project's tests with Node.js: install it (node on PATH, or a version "
            "installed by nvm, fnm, asdf, mise or Volta)"
        )
    runner = _runner_on_node(spec, root, path, folders, choice.node)
    if choice.note:
        logger.info("solve: %s", choice.note)
        runner.note = choice.note
    return runner


def _runner_on_node(spec: LanguageSpec, root: Path, path: Path, folders: list[Path], node: str) -> NodeRunner:
    """The project's own runner, else node:test, on ``node``."""
    declared = next(((folder, found) for folder in folders if (found := other_js_runner(folder))), None)
    if declared is not None:
        package, kind = declared
        installed = next((f for f in _folders_up(root, package / "package.json") if (f / BIN / kind).exists()), None)
        if installed is None and any((f / ".pnp.cjs").is_file() for f in _folders_up(root, package / "package.json")):
            raise RunnerUnavailable(
                f"this project's tests run with {kind}, installed by Yarn Plug'n'Play (.pnp.cjs), without a "
                "node_modules folder, which solving needs: set nodeLinker: node-modules in .yarnrc.yml and run "
                "yarn install"
            )
        if installed is None:
            raise RunnerUnavailable(f"this project's tests run with {kind}, which is not installed: run npm install")
        resolved = root.resolve()
        folder, binary = package.relative_to(resolved).as_posix(), (installed / BIN / kind).relative_to(resolved)
        if kind == "mocha":
            return MochaRunner(folder, binary.as_posix(), node)
        if kind == "jasmine":
            return JasmineRunner(folder, binary.as_posix(), node)
        if kind == "ava":
            return AvaRunner(folder, binary.as_posix(), node)
        if kind == "tap":  # (its test files run as Node.js scripts: tap's TypeScript loader is its command line's)
            return TapRunner(folder, node, _strips_types(spec, path, node, "tap", "its test files run by Node.js"))
        if kind == "uvu":
            return UvuRunner(folder, node, _strips_types(spec, path, node, "uvu", "its test files run by Node.js"))
        return JestLikeRunner(kind, folder, binary.as_posix(), node)
    typescript = _strips_types(
        spec, path, node, "node --test", "the project uses neither jest nor vitest", ": jest or vitest projects are"
    )
    return NodeTestRunner(node, typescript)


def _tool_in_module(root: Path, path: Path, manifest: str, tool: str | None, needs: str) -> tuple[str, Path]:
    """The ``tool`` binary and the folder (relative to ``root``) of the ``manifest`` nearest above ``path``; raises
    RunnerUnavailable when either is missing (``needs``: what to install, and the runner's name)."""
    folder = next((f for f in _folders_up(root, path) if (f / manifest).is_file()), None)
    if folder is None:
        raise RunnerUnavailable(f"no {manifest} above {path.name} in {root}: {needs.split(': ')[0]} needs one")
    if tool is None:
        raise RunnerUnavailable(f"solving runs the tests with {needs}")
    return tool, folder.relative_to(root.resolve())


def _cargo_runner(root: Path, path: Path) -> TestRunner:
    cargo, crate = _tool_in_module(root, path, "Cargo.toml", find_cargo(), "cargo test: install Rust (cargo on PATH)")
    return CargoTestRunner(cargo, (crate / "Cargo.toml").as_posix())


def _go_runner(root: Path, path: Path) -> TestRunner:
    go, module = _tool_in_module(root, path, "go.mod", find_go(), "go test: install Go (go on PATH)")
    try:
        return GoTestRunner(toolchain_for(go, root.resolve() / module), module.as_posix())
    except ToolchainMissing as missing:
        raise RunnerUnavailable(str(missing)) from None


GRADLE_FILES = ("build.gradle", "build.gradle.kts", "settings.gradle", "settings.gradle.kts")


def _maven_runner(spec: LanguageSpec, root: Path, path: Path) -> TestRunner:
    folders = _folders_up(root, path)
    module = next((f for f in folders if (f / "pom.xml").is_file()), None)
    gradle = next((f for f in folders for name in GRADLE_FILES if (f / name).is_file()), None)
    if module is None and gradle is not None:
        raise RunnerUnavailable(
            f"this project builds with Gradle ({gradle.name}/…): solving Java runs the tests with Maven "
            "(a pom.xml); Gradle projects are not supported yet"
        )
    choice = choose_maven(folders)
    maven, folder = _tool_in_module(root, path, "pom.xml", choice.maven, "mvn test: install Maven (mvn on PATH)")
    resolved = root.resolve()
    reactor = reactor_root(resolved, resolved / folder).relative_to(resolved)
    runner = MavenTestRunner(maven, spec, folder.as_posix(), reactor.as_posix())
    if choice.note:
        logger.info("solve: %s", choice.note)
        runner.note = choice.note
    return runner


def runner_for(spec: LanguageSpec, root: Path, path: Path) -> TestRunner:
    """The runner for the tests of ``path`` (a file of ``spec``'s language in the project at ``root``); raises
    RunnerUnavailable with the reason when there is none."""
    if spec.test_runner == "pytest":
        return PytestRunner(django_project(root.resolve(), _folders_up(root, path)))
    if spec.test_runner == "node":
        return _node_runner(spec, root, path)
    if spec.test_runner == "cargo":
        return _cargo_runner(root, path)
    if spec.test_runner == "go":
        return _go_runner(root, path)
    if spec.test_runner == "maven":
        return _maven_runner(spec, root, path)
    if not spec.test_runner:  # (C, C++: context and completions only)
        raise RunnerUnavailable(
            f"solving {spec.name} functions is not supported yet: no test runner for {spec.name} (context and "
            "completions work)"
        )
    raise RunnerUnavailable(f"solving {spec.name} functions needs the {spec.test_runner} runner, not supported yet")


def _tool_version(tool: str, argument: str) -> str:
    try:
        done = subprocess.run([tool, argument], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as error:
        return f"{tool} cannot be run: {error}"
    return done.stdout.split(" (")[0].strip() or done.stderr.strip()[:200]


def _pytest_version() -> str:
    """Which pytest runs the tests of an environment without one."""
    try:
        version = importlib.metadata.version("pytest")
    except importlib.metadata.PackageNotFoundError:
        return "an environment without pytest cannot run its tests (atlas-lsp's has none either)"
    try:
        django = f", a Django project without pytest-django with its {importlib.metadata.version('pytest-django')}"
    except importlib.metadata.PackageNotFoundError:
        django = ""
    return f"an environment without pytest runs its tests with atlas-lsp's pytest {version}{django}"


def runner_summary() -> dict[str, str]:
    """What each runner of the solve action would run with here (for `atlas-lsp doctor`)."""
    node = choose_node([]).node
    version = node_version(node) if node else None
    if node is None:
        javascript = "not available: no node on PATH or from a version manager (solving JavaScript needs Node.js)"
    elif version is None:
        javascript = f"{node} cannot be run"
    else:
        shown = f"node {version[0]}.{version[1]}"
        typescript = "TypeScript too" if version >= TYPE_STRIPPING else "TypeScript needs Node.js 22.6+"
        own = "jest, vitest, mocha, jasmine, ava, tap or uvu"
        javascript = (
            f"{shown} ({typescript}); a project's own {own} runs its tests instead; a Node.js the project pins "
            "(.nvmrc, …) runs them where a version manager installed it"
        )
    cargo = find_cargo()
    go = find_go()
    maven = find_maven()
    bun = find_bun([])
    deno = find_deno()
    return {
        "pytest": (
            "solve.python when set, else the project's environment (its virtualenv, Poetry's, Pipenv's, "
            f"Hatch's, pyenv's or conda's), else the active one, else {sys.executable}; {_pytest_version()}"
        ),
        "node:test": javascript,
        "bun test": f"bun {_tool_version(bun, '--version')} (Bun projects)"
        if bun
        else "not available: no bun on PATH or ~/.bun/bin (a project's node_modules/.bin/bun is used too)",
        "deno test": _tool_version(deno, "--version") + " (Deno projects)"
        if deno
        else "not available: no deno on PATH or ~/.deno/bin",
        "cargo test": _tool_version(cargo, "--version") if cargo else "not available: no cargo on PATH or ~/.cargo/bin",
        "go test": _tool_version(go, "version") if go else "not available: no go on PATH",
        "mvn test": f"{maven_version(maven)} (Maven projects' JUnit tests)"
        if maven
        else "not available: no mvn on PATH (solving Java needs Maven)",
    }
