"""go test: runs the selected test functions of their packages from the module's root (a testify suite's selected
methods through the Test function that runs the suite, picked by testify's `-testify.m`), offline (the module cache
read-only, the build cache shared by the job's candidates), and reads `go test -json`'s events; a package that does
not build gives the compiler's errors (what a repair needs)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from pathlib import Path, PurePosixPath

from atlas_lsp.solve.runners.go_toolchain import go_environment
from atlas_lsp.solve.runs import (
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

DOES_NOT_COMPILE = "the code does not compile"
_COMPILER_LINE = re.compile(r"^\S+\.go:\d+(:\d+)?: ")
_MISSING_MODULE = (  # what go says of a dependency that is not in the module cache (the runs are offline)
    "GOPROXY=off", "missing go.sum entry", "module lookup disabled", "cannot find module providing package",
)  # fmt: skip
_RUNNER_NOISE = ("=== RUN", "=== PAUSE", "=== CONT", "--- FAIL", "--- PASS", "--- SKIP")
CACHE_HINT = (
    "the sandbox builds offline and cannot write to the module cache: run `go mod download` in the project once, "
    "so its dependencies are there"
)


class GoTestRunner:
    name = "go test"
    linked_folders: tuple[str, ...] = ("vendor",)  # (a vendored module builds from it: go's default then)

    def __init__(self, go: str, module: str) -> None:
        self.go = go
        self.module = module  # the folder of the go.mod (relative to the project), where `go test` runs

    def _run_names(self, place: RunPlace, node_ids: list[str]) -> dict[str, str]:
        """Each test id's name in go test's events: its function's, or for a testify suite's method
        (``file::ShapesSuite::TestArea``) the Test function that runs the suite, then the method
        (``TestShapes/TestArea``); "" where no Test function of its package runs that suite."""
        names: dict[str, str] = {}
        for node_id in node_ids:
            file, *parts = node_id.split("::")
            if len(parts) == 2:
                folder = (place.workdir / file).parent
                runner = suite_runners(str(place.own(folder)), str(folder)).get(parts[0])
                names[node_id] = f"{runner}/{parts[1]}" if runner else ""
            else:
                names[node_id] = parts[-1] if parts else ""
        return names

    def command(self, place: RunPlace, node_ids: list[str], limits: Limits) -> RunCommand:
        cwd = place.workdir / self.module
        run_names = self._run_names(place, node_ids)
        by_package: dict[str, list[str]] = {}  # package ("./shapes") -> its selected tests' run names
        for node_id in node_ids:
            file = place.workdir / node_id.split("::", 1)[0]
            package = "./" + PurePosixPath(os.path.relpath(file, cwd)).parent.as_posix()
            by_package.setdefault(package, []).append(run_names[node_id])
        # A testify suite's methods are picked by its own -testify.m flag (a second-level -run pattern would also
        # filter the subtests of plain tests); a package that does not use testify rejects that flag: a run each.
        runs: list[list[str]] = []
        for with_suites in (False, True):
            packages = {p: names for p, names in by_package.items() if any("/" in n for n in names) == with_suites}
            names = [name for group in packages.values() for name in group if name]
            if not packages:
                continue
            tops = list(dict.fromkeys(name.split("/")[0] for name in names))
            argv = [self.go, "test", "-json", "-count=1", "-run", _any_of(tops), *packages]
            methods = list(dict.fromkeys(name.split("/")[1] for name in names if "/" in name))
            runs.append(argv + (["-testify.m", _any_of(methods)] if methods else []))
        chained = "; ".join(f'{shlex.join(run)} || {{ s=$?; [ "$first" -ne 0 ] || first=$s; }}' for run in runs)
        argv = runs[0] if len(runs) == 1 else ["sh", "-c", f"first=0; {chained}; exit $first"]
        environment = {
            **base_environment(place.workdir, [str(Path(self.go).parent)]),
            "GOCACHE": str(place.shared / "go-build"),
            "GOPATH": str(place.shared / "go-path"),
            "GOMODCACHE": go_environment(self.go).module_cache or str(place.shared / "go-path" / "pkg" / "mod"),
            "GOTOOLCHAIN": "local",
            "GOPROXY": "off",
        }
        return RunCommand(argv, environment, None, limit_address_space=False, cwd=cwd)

    def outcomes(self, place: RunPlace, command: RunCommand, node_ids: list[str], run: FinishedRun) -> TestReport:
        results: dict[str, str] = {}  # test name -> pass, fail or skip (the last word on it)
        output: dict[str, list[str]] = {}  # test name (subtests under their top test) -> what it printed
        plain: list[str] = []  # lines that are not events: the compiler's and go's own messages
        for line in run.output.split("\n"):
            if not line.startswith("{"):
                if line.strip():
                    plain.append(line)
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            test = str(event.get("Test") or "")
            action = event.get("Action")
            if action == "build-output":  # (go 1.24 on: the compiler's and go's messages come as events too)
                plain.extend(str(event.get("Output", "")).rstrip("\n").split("\n"))
                continue
            if not test:
                if action == "output" and _COMPILER_LINE.match(str(event.get("Output", "")).strip()):
                    plain.append(str(event.get("Output")).rstrip())
                continue
            top = test.split("/", 1)[0]
            if action in ("pass", "fail", "skip"):
                results[test] = str(action)
            elif action == "output":
                text = str(event.get("Output", "")).rstrip()
                if text and not text.strip().startswith(_RUNNER_NOISE):
                    output.setdefault(top, []).append(text)
                    if test != top:  # (a suite's method: its own lines too)
                        output.setdefault(test, []).append(text)
        problem = run_problem(run, (0, 1, 2))  # (2: a package did not build)
        if not results:
            compiler = [line for line in plain if _COMPILER_LINE.match(line.strip())]
            missing = next((line for line in plain if any(marker in line for marker in _MISSING_MODULE)), None)
            if not problem and missing is not None:  # (not the candidate's doing: it changes one function's body)
                problem = f"{NOT_COLLECTED}: go could not build them: {missing.strip()}\n({CACHE_HINT})"
            elif not problem and compiler:
                problem = f"{DOES_NOT_COMPILE}:\n" + "\n".join(compiler[:30])
            else:
                return whole_run_failed(run, node_ids, problem or "go test ran no test")
            return TestReport([TestOutcome(node_id, False, problem) for node_id in node_ids], 0.0, problem)
        outcomes = []
        for node_id, name in self._run_names(place, node_ids).items():
            result = results.get(name) if name else None
            if not name:
                suite = node_id.split("::")[1]
                why = f"no Test function of its package runs the suite {suite} (suite.Run(t, new({suite})))"
                outcomes.append(TestOutcome(node_id, False, f"{NOT_RUN} ({why})"))
                continue
            if result is None:
                outcomes.append(TestOutcome(node_id, False, f"{NOT_RUN} (no test by that name ran)"))
                continue
            message = "" if result == "pass" else (SKIPPED if result == "skip" else "\n".join(output.get(name, [])))
            message = message.replace(f"{place.workdir}/", "")  # (testify prints absolute paths)
            outcomes.append(TestOutcome(node_id, result == "pass", message[-2000:], skipped=result == "skip"))
        return TestReport(outcomes, 0.0, problem)


_TEST_FUNCTION = re.compile(r"^func\s+(Test\w*)\s*\(\s*\w+\s+\*testing\.T\s*\)", re.M)
_ANY_FUNCTION = re.compile(r"^func\s", re.M)
_SUITE_RUN = re.compile(r"\bsuite\.Run\(\s*\w+\s*,\s*(?:new\(\s*(\w+)\s*\)|&(\w+)\s*\{)")


def _any_of(names: list[str]) -> str:
    """A regular expression (go's) for exactly one of ``names``."""
    return "^(" + "|".join(map(re.escape, names)) + ")$"


def suite_runners(*folders: str) -> dict[str, str]:
    """testify suites of the package in the first of ``folders`` (the others: where its files not there are, the
    project under a run's overlay: RunPlace.own), each with the Test function that runs it: the suite type named in a
    ``suite.Run(t, new(T))`` or ``suite.Run(t, &T{…})`` in that function's body."""
    found: dict[str, str] = {}
    files = {path.name: path for folder in reversed(folders) for path in Path(folder).glob("*_test.go")}
    for _, path in sorted(files.items()):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        function_starts = [match.start() for match in _ANY_FUNCTION.finditer(text)]
        for start in _TEST_FUNCTION.finditer(text):
            end = next((position for position in function_starts if position > start.start()), len(text))
            for run in _SUITE_RUN.finditer(text[start.end() : end]):  # (its body: up to the next function)
                found.setdefault(run.group(1) or run.group(2), start.group(1))
    return found


def find_go() -> str | None:
    """``go`` on PATH, else the usual install places (/usr/local/go, Debian's /usr/lib/go)."""
    found = shutil.which("go")
    if found:
        return found
    for candidate in (Path("/usr/local/go/bin/go"), Path("/usr/lib/go/bin/go")):
        if candidate.is_file():
            return str(candidate)
    return None
