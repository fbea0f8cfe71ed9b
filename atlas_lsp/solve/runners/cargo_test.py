"""cargo test: builds the crate's test targets offline (the build cache shared by the job's candidates) and runs the
selected tests by their exact paths, then the function's own doc-tests (`rust_doc_tests.py`) with `--doc`; outcomes
come from libtest's result lines, a build that fails gives the compiler's errors (what a repair needs)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from atlas_lsp.solve.runners.rust_doc_tests import (
    DocTest,
    doc_filter,
    doc_key,
    doc_tests,
    has_library,
    is_doc_test,
    result_key,
    same_file,
)
from atlas_lsp.solve.runs import (
    CASES_SUFFIX,
    NOT_COLLECTED,
    NOT_RUN,
    SKIPPED,
    FinishedRun,
    Limits,
    RunCommand,
    RunPlace,
    TestOutcome,
    TestReport,
)
from atlas_lsp.solve.sandbox import base_environment, run_problem, whole_run_failed
from atlas_lsp.solve.target import FunctionTarget
from atlas_lsp.syntax.registry import LanguageSpec

# (a #[should_panic] test's line says so after its name: "test tests::x - should panic ... ok")
_RESULT = re.compile(r"^test (?P<name>.+?)(?: - should panic)? \.\.\. (?P<status>ok|FAILED|ignored)\b")
_DETAILS = re.compile(r"^---- (?P<name>.+) stdout ----$")
_COMPILE_FAILURE = re.compile(r"^error\[E\d+\]|^error: could not compile", re.M)  # rustc's, not cargo's own
DOES_NOT_COMPILE = "the code does not compile"
CACHE_HINT = (
    "the sandbox builds offline and cannot write to CARGO_HOME: build or test the project once with cargo, so its "
    "dependencies are downloaded and unpacked there"
)


def _as_is(path: Path) -> Path:
    return path


def crate_folder(workdir: Path, relative: str, source: Callable[[Path], Path] = _as_is) -> Path | None:
    """The folder of the Cargo.toml nearest above ``relative`` (a file in the copy ``workdir``, read through
    ``source``: `RunPlace.source`), or None."""
    folder = (workdir / relative).parent
    while True:
        if source(folder / "Cargo.toml").is_file():
            return folder
        if folder == workdir or workdir not in folder.parents:
            return None
        folder = folder.parent


def module_path(relative_to_crate: PurePosixPath) -> list[str]:
    """The module that a file of a crate is (``src/lib.rs`` and target roots: none; ``src/a/b.rs``, ``src/a/b/mod.rs``:
    ``a::b``), which prefixes its tests' paths."""
    parts = list(relative_to_crate.parts)
    if len(parts) < 2 or parts[0] != "src" or parts[1] == "bin" or parts[1:] in (["lib.rs"], ["main.rs"]):
        return []
    modules = [*parts[1:-1], relative_to_crate.stem]
    return modules[:-1] if modules[-1] == "mod" else modules


def crate_module(
    workdir: Path, file: str, source: Callable[[Path], Path] = _as_is
) -> tuple[Path | None, PurePosixPath, list[str]]:
    """The crate folder of ``file`` (relative to ``workdir``), the file's path in the crate, and its module path."""
    crate = crate_folder(workdir, file, source)
    in_crate = PurePosixPath((workdir / file).relative_to(crate).as_posix()) if crate else PurePosixPath(file)
    return crate, in_crate, module_path(in_crate) if crate else []


def item_path(spec: LanguageSpec, text: str, target: FunctionTarget) -> list[str]:
    """The names of the function within its file, outermost first: inline modules, the type of its impl block (as
    written), its own name."""
    source = text.encode()
    node = spec.parser().parse(source).root_node.descendant_for_byte_range(target.start_byte, target.end_byte)
    names = [target.name]
    current = node.parent if node is not None else None
    while current is not None:
        field = {"mod_item": "name", "impl_item": "type"}.get(current.type)
        named = current.child_by_field_name(field) if field else None
        if named is not None:
            names.insert(0, source[named.start_byte : named.end_byte].decode())
        current = current.parent
    return names


def test_path(place: RunPlace, node_id: str) -> str:
    """The path libtest knows a test by: its file's module, then the modules and the function around it (an rstest
    or test-case test's cases: under it)."""
    file, *names = node_id.removesuffix(CASES_SUFFIX).split("::")
    _, _, modules = crate_module(place.workdir, file, place.source)
    return "::".join([*modules, *names])


def compiler_errors(output: str, limit_lines: int = 30) -> str:
    """The compiler's error messages (each from its ``error`` line to the blank line after it), at most
    ``limit_lines`` lines."""
    blocks: list[str] = []  # (a second cargo run, for the doc-tests, repeats the first one's errors: kept once)
    current: list[str] | None = None
    for line in output.split("\n"):
        if line.startswith("error") and not line.startswith("error: test failed"):
            current = [line]
            blocks.append("")
        elif current is not None and line.strip():
            current.append(line)
        else:
            current = None
        if current is not None:
            blocks[-1] = "\n".join(current)
    return "\n".join("\n".join(dict.fromkeys(blocks)).split("\n")[:limit_lines])


def cargo_failure(output: str) -> str:
    """Cargo's own error (a dependency it cannot fetch or unpack, a manifest it cannot read) in one line, with its
    deepest cause; "" when there is none."""
    lines = [line.strip() for line in output.split("\n")]
    start = next((index for index, line in enumerate(lines) if line.startswith("error:")), None)
    if start is None:
        return ""
    causes = [line for line in lines[start + 1 :] if line and line != "Caused by:" and not line.startswith("warning")]
    first = lines[start][len("error:") :].strip()
    return f"{first} ({causes[-1]})" if causes else first


def failure_details(output: str) -> dict[str, str]:
    """Each failed test's captured output (its panic message), by test path."""
    details: dict[str, str] = {}
    name: str | None = None
    for line in output.split("\n"):
        header = _DETAILS.match(line)
        if header:
            name = header.group("name")
            details[name] = ""
        elif name is not None and (line == "failures:" or line.startswith("test result:")):
            name = None
        elif name is not None:
            details[name] = (details[name] + "\n" + line).strip()
    return details


_TOOLCHAIN_MISSING = re.compile(r"^error: (?:override )?toolchain '([^']+)' is not installed", re.M)  # (rustup's)


class CargoTestRunner:
    name = "cargo test"
    linked_folders: tuple[str, ...] = ()

    def __init__(self, cargo: str, manifest: str) -> None:
        self.cargo = cargo
        self.manifest = manifest  # relative to the project: the Cargo.toml of the function's crate

    def own_tests(self, root: Path, path: Path, text: str, spec: LanguageSpec, target: FunctionTarget) -> list[DocTest]:
        """The function's own doc-tests (a library's; a binary has none)."""
        relative = path.resolve().relative_to(root.resolve()).as_posix()
        crate, in_crate, _ = crate_module(root, relative)
        binary = in_crate.as_posix() == "src/main.rs" or in_crate.parts[:2] == ("src", "bin")
        if crate is None or not has_library(crate) or in_crate.parts[:1] != ("src",) or binary:
            return []
        return doc_tests(relative, item_path(spec, text, target), text, target.start_line)

    def command(self, place: RunPlace, node_ids: list[str], limits: Limits) -> RunCommand:
        manifest = str(place.workdir / self.manifest)
        common = [self.cargo, "test", "--manifest-path", manifest, "--offline", "--no-fail-fast", "--color", "never"]
        docs = [node_id for node_id in node_ids if is_doc_test(node_id)]
        cases = [node_id for node_id in node_ids if node_id.endswith(CASES_SUFFIX)]
        unit = [node_id for node_id in node_ids if node_id not in docs and node_id not in cases]
        runs: list[list[str]] = []
        if unit:
            paths = list(dict.fromkeys(test_path(place, node_id) for node_id in unit))
            runs.append([*common, "--workspace", "--tests", "--", "--exact", *paths])
        if cases:  # (their cases' names are the crate's to make: a filter that each of them holds)
            runs.append([*common, "--workspace", "--tests", "--", *dict.fromkeys(test_path(place, c) for c in cases)])
        if docs:
            filters = [doc_filter(crate_module(place.workdir, d.split("::", 1)[0], place.source)[2], d) for d in docs]
            runs.append([*common, "--doc", "--", *dict.fromkeys(filters)])
        # (--doc cannot be combined with --tests, rustdoc's names hold spaces, which --exact filters cannot, and
        # --exact applies to every filter: a run each, each whatever the others' tests did; the exit status the
        # first failure's)
        chained = "; ".join(f'{shlex.join(run)} || {{ s=$?; [ "$first" -ne 0 ] || first=$s; }}' for run in runs)
        argv = runs[0] if len(runs) == 1 else ["sh", "-c", f"first=0; {chained}; exit $first"]
        home = Path.home()
        environment = {
            **base_environment(place.workdir, [str(Path(self.cargo).parent)]),
            "CARGO_HOME": os.environ.get("CARGO_HOME", str(home / ".cargo")),
            "RUSTUP_HOME": os.environ.get("RUSTUP_HOME", str(home / ".rustup")),
            "CARGO_TARGET_DIR": str(place.shared / "cargo-target"),
            "CARGO_TERM_COLOR": "never",
            "RUST_BACKTRACE": "0",
            "RUSTUP_AUTO_INSTALL": "0",  # (a toolchain the project pins and rustup lacks: said, not downloaded)
        }
        if "RUSTUP_TOOLCHAIN" in os.environ:
            environment["RUSTUP_TOOLCHAIN"] = os.environ["RUSTUP_TOOLCHAIN"]
        return RunCommand(argv, environment, None, limit_address_space=False)

    def outcomes(self, place: RunPlace, command: RunCommand, node_ids: list[str], run: FinishedRun) -> TestReport:
        # test path (a doc-test: rustdoc's name) -> its statuses: ok, FAILED, ignored
        results: dict[str, list[str]] = {}
        for line in run.output.split("\n"):
            found = _RESULT.match(line)
            if found:
                results.setdefault(found.group("name"), []).append(found.group("status"))
        problem = run_problem(run, (0, 101))
        compile_failure = _COMPILE_FAILURE.search(run.output) is not None
        if not results:
            if (toolchain := _TOOLCHAIN_MISSING.search(run.output)) is not None:
                problem = (
                    f"{NOT_COLLECTED}: the Rust toolchain the project asks for, {toolchain.group(1)}, is not "
                    "installed and the sandbox is offline: run `rustup toolchain install` in the project (or build "
                    "it once with cargo)"
                )
            elif not problem and compile_failure:
                problem = f"{DOES_NOT_COMPILE}:\n{compiler_errors(run.output)}"
            elif not problem and (failure := cargo_failure(run.output)):
                problem = f"{NOT_COLLECTED}: cargo could not build them: {failure}"
                if any(word in failure for word in ("download", "offline", "Read-only file system")):
                    problem += f"\n({CACHE_HINT})"
            else:
                return whole_run_failed(run, node_ids, problem or "cargo test ran no test")
            return TestReport([TestOutcome(node_id, False, problem) for node_id in node_ids], 0.0, problem)
        details = failure_details(run.output)
        outcomes = []
        for node_id in node_ids:
            path, names = self._result_names(place, node_id, results)
            if not names:
                why = f"{NOT_RUN} (no test by the path {path} ran)"
                if compile_failure:  # (the unit tests' build failed while the doc-tests' did not, or the reverse)
                    why = f"{DOES_NOT_COMPILE}:\n{compiler_errors(run.output)}"
                outcomes.append(TestOutcome(node_id, False, why))
                continue
            statuses = [status for name in names for status in results[name] if status != "ignored"]
            if not statuses:
                outcomes.append(TestOutcome(node_id, False, SKIPPED, skipped=True))
                continue
            passed = all(status == "ok" for status in statuses)
            message = "\n".join(details.get(name, "") for name in names).strip() or "failed"
            outcomes.append(TestOutcome(node_id, passed, "" if passed else message))
        return TestReport(outcomes, 0.0, problem)

    @staticmethod
    def _result_names(place: RunPlace, node_id: str, results: dict[str, list[str]]) -> tuple[str, list[str]]:
        """What ``node_id`` is called in the results (its path; a doc-test: its file and line), and the results' names
        for it."""
        if node_id.endswith(CASES_SUFFIX):  # (rstest without cases: a test of its own name)
            path = test_path(place, node_id)
            return path, [name for name in results if name == path or name.startswith(path + "::")]
        if not is_doc_test(node_id):
            path = test_path(place, node_id)
            return path, [path] if path in results else []
        _, in_crate, _ = crate_module(place.workdir, node_id.split("::", 1)[0], place.source)
        file, line = doc_key(node_id, in_crate)
        keys = {name: result_key(name) for name in results}
        found = [name for name, key in keys.items() if key is not None and key[1] == line and same_file(key[0], file)]
        return f"{file} (line {line})", found


def find_cargo() -> str | None:
    """``cargo`` on PATH, else rustup's default place (~/.cargo/bin, not on an editor's PATH when it was not started
    from a login shell)."""
    found = shutil.which("cargo")
    if found:
        return found
    default = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo")) / "bin" / "cargo"
    return str(default) if default.is_file() else None
