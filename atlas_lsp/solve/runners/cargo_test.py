"""cargo test: builds the crate's test targets offline (the build cache shared by the job's candidates) and runs the
selected tests by their exact paths; outcomes come from libtest's result lines, a build that fails gives the
compiler's errors (what a repair needs)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path, PurePosixPath

from atlas_lsp.solve.runs import (
    NOT_COLLECTED,
    NOT_RUN,
    FinishedRun,
    Limits,
    RunCommand,
    RunPlace,
    TestOutcome,
    TestReport,
)
from atlas_lsp.solve.sandbox import base_environment, run_problem, whole_run_failed

_RESULT = re.compile(r"^test (?P<name>\S+) \.\.\. (?P<status>ok|FAILED|ignored)\b")
_DETAILS = re.compile(r"^---- (?P<name>\S+) stdout ----$")
_COMPILE_FAILURE = re.compile(r"^error\[E\d+\]|^error: could not compile", re.M)  # rustc's, not cargo's own
DOES_NOT_COMPILE = "the code does not compile"
CACHE_HINT = (
    "the sandbox builds offline and cannot write to CARGO_HOME: build or test the project once with cargo, so its "
    "dependencies are downloaded and unpacked there"
)


def crate_folder(workdir: Path, relative: str) -> Path | None:
    """The folder of the Cargo.toml nearest above ``relative`` (a file in the copy ``workdir``), or None."""
    folder = (workdir / relative).parent
    while True:
        if (folder / "Cargo.toml").is_file():
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


def test_path(workdir: Path, node_id: str) -> str:
    """The path libtest knows a test by: its file's module, then the modules and the function around it."""
    file, *names = node_id.split("::")
    crate = crate_folder(workdir, file)
    modules = module_path(PurePosixPath((workdir / file).relative_to(crate).as_posix())) if crate else []
    return "::".join([*modules, *names])


def compiler_errors(output: str, limit_lines: int = 30) -> str:
    """The compiler's error messages (each from its ``error`` line to the blank line after it), at most
    ``limit_lines`` lines."""
    blocks: list[str] = []
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
    return "\n".join("\n".join(blocks).split("\n")[:limit_lines])


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


class CargoTestRunner:
    name = "cargo test"
    linked_folders: tuple[str, ...] = ()

    def __init__(self, cargo: str, manifest: str) -> None:
        self.cargo = cargo
        self.manifest = manifest  # relative to the project: the Cargo.toml of the function's crate

    def command(self, place: RunPlace, node_ids: list[str], limits: Limits) -> RunCommand:
        paths = list(dict.fromkeys(test_path(place.workdir, node_id) for node_id in node_ids))
        argv = [
            self.cargo, "test", "--manifest-path", str(place.workdir / self.manifest), "--workspace", "--offline",
            "--tests", "--no-fail-fast", "--color", "never", "--", "--exact", *paths,
        ]  # fmt: skip
        home = Path.home()
        environment = {
            **base_environment(place.workdir, [str(Path(self.cargo).parent)]),
            "CARGO_HOME": os.environ.get("CARGO_HOME", str(home / ".cargo")),
            "RUSTUP_HOME": os.environ.get("RUSTUP_HOME", str(home / ".rustup")),
            "CARGO_TARGET_DIR": str(place.shared / "cargo-target"),
            "CARGO_TERM_COLOR": "never",
            "RUST_BACKTRACE": "0",
        }
        if "RUSTUP_TOOLCHAIN" in os.environ:
            environment["RUSTUP_TOOLCHAIN"] = os.environ["RUSTUP_TOOLCHAIN"]
        return RunCommand(argv, environment, None, limit_address_space=False)

    def outcomes(self, place: RunPlace, command: RunCommand, node_ids: list[str], run: FinishedRun) -> TestReport:
        results: dict[str, list[bool]] = {}
        for line in run.output.split("\n"):
            found = _RESULT.match(line)
            if found:
                results.setdefault(found.group("name"), []).append(found.group("status") == "ok")
        problem = run_problem(run, (0, 101))
        if not results:
            if not problem and _COMPILE_FAILURE.search(run.output):
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
            path = test_path(place.workdir, node_id)
            if path not in results:
                outcomes.append(TestOutcome(node_id, False, f"{NOT_RUN} (no test by the path {path} ran)"))
                continue
            passed = all(results[path])
            outcomes.append(TestOutcome(node_id, passed, "" if passed else details.get(path, "failed")))
        return TestReport(outcomes, 0.0, problem)


def find_cargo() -> str | None:
    """``cargo`` on PATH, else rustup's default place (~/.cargo/bin, not on an editor's PATH when it was not started
    from a login shell)."""
    found = shutil.which("cargo")
    if found:
        return found
    default = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo")) / "bin" / "cargo"
    return str(default) if default.is_file() else None
