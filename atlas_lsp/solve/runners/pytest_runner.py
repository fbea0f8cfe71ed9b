"""pytest: runs the selected node ids with the project's Python and reads pytest's JUnit XML report (not its
console text). A project whose environment has no pytest runs its tests with the pytest atlas-lsp is installed with,
put after the project's own packages on its import path (`bundled_pytest`)."""

from __future__ import annotations

import atexit
import functools
import hashlib
import importlib.metadata
import logging
import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from atlas_lsp.solve.runners.django_project import DjangoProject, has_pytest_django
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

logger = logging.getLogger(__name__)
# pytest and what it imports (exceptiongroup and tomli: on Pythons before 3.11, where atlas-lsp's has them)
PYTEST_DISTRIBUTIONS = ("pytest", "pluggy", "iniconfig", "packaging", "pygments", "exceptiongroup", "tomli")
# and pytest-django, for a Django project whose environment has none (django_project.py)
BUNDLED_PLUGINS = ("pytest-django",)
# `python -c PYTEST_MAIN FOLDER ARGS…`: pytest with FOLDER last on the import path (the project's own pytest first)
PYTEST_MAIN = "import sys; sys.path.append(sys.argv.pop(1)); import pytest; sys.exit(pytest.main())"


def _pytest_modules() -> dict[str, Path]:
    """Each top-level module of pytest and the packages it imports (as installed with atlas-lsp), with its path."""
    modules: dict[str, Path] = {}
    for name in (*PYTEST_DISTRIBUTIONS, *BUNDLED_PLUGINS):
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        for top in sorted({file.parts[0] for file in distribution.files or () if len(file.parts) > 0}):
            source = Path(str(distribution.locate_file(top)))
            if top.endswith((".dist-info", ".data", ".pth")) or top in ("__pycache__", "..") or not source.exists():
                continue
            modules.setdefault(top, source)
    return modules


def _link_folder(folder: Path, modules: dict[str, Path]) -> None:
    for top, source in modules.items():
        (folder / top).symlink_to(source)


@functools.cache
def bundled_pytest() -> str:
    """A folder of links to the pytest atlas-lsp is installed with and the packages it imports, each top-level
    module on its own (the rest of atlas-lsp's environment stays out of the tests' reach); "" when there is no
    pytest here. Kept in the user's cache, named by what it links (a server that is killed leaves nothing behind;
    another install gets its own); where the cache cannot be written, a temporary folder for this process."""
    modules = _pytest_modules()
    if "pytest" not in modules:
        logger.warning("solve: atlas-lsp's environment has no pytest: Python tests need one in the project's")
        return ""
    key = hashlib.sha256(repr(sorted((top, str(path)) for top, path in modules.items())).encode()).hexdigest()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "atlas-lsp"
    folder = cache / f"pytest-{key[:16]}"
    if (folder / "pytest").exists():
        return str(folder)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix="pytest-", dir=cache))
        _link_folder(building, modules)
        try:
            building.rename(folder)  # (atomic: another server making the same folder at once wins, this one uses it)
        except OSError:
            shutil.rmtree(building, ignore_errors=True)
        if (folder / "pytest").exists():
            return str(folder)
    except OSError as error:
        logger.info("solve: no pytest links in %s (%s): a temporary folder instead", cache, error)
    folder = Path(tempfile.mkdtemp(prefix="atlas-pytest-"))
    atexit.register(shutil.rmtree, folder, True)
    _link_folder(folder, modules)
    return str(folder)


def pytest_problem(python: str) -> str:
    """Why ``python`` cannot run pytest, its own or atlas-lsp's (`bundled_pytest`); "" when it can."""
    check = "import sys; sys.path.append(sys.argv[1]); import pytest"
    try:
        done = subprocess.run([python, "-c", check, bundled_pytest()], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as error:
        return f"it cannot be run: {error}"
    if done.returncode == 0:
        return ""
    lines = [line for line in done.stderr.strip().split("\n") if line.strip()]
    return f"it cannot import pytest ({lines[-1] if lines else f'exit {done.returncode}'})"


def python_environment(place: RunPlace, python: str) -> dict[str, str]:
    """The test run's whole environment. PYTHONPATH puts the copy's code first: the import roots of the files
    written into it and its ``src`` folder (where a src layout keeps its packages) come before site-packages, where
    the project's own editable install would import the original files instead of the candidate."""
    workdir = place.workdir
    roots = [*place.import_roots, workdir / "src", workdir]
    python_path = ":".join(dict.fromkeys(str(root) for root in roots if place.source(root).is_dir()))
    return {
        **base_environment(workdir, [str(Path(python).parent)]),
        "PYTHONPATH": python_path,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }


_SYNTAX_ERROR_AT = re.compile(r'^File "(?P<file>[^"]+)", line (?P<line>\d+)')  # (in a SyntaxError's E lines)


def _error_line(traceback: str) -> str:
    """The exception of a pytest traceback (its last ``E   `` line), e.g. ``ModuleNotFoundError: No module named
    'numpy'``; a syntax error with where it is and its line (``SyntaxError: invalid syntax (shop.py, line 3: return
    sum(items) +)``: a candidate's, for its repair)."""
    errors = [line[1:].strip() for line in traceback.split("\n") if line.startswith("E ")]
    if not errors:
        return (traceback.strip().split("\n") or [""])[-1]
    if errors[-1].startswith(("SyntaxError", "IndentationError", "TabError")):
        for index, line in enumerate(errors[:-1]):
            where = _SYNTAX_ERROR_AT.match(line)
            if where is not None:
                code = errors[index + 1] if index + 1 < len(errors) - 1 else ""
                return f"{errors[-1]} ({Path(where['file']).name}, line {where['line']}: {code})"
    return errors[-1]


def parse_junit(report: Path, node_ids: list[str]) -> list[TestOutcome]:
    """The outcome of each of ``node_ids`` from pytest's JUnit report; none when the report is unreadable (cut
    short: the run was killed while pytest wrote it). A parametrized test (its cases ``test_add[1-2]``, …) passes
    when every case ran and passed; its message names the cases that failed."""
    try:
        tree = ElementTree.parse(report)
    except (ElementTree.ParseError, OSError):
        return []
    cases: list[tuple[str, str, TestOutcome]] = []  # (classname.name, the same without its [parameters], outcome)
    collection_errors: list[str] = []  # test modules pytest could not import, and why
    for case in tree.iter("testcase"):
        name = case.get("name", "")
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        skipped = case.find("skipped") is not None
        message = ""
        if problem is not None:
            detail = (problem.text or "").strip().split("\n")
            message = (problem.get("message", "") + "\n" + "\n".join(detail[-12:])).strip()
        elif skipped:
            message = SKIPPED
        if not case.get("classname") and problem is not None and problem.get("message") == "collection failure":
            collection_errors.append(f"{name}: {_error_line(problem.text or '')}")
            continue
        key = f"{case.get('classname', '')}.{name}"
        base = key.split("[", 1)[0] if name.endswith("]") else key
        cases.append((key, base, TestOutcome(name, problem is None and not skipped, message, skipped and not problem)))

    def named(key: str, suffix: str) -> bool:
        return key == suffix or key.endswith("." + suffix)

    outcomes: list[TestOutcome] = []
    for node_id in node_ids:
        suffix = ".".join(node_id.split("::")[1:])
        found = [o for key, _, o in cases if named(key, suffix)] or [o for _, b, o in cases if named(b, suffix)]
        if not found:
            why = f"{NOT_COLLECTED}: {'; '.join(collection_errors[:2])}" if collection_errors else "collection failed?"
            outcomes.append(TestOutcome(node_id, False, f"{NOT_RUN} ({why})"))
            continue
        failed = [o for o in found if not o.passed and not o.skipped]
        if all(o.skipped for o in found):  # (a parametrized test: each of its cases)
            outcomes.append(TestOutcome(node_id, False, SKIPPED, skipped=True))
            continue
        if len(found) == 1:
            message = found[0].message
        else:  # a parametrized test: which cases failed, and how
            message = "\n".join(f"{o.node_id}: {o.message}" for o in failed[:3])
            if len(failed) > 3:
                message += f"\n… and {len(failed) - 3} more of its {len(found)} cases failed"
        outcomes.append(TestOutcome(node_id, not failed, message))
    return outcomes


class PytestRunner:
    name = "pytest"
    linked_folders: tuple[str, ...] = ()

    def __init__(self, django: DjangoProject | None = None) -> None:
        self.django = django  # a Django project: its tests run with pytest-django (django_project.py)
        self._has_pytest_django: dict[str, bool] = {}  # per Python, looked at once per solve (a runner is a job's)

    def command(self, place: RunPlace, node_ids: list[str], limits: Limits) -> RunCommand:
        report = place.workdir / ".atlas-report.xml"
        plugins: list[str] = []
        defaults: dict[str, str] = {}
        if self.django is not None:
            if limits.python not in self._has_pytest_django:
                self._has_pytest_django[limits.python] = has_pytest_django(limits.python)
            if not self._has_pytest_django[limits.python]:
                plugins = ["-p", "pytest_django.plugin"]  # (atlas-lsp's, next to its pytest)
            if self.django.settings:
                defaults["DJANGO_SETTINGS_MODULE"] = self.django.settings
        argv = [
            limits.python, "-c", PYTEST_MAIN, bundled_pytest(), "-q", "-p", "no:cacheprovider", *plugins,
            "-o", "addopts=", f"--junitxml={report}", "--rootdir", str(place.workdir), *node_ids,
        ]  # fmt: skip
        return RunCommand(argv, python_environment(place, limits.python), report, defaults=defaults)

    def outcomes(self, place: RunPlace, command: RunCommand, node_ids: list[str], run: FinishedRun) -> TestReport:
        problem = run_problem(run, (0, 1))
        junit = command.report
        outcomes = parse_junit(junit, node_ids) if junit.exists() else []
        uncollected = [o.message for o in outcomes if o.message.startswith(f"{NOT_RUN} ({NOT_COLLECTED}")]
        if outcomes and len(uncollected) == len(outcomes) and run.returncode not in (0, 1):
            problem = uncollected[0][len(NOT_RUN) + 2 : -1]  # (an import the tests need, usually)
        if not outcomes:
            return whole_run_failed(
                run,
                node_ids,
                problem
                or (
                    "the test report is unreadable (cut short)"
                    if junit.exists()
                    else "no test report (the tests could not be collected)"
                ),
            )
        return TestReport(outcomes, 0.0, problem)
