"""The loop's logic with a scripted model (queued replies) and the real sandbox running real pytest."""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from atlas_lsp.config import SolveSettings
from atlas_lsp.model.backend import CancelToken
from atlas_lsp.prompts.chat import ChatPrompt
from atlas_lsp.prompts.solve import SolveSpec
from atlas_lsp.solve.loop import Reply, SolveLoop, extract_function, keep_docstring, keep_signature, replace_function
from atlas_lsp.solve.runs import Limits, TestReport
from atlas_lsp.solve.sandbox import Sandbox
from atlas_lsp.solve.service import EXAMPLES_FILE, SolveRequest, SolveService, _context_for, variables_for_tests
from atlas_lsp.solve.target import docstring_examples, find_function
from atlas_lsp.syntax.document import SyntaxDocument
from atlas_lsp.syntax.registry import load_registry

REGISTRY = load_registry()
PYTHON = REGISTRY.languages["python"]
SOURCE = (
    'class Box:\n    def total(self, items):\n        """Sum of items.\n\n        >>> Box().total([1, 2])\n'
    '        3\n        """\n        raise NotImplementedError\n'
)
TESTS = (
    "from shop import Box\n\n\ndef test_total():\n    assert Box().total([1, 2, 3]) == 6\n\n\n"
    "class TestBox:\n    def test_empty(self):\n        assert Box().total([]) == 0\n"
)


class ScriptedModel:
    def __init__(self, replies: list[str]) -> None:
        self.replies = replies
        self.prompts: list[str] = []

    def __call__(self, prompt: ChatPrompt, temperature: float, seed: int, cancel: CancelToken) -> str:
        self.prompts.append(prompt.text)
        return self.replies.pop(0)


def make_project(root: Path) -> Path:
    (root / "tests").mkdir()
    (root / "shop.py").write_text(SOURCE)
    (root / "tests" / "test_shop.py").write_text(TESTS)
    return root / "shop.py"


def test_target_and_stub_detection() -> None:
    document = SyntaxDocument(PYTHON, SOURCE)
    target = find_function(document, "shop.py", line=3)
    assert target is not None and target.name == "total" and target.indent == "    "
    assert target.is_stub and target.examples == [("Box().total([1, 2])", "3")]
    assert (
        find_function(document, "shop.py", line=0) is None or find_function(document, "shop.py", line=0).name == "total"
    )


@pytest.mark.parametrize(
    ("language", "source", "stub"),
    [
        ("python", "def f(x):\n    pass\n", True),
        ("python", "def f(x):\n    raise NotImplementedError('later')\n", True),
        ("python", "def f(x):\n    return x\n", False),
        ("rust", "fn f(x: u32) -> u32 {\n    todo!()\n}\n", True),
        ("rust", 'fn f(x: u32) -> u32 { unimplemented!("soon") }\n', True),
        ("rust", "fn f(x: u32) -> u32 {\n    x\n}\n", False),
        ("go", 'func F(x int) int {\n\tpanic("not implemented")\n}\n', True),
        ("go", 'func F(x int) int {\n\tpanic("negative size")\n}\n', False),
        ("javascript", "function f(x) {\n  throw new Error('TODO: write f');\n}\n", True),
        ("javascript", "function f(x) {\n  throw new Error('x must be positive');\n}\n", False),
        ("javascript", "function f(x) {\n  // TODO\n}\n", True),
        ("javascript", "function f(x) {}\n", True),
        ("java", "class A {\n  int f(int x) {\n    throw new UnsupportedOperationException();\n  }\n}\n", True),
        ("java", 'class A {\n  int f(int x) { throw new IllegalStateException("not yet implemented"); }\n}\n', True),
        ("java", 'class A {\n  int f(int x) {\n    throw new IllegalArgumentException("x < 0");\n  }\n}\n', False),
        ("java", "class A {\n  int f(int x) {\n    return x + 1;\n  }\n}\n", False),
    ],
)
def test_a_body_not_written_yet_is_a_stub(language: str, source: str, stub: bool) -> None:
    """A stub gets the solve action as a quick fix: in every language, by the statements that say so."""
    document = SyntaxDocument(REGISTRY.languages[language], source)
    target = find_function(document, "f", line=1 if language == "java" else 0)
    assert target is not None and target.name.lower() == "f"
    assert target.is_stub == stub


def test_extract_function_reindents_for_a_method() -> None:
    reply = "Here you go:\n```python\ndef total(self, items):\n    return sum(items)\n```\nDone."
    code, problem = extract_function(reply, PYTHON, "total", "    ")
    assert problem == "" and code == "def total(self, items):\n        return sum(items)"
    assert extract_function("no code here", PYTHON, "total", "")[1]


def test_docstring_examples() -> None:
    assert docstring_examples('"""\n>>> f(1)\n2\n>>> g()\n"""') == [("f(1)", "2")]


def test_first_candidate_fails_second_passes_and_repair_sees_the_failure(tmp_path: Path) -> None:
    path = make_project(tmp_path)
    service = SolveService(REGISTRY, worker=None)  # type: ignore[arg-type]
    found = service.prepare(SolveRequest(str(path), SOURCE, tmp_path, {}, line=2))
    assert found.label == "the project's tests"
    assert found.node_ids == ["tests/test_shop.py::test_total", "tests/test_shop.py::TestBox::test_empty"]
    wrong = "```python\ndef total(self, items):\n    return 0\n```"
    right = "```python\ndef total(self, items):\n    return sum(items)\n```"
    model = ScriptedModel([wrong, right])
    sandbox = Sandbox(tmp_path, {}, Limits(wall_seconds=30))
    target = found.target
    spec = SolveSpec(
        "python", "total", target.signature, target.doc, target.text, "", found.test_sources, found.label, target.indent
    )
    progress: list[str] = []
    loop = SolveLoop(PYTHON, model, lambda text, token: sandbox.run({str(path): text}, found.node_ids, {}, token),
                     progress.append, chat_template=None)  # fmt: skip
    result = loop.run(spec, found.target, SOURCE, found.node_ids, found.label, k=1, rounds=2, cancel=CancelToken())
    sandbox.close()
    # the method, its candidate and the test method are shown as they read on their own (not nested twice)
    assert '```python\ndef total(self, items):\n    """Sum of items.' in model.prompts[0]
    assert "def test_empty(self):\n    assert Box().total([]) == 0" in model.prompts[0]
    candidate = (
        '```python\ndef total(self, items):\n    """Sum of items.\n\n    >>> Box().total([1, 2])\n    3\n    """\n'
    )
    assert candidate + "    return 0\n```" in model.prompts[1]  # (the candidate, its docstring put back)
    assert result.passed and result.best is not None and result.best.origin.startswith("repair 1")
    assert result.evidence().startswith("2/2 selected tests pass: test_total, test_empty")
    assert "assert 0 == 6" in model.prompts[1]  # the repair prompt carries the failing assertion
    assert "test_total" in model.prompts[1]
    assert progress[:2] == ["writing candidate 1/1", "running 2 tests on candidate 1"] and "repair round 1" in progress
    assert result.model_calls == 2 and result.test_runs == 2
    new_text = replace_function(SOURCE, found.target, result.best.code)
    assert new_text.startswith('class Box:\n    def total(self, items):\n        """Sum of items.')  # docstring kept
    assert new_text.endswith('        """\n        return sum(items)\n')


def test_nothing_passes_reports_the_best_honestly(tmp_path: Path) -> None:
    path = make_project(tmp_path)
    service = SolveService(REGISTRY, worker=None)  # type: ignore[arg-type]
    found = service.prepare(SolveRequest(str(path), SOURCE, tmp_path, {}, name="total"))
    half = "```python\ndef total(self, items):\n    return sum(items) if items else 1\n```"
    model = ScriptedModel([half, "no code", half])
    sandbox = Sandbox(tmp_path, {}, Limits(wall_seconds=30))
    spec = SolveSpec("python", "total", "", "", found.target.text, "", [], found.label)
    loop = SolveLoop(PYTHON, model, lambda text, token: sandbox.run({str(path): text}, found.node_ids, {}, token),
                     lambda message: None, chat_template=None)  # fmt: skip
    result = loop.run(spec, found.target, SOURCE, found.node_ids, found.label, k=2, rounds=1, cancel=CancelToken())
    sandbox.close()
    assert not result.passed and result.best is not None
    assert result.evidence().startswith("1/2 selected tests passed (best candidate)")
    assert any(c.invalid for c in result.candidates)


def test_docstring_examples_are_the_spec_when_no_test_refers(tmp_path: Path) -> None:
    (tmp_path / "shop.py").write_text(SOURCE)
    service = SolveService(REGISTRY, worker=None)  # type: ignore[arg-type]
    found = service.prepare(SolveRequest(str(tmp_path / "shop.py"), SOURCE, tmp_path, {}, name="total"))
    assert found.label == "examples from the docstring"
    assert found.node_ids == [f"{EXAMPLES_FILE}::test_total_example_1"]
    sandbox = Sandbox(tmp_path, {}, Limits(wall_seconds=30))
    fixed = SOURCE.replace("raise NotImplementedError", "return sum(items)")
    report = sandbox.run({str(tmp_path / "shop.py"): fixed}, found.node_ids, found.extra_files, None)
    broken = sandbox.run({str(tmp_path / "shop.py"): SOURCE}, found.node_ids, found.extra_files, None)
    sandbox.close()
    assert report.all_passed and not broken.all_passed
    assert SolveSettings().candidates == 4


def test_the_test_interpreter_is_checked() -> None:
    import sys

    import pytest

    from atlas_lsp.solve.service import SolveError, interpreter

    assert interpreter(SolveSettings()) == sys.executable
    assert interpreter(SolveSettings(python=sys.executable)) == sys.executable
    with pytest.raises(SolveError, match="cannot be run"):
        interpreter(SolveSettings(python="/nonexistent/bin/python"))


def test_a_project_environment_without_pytest_runs_its_tests_with_atlas_lsps(
    tmp_path: Path, no_active_environment: None
) -> None:
    """A project that uses unittest and never installed pytest: its own virtualenv (its dependencies are there) runs
    its tests, with atlas-lsp's pytest after its own packages (before, atlas-lsp's interpreter ran them, without the
    project's dependencies); a Python that cannot import pytest at all is refused with why."""
    import subprocess

    from atlas_lsp.solve.environments import choose
    from atlas_lsp.solve.service import SolveError, interpreter

    project = tmp_path / "project"
    python = python_with_a_dependency(project / ".venv")
    assert subprocess.run([python, "-c", "import pytest"], capture_output=True).returncode != 0  # (none of its own)
    assert interpreter(SolveSettings(), project) == python and choose(project).unusable is None
    assert interpreter(SolveSettings(python=".venv/bin/python"), project) == python
    right, wrong = run_with(project, python)
    assert right.all_passed, right.failure_text()
    assert not wrong.all_passed and "AssertionError: 0 != 6" in wrong.failure_text()
    broken = tmp_path / "broken-python"
    broken.write_text("#!/bin/sh\necho 'SyntaxError: too old' >&2\nexit 1\n")
    broken.chmod(0o755)
    with pytest.raises(SolveError, match=r"cannot import pytest \(SyntaxError: too old\); install pytest"):
        interpreter(SolveSettings(python=str(broken)))


def python_of_this_environment(path: Path) -> None:
    """A project virtualenv's ``python`` at ``path`` that runs this interpreter with its packages (pytest): a link to
    it would lose them when they are a virtualenv's (found from the path python is started by), so a script."""
    import sys

    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    path.chmod(0o755)


def test_a_relative_test_interpreter_is_the_projects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`solve.python: .venv/bin/python` names the project's virtualenv, whatever the server's working folder; the
    tests run in a copy of the project (without its virtualenv), so the path handed on is absolute."""
    import sys

    from atlas_lsp.solve.service import interpreter

    venv_bin = tmp_path / "project" / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    python_of_this_environment(venv_bin / "python")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    found = interpreter(SolveSettings(python=".venv/bin/python"), tmp_path / "project")
    assert found == str(venv_bin / "python")  # absolute, the link itself (not what it points to)
    assert interpreter(SolveSettings(python=Path(sys.executable).name)) == shutil.which(Path(sys.executable).name)


def test_callers_are_found_outside_tests(tmp_path: Path) -> None:
    from atlas_lsp.solve.tests import callers_of

    make_project(tmp_path)
    (tmp_path / "checkout.py").write_text(
        "from shop import Box\n\n\ndef pay(items):\n    return Box().total(items) * 1.2\n\n\n"
        "def unrelated():\n    return 1\n"
    )
    callers = callers_of("total", PYTHON, [tmp_path])
    assert len(callers) == 1 and callers[0].startswith("def pay(items):")  # not the tests, not total itself


class ConcurrentModel:
    """Replies by the candidate's seed; a slow candidate waits until it is cancelled (as a stream would stop)."""

    def __init__(self, replies: dict[int, str], slow: set[int]) -> None:
        self.replies = replies
        self.slow = slow
        self.running = 0
        self.most_at_once = 0
        self.cancelled: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, prompt: ChatPrompt, temperature: float, seed: int, cancel: CancelToken) -> str:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            time.sleep(0.2)  # all are in flight together before any answers
            if seed in self.slow:
                deadline = time.monotonic() + 20
                while not cancel.cancelled and time.monotonic() < deadline:
                    time.sleep(0.01)
                if cancel.cancelled:
                    self.cancelled.append(seed)
                    return ""
            return self.replies[seed]
        finally:
            with self._lock:
                self.running -= 1


def test_candidates_are_requested_at_once_and_the_rest_cancelled_after_a_pass(tmp_path: Path) -> None:
    path = make_project(tmp_path)
    service = SolveService(REGISTRY, worker=None)  # type: ignore[arg-type]
    found = service.prepare(SolveRequest(str(path), SOURCE, tmp_path, {}, name="total"))
    wrong = "```python\ndef total(self, items):\n    return 0\n```"
    right = "```python\ndef total(self, items):\n    return sum(items)\n```"
    model = ConcurrentModel({1000: wrong, 1001: right, 1002: wrong}, slow={1002})
    sandbox = Sandbox(tmp_path, {}, Limits(wall_seconds=30))
    spec = SolveSpec("python", "total", "", "", found.target.text, "", [], found.label)
    progress: list[str] = []
    loop = SolveLoop(PYTHON, model, lambda text, token: sandbox.run({str(path): text}, found.node_ids, {}, token),
                     progress.append, chat_template=None, parallel=4)  # fmt: skip
    started = time.monotonic()
    result = loop.run(spec, found.target, SOURCE, found.node_ids, found.label, k=3, rounds=2, cancel=CancelToken())
    sandbox.close()
    assert model.most_at_once == 3  # all three candidates were in flight together
    assert result.passed and result.best is not None and result.best.origin.startswith("candidate 2")
    assert model.cancelled == [1002]  # the slow one was stopped once candidate 2 passed
    assert time.monotonic() - started < 15
    assert progress[0] == "writing 3 candidates (3 at a time)"
    assert not any(message.startswith("repair") for message in progress)


def test_the_models_likelihood_breaks_a_tie(tmp_path: Path) -> None:
    path = make_project(tmp_path)
    service = SolveService(REGISTRY, worker=None)  # type: ignore[arg-type]
    found = service.prepare(SolveRequest(str(path), SOURCE, tmp_path, {}, name="total"))
    # both pass 1 of 2 tests and change as many lines; the model is surer of the second
    unsure = Reply("```python\ndef total(self, items):\n    return sum(items) if items else 1\n```", -2.5)
    surer = Reply("```python\ndef total(self, items):\n    return sum(items) if items else 7\n```", -0.4)
    model = ScriptedModel([unsure, surer])  # type: ignore[list-item]
    sandbox = Sandbox(tmp_path, {}, Limits(wall_seconds=30))
    spec = SolveSpec("python", "total", "", "", found.target.text, "", [], found.label)
    loop = SolveLoop(PYTHON, model, lambda text, token: sandbox.run({str(path): text}, found.node_ids, {}, token),
                     lambda message: None, chat_template=None)  # fmt: skip
    result = loop.run(spec, found.target, SOURCE, found.node_ids, found.label, k=2, rounds=0, cancel=CancelToken())
    sandbox.close()
    first, second = result.candidates
    assert first.report and second.report and first.report.passed == second.report.passed == 1
    assert first.lines_changed == second.lines_changed
    assert result.best is second and second.likelihood == -0.4


def test_the_original_docstring_is_kept_when_the_model_drops_it() -> None:
    document = SyntaxDocument(PYTHON, SOURCE)
    target = find_function(document, "shop.py", name="total")
    assert target is not None and target.doc
    reply = "```python\ndef total(self, items):\n    return sum(items)\n```"
    code, _ = extract_function(reply, PYTHON, "total", "    ")
    kept = keep_docstring(code, target, PYTHON)
    assert kept.startswith("def total(self, items):\n        " + target.doc.split("\n")[0])
    assert kept.endswith("        return sum(items)")
    assert target.doc in kept
    again = keep_docstring(kept, target, PYTHON)
    assert again == kept  # a candidate that has a docstring keeps its own


def test_the_functions_own_signature_is_kept() -> None:
    """The model's signature gives way to the user's: a dropped `async`, added annotations, renamed or reflowed
    parameters (the tests call the function as the user declared it)."""
    source = "class Box:\n    async def total(self, items, *, start=0):\n        pass\n"
    target = find_function(SyntaxDocument(PYTHON, source), "shop.py", name="total")
    assert target is not None
    for header in (
        "def total(self, items, *, start=0):",
        "async def total(self, items: list[int], *, start: int = 0) -> int:",
        "def total(\n    self,\n    values,\n    start=0,\n):",
    ):
        code, problem = extract_function(
            f"```python\n{header}\n    return sum(items) + start\n```", PYTHON, "total", "    "
        )
        assert not problem
        assert keep_signature(code, target, PYTHON) == (
            "async def total(self, items, *, start=0):\n        return sum(items) + start"
        )
    same, _ = extract_function("async def total(self, items, *, start=0):\n    return 1\n", PYTHON, "total", "    ")
    assert keep_signature(same, target, PYTHON) == same
    assert keep_signature("", target, PYTHON) == ""


def test_a_src_layout_installed_in_editable_mode_is_tested_from_the_copy(tmp_path: Path) -> None:
    """A project whose package lives in `src/` and is installed in its own environment in editable mode (a .pth
    file naming the original `src`): its tests must import the candidate in the sandbox's copy, not the original
    files (every candidate failed like the stub, even a right one)."""
    import site
    import subprocess
    import sys
    import sysconfig

    from atlas_lsp.solve.runs import RunPlace
    from atlas_lsp.solve.sandbox import import_root

    project = tmp_path / "project"
    (project / "src" / "mypkg").mkdir(parents=True)
    (project / "tests").mkdir()
    (project / "src" / "mypkg" / "__init__.py").write_text("")
    stub = 'def add(a, b):\n    """Return the sum."""\n    pass\n'
    (project / "src" / "mypkg" / "core.py").write_text(stub)
    (project / "tests" / "test_core.py").write_text(
        "from mypkg.core import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
    )
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(env)], check=True)
    purelib = sysconfig.get_path("purelib", vars={"base": str(env), "platbase": str(env)})
    Path(purelib, "__editable__mypkg.pth").write_text(str(project / "src") + "\n")  # what `pip install -e .` leaves
    Path(purelib, "_pytest_from_here.pth").write_text("\n".join(site.getsitepackages()) + "\n")  # (from a venv too)
    python = str(env / "bin" / "python")
    found = subprocess.run([python, "-c", "import mypkg; print(mypkg.__file__)"], capture_output=True, text=True)
    assert found.stdout.strip() == str(project / "src" / "mypkg" / "__init__.py")  # the install works
    assert import_root(RunPlace(project, tmp_path), Path("src/mypkg/core.py")) == project / "src"
    upper = tmp_path / "candidate"  # an overlay's upper layer: only the candidate's file there, the rest below
    (upper / "src" / "mypkg").mkdir(parents=True)
    (upper / "src" / "mypkg" / "core.py").write_text(stub)
    (project / "src" / "mypkg" / "__init__.py").unlink()
    overlaid = RunPlace(project, tmp_path, (), upper)
    assert import_root(overlaid, Path("src/mypkg/core.py")) == project / "src" / "mypkg"  # (no package now)
    (upper / "src" / "mypkg" / "__init__.py").write_text("")  # (an unsaved buffer, say)
    assert import_root(overlaid, Path("src/mypkg/core.py")) == project / "src"
    (project / "src" / "mypkg" / "__init__.py").write_text("")

    sandbox = Sandbox(project, {}, Limits(python, wall_seconds=60))
    right = stub.replace("pass", "return a + b")
    report = sandbox.run(
        {str(project / "src" / "mypkg" / "core.py"): right}, ["tests/test_core.py::test_add"], {}, None
    )
    sandbox.close()
    assert report.passed == 1 and report.total == 1, report


def test_a_parametrized_test_passes_when_all_its_cases_pass(tmp_path: Path) -> None:
    """pytest reports `test_add[1-2-3]`, … for a parametrized test: each selected test is judged by all its cases,
    and a failure names the cases that failed (it counted as "not run" before, so nothing could pass)."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "calc.py").write_text("def add(a, b):\n    pass\n")
    (tmp_path / "tests" / "test_calc.py").write_text(
        "import pytest\n\nfrom calc import add\n\n\n"
        '@pytest.mark.parametrize(("a", "b", "total"), [(1, 2, 3), (2, 2, 4), (0, 0, 0)])\n'
        "def test_add(a, b, total):\n    assert add(a, b) == total\n\n\n"
        "class TestMore:\n"
        '    @pytest.mark.parametrize("n", [0, 5])\n'
        "    def test_zero(self, n):\n        assert add(n, 0) == n\n"
    )
    node_ids = ["tests/test_calc.py::test_add", "tests/test_calc.py::TestMore::test_zero"]
    sandbox = Sandbox(tmp_path, {}, Limits(wall_seconds=60))
    calc = str(tmp_path / "calc.py")
    right = sandbox.run({calc: "def add(a, b):\n    return a + b\n"}, node_ids, {}, None)
    wrong = sandbox.run({calc: "def add(a, b):\n    return a * b\n"}, node_ids, {}, None)
    sandbox.close()
    assert (right.passed, right.total) == (2, 2), right
    assert (wrong.passed, wrong.total) == (0, 2), wrong
    add_cases = wrong.outcomes[0].message
    assert "test_add[1-2-3]: " in add_cases and "assert 2 == 3" in add_cases and "test_add[0-0-0]" not in add_cases
    assert "test_zero[5]: " in wrong.outcomes[1].message


def test_the_project_of_a_file_is_the_nearest_folder_with_a_project_file(tmp_path: Path) -> None:
    """The sandbox copies the project for each candidate: a workspace folder like a home directory is not taken for
    the project of a file in a project inside it; a workspace folder that is a project is the project."""
    from atlas_lsp.solve.service import project_root

    home = tmp_path / "home"
    (home / "code" / "shop" / "src" / "shop").mkdir(parents=True)
    (home / "code" / "shop" / "pyproject.toml").write_text("[project]\nname = 'shop'\n")
    module = home / "code" / "shop" / "src" / "shop" / "cart.py"
    assert project_root(module, [home]) == home / "code" / "shop"
    assert project_root(module, []) == home / "code" / "shop"
    (home / "homework" / "src").mkdir(parents=True)  # no project file: the workspace folder (its tests/ is there)
    assert project_root(home / "homework" / "src" / "hw.py", [home / "homework"]) == home / "homework"
    (home / "scratch").mkdir()  # outside any workspace folder and project: its own folder
    assert project_root(home / "scratch" / "try.py", [home / "homework"]) == home / "scratch"
    (home / "code" / ".git").mkdir()  # a checkout counts too: in a workspace folder the outermost project wins
    assert project_root(module, [home]) == home / "code"  # (a monorepo's tests may sit above its packages)
    assert project_root(home / "code" / "tool.py", [home]) == home / "code"
    assert project_root(module, []) == home / "code" / "shop"  # outside any workspace folder: the nearest
    (home / ".git").mkdir()  # a home directory under git (dotfiles) opened as the folder: the whole of it
    assert project_root(module, [home]) == home  # (then refused when too large to copy: see the next test)


def test_a_project_too_large_to_copy_per_candidate_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import atlas_lsp.solve.sandbox as sandbox_module
    from atlas_lsp.solve.sandbox import ProjectTooLarge, check_copy_size

    for n in range(30):
        (tmp_path / f"m{n}.py").write_text("x = 1\n")
    (tmp_path / ".venv").mkdir()
    for n in range(100):  # not copied, so not counted
        (tmp_path / ".venv" / f"lib{n}.py").write_text("x = 1\n")
    check_copy_size(tmp_path, max_files=30)
    with pytest.raises(ProjectTooLarge, match="open the project's own folder"):
        check_copy_size(tmp_path, max_files=29)
    with pytest.raises(ProjectTooLarge):
        check_copy_size(tmp_path, max_bytes=100)
    monkeypatch.setattr(sandbox_module, "MAX_PROJECT_FILES", 10)
    with pytest.raises(ProjectTooLarge):
        Sandbox(tmp_path, {}, Limits(), overlay=False)  # it checks before any candidate's copy is made
    Sandbox(tmp_path, {}, Limits()).close()  # through an overlay (as here) nothing is copied: any size runs


def test_the_bundled_pytest_links_live_in_the_users_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Made once per install, in the user's cache (a killed server leaves nothing behind), with pytest and what it
    imports only; where the cache cannot be written, a temporary folder."""
    from atlas_lsp.solve.runners.pytest_runner import bundled_pytest

    make = bundled_pytest.__wrapped__  # (not the process's cached answer)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = Path(make())
    assert folder.parent == tmp_path / "cache" / "atlas-lsp" and folder.name.startswith("pytest-")
    assert (folder / "pytest").is_symlink() and (folder / "_pytest").exists() and (folder / "pluggy").exists()
    assert not (folder / "numpy").exists() and not (folder / "atlas_lsp").exists()  # (nothing else of ours)
    assert make() == str(folder) and len(list(folder.parent.iterdir())) == 1  # (made once)
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not-a-folder"))
    elsewhere = Path(make())
    assert elsewhere.name.startswith("atlas-pytest-") and (elsewhere / "pytest").exists()


def test_a_project_environment_that_cannot_run_pytest_is_named_in_the_progress(
    tmp_path: Path, no_active_environment: None
) -> None:
    """Its tests then run with atlas-lsp's interpreter, which may lack the project's dependencies: the user is told."""
    import sys

    from atlas_lsp.solve.service import SolveRequest, SolveService
    from atlas_lsp.syntax.registry import load_registry

    (tmp_path / "calc.py").write_text("def add(a, b):\n    return 0\n")
    (tmp_path / "test_calc.py").write_text("from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n")
    service = SolveService(load_registry(), None)
    request = SolveRequest(str(tmp_path / "calc.py"), (tmp_path / "calc.py").read_text(), tmp_path, {}, name="add")
    found = service.prepare(request)
    said: list[str] = []
    service._sandbox(request, SolveSettings(), found, said.append).close()
    assert said == []  # (no project environment)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").write_text("#!/bin/sh\nexit 1\n")  # (a Python that cannot run at all)
    (tmp_path / ".venv" / "bin" / "python").chmod(0o755)
    sandbox = service._sandbox(request, SolveSettings(), found, said.append)
    sandbox.close()
    assert sandbox.limits.python == sys.executable
    python = tmp_path / ".venv" / "bin" / "python"
    assert said == [
        f"the project's .venv ({python}) cannot run pytest: the tests run with {sys.executable} (install pytest there)"
    ]


def test_solve_copy_project_gives_each_candidate_a_copy(tmp_path: Path) -> None:
    """`solve.copyProject`: the escape from the overlay (a filesystem it handles badly) gives the copy, with its
    limits; unset, the overlay where the system allows one (as here)."""
    from atlas_lsp.solve.service import SolveRequest, SolveService
    from atlas_lsp.syntax.registry import load_registry

    (tmp_path / "calc.py").write_text("def add(a, b):\n    return 0\n")
    (tmp_path / "test_calc.py").write_text("from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n")
    service = SolveService(load_registry(), None)
    request = SolveRequest(str(tmp_path / "calc.py"), (tmp_path / "calc.py").read_text(), tmp_path, {}, name="add")
    found = service.prepare(request)
    for copy, overlay in ((True, False), (False, True)):
        sandbox = service._sandbox(request, SolveSettings(copy_project=copy), found, lambda _: None)
        try:
            assert sandbox.overlay is overlay
            right = {str(tmp_path / "calc.py"): "def add(a, b):\n    return a + b\n"}
            report = sandbox.run(right, found.node_ids, {}, None)
        finally:
            sandbox.close()
        assert report.all_passed, report.failure_text()


def test_docstring_examples_of_a_module_in_a_package_with_relative_imports(tmp_path: Path) -> None:
    """The examples' test imports the module by its package name (`shop.cart`), so its relative imports work; loaded
    from its file alone, it could not be imported at all (pytest exit 4 for every candidate)."""
    from atlas_lsp.solve.service import package_module_name

    package = tmp_path / "src" / "shop"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "util.py").write_text("def double(x):\n    return 2 * x\n")
    source = 'from .util import double\n\n\ndef quad(x):\n    """Four times x.\n\n    >>> quad(3)\n    12\n    """\n'
    (package / "cart.py").write_text(source + "    pass\n")
    assert package_module_name(package / "cart.py") == "shop.cart"
    assert package_module_name(package / "__init__.py") == "shop"
    assert package_module_name(tmp_path / "script.py") is None
    service = SolveService(REGISTRY, worker=None)  # type: ignore[arg-type]
    found = service.prepare(SolveRequest(str(package / "cart.py"), source + "    pass\n", tmp_path, {}, name="quad"))
    assert found.label == "examples from the docstring"
    sandbox = Sandbox(tmp_path, {}, Limits(wall_seconds=30))
    right = sandbox.run({str(package / "cart.py"): source + "    return double(double(x))\n"}, found.node_ids,
                        found.extra_files, None)  # fmt: skip
    wrong = sandbox.run({str(package / "cart.py"): source + "    return double(x)\n"}, found.node_ids,
                        found.extra_files, None)  # fmt: skip
    sandbox.close()
    assert (right.passed, right.total) == (1, 1), right
    assert (wrong.passed, wrong.total) == (0, 1) and "quad(3) returned 6, expected 12" in wrong.outcomes[0].message


@pytest.fixture
def no_active_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No environment active around the server (one would be chosen after the project's own: see environments.py)."""
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.delenv("CONDA_PREFIX", raising=False)


def python_with_a_dependency(prefix: Path, python: str | None = None) -> str:
    """A virtualenv at ``prefix`` (made by ``python``: this interpreter by default) with a module only it has
    (``unitlib``, FACTOR = 3) and no pytest; its python."""
    import subprocess
    import sys
    import sysconfig

    if not (prefix / "bin" / "python").exists():
        subprocess.run([python or sys.executable, "-m", "venv", "--without-pip", str(prefix)], check=True)
    purelib = sysconfig.get_path("purelib", vars={"base": str(prefix), "platbase": str(prefix)})
    Path(purelib, "unitlib.py").write_text("FACTOR = 3\n")
    return str(prefix / "bin" / "python")


UNITTEST_PROJECT = {
    "calc.py": "from unitlib import FACTOR\n\n\ndef triple(x):\n    return 0\n",
    "tests/test_calc.py": "import unittest\n\nfrom calc import triple\n\n\nclass TestTriple(unittest.TestCase):\n"
    "    def test_triple(self):\n        self.assertEqual(triple(2), 6)\n",
}


def run_with(project: Path, python: str) -> tuple[TestReport, TestReport]:
    """The project's unittest test on the right and the stub triple(), with ``python``."""
    (project / "tests").mkdir(parents=True, exist_ok=True)
    for name, text in UNITTEST_PROJECT.items():
        (project / name).write_text(text)
    sandbox = Sandbox(project, {}, Limits(python, wall_seconds=60))
    node = ["tests/test_calc.py::TestTriple::test_triple"]
    calc = str(project / "calc.py")
    try:
        right = sandbox.run(
            {calc: UNITTEST_PROJECT["calc.py"].replace("return 0", "return FACTOR * x")}, node, {}, None
        )
        return right, sandbox.run({}, node, {}, None)
    finally:
        sandbox.close()


POETRY = "poetry==2.5.1"


def test_a_poetry_projects_tests_run_with_the_environment_poetry_keeps_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_active_environment: None
) -> None:
    """Poetry keeps a project's environment in its own cache folder (its default): with `solve.python` unset,
    Poetry is asked where (real Poetry from PyPI), and its dependencies are there for the tests."""
    import subprocess

    from atlas_lsp.solve.environments import candidates, choose
    from atlas_lsp.solve.service import choose_interpreter
    from tests.support.python_tools import installed_tool

    monkeypatch.setenv("PATH", f"{installed_tool(POETRY)}:{os.environ['PATH']}")
    monkeypatch.setenv("POETRY_VIRTUALENVS_PATH", str(tmp_path / "poetry-environments"))
    monkeypatch.setenv("POETRY_CACHE_DIR", str(tmp_path / "poetry-cache"))
    project = tmp_path / "calc"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[tool.poetry]\nname = "calc"\nversion = "0.1.0"\ndescription = ""\nauthors = ["A <a@example.com>"]\n'
        'package-mode = false\n\n[tool.poetry.dependencies]\npython = ">=3.11"\n'
    )
    assert choose(project).chosen is None  # (Poetry has no environment for it yet)
    # Poetry without an environment for the project answers with the active one: it is not asked with it in view
    active = python_with_a_dependency(tmp_path / "active")
    monkeypatch.setenv("VIRTUAL_ENV", str(tmp_path / "active"))
    assert [found.origin for found in candidates(project)] == [
        "the environment active when atlas-lsp started (VIRTUAL_ENV)"
    ]
    monkeypatch.delenv("VIRTUAL_ENV")
    subprocess.run(["poetry", "env", "use", sys.executable], cwd=project, check=True, capture_output=True, timeout=300)
    (prefix,) = (path for path in (tmp_path / "poetry-environments").iterdir() if path.is_dir())
    python = python_with_a_dependency(prefix)
    monkeypatch.setenv("VIRTUAL_ENV", str(tmp_path / "active"))
    assert [found.python for found in candidates(project)] == [python, active]  # (the project's own comes first)
    chosen = choose_interpreter(project)
    assert chosen.python == python and chosen.note == "the tests run with Poetry's environment for the project"
    right, wrong = run_with(project, chosen.python)
    assert right.all_passed, right.failure_text()
    assert not wrong.all_passed and "AssertionError: 0 != 6" in wrong.failure_text()
    (project / ".venv" / "bin").mkdir(parents=True)  # an environment in the project comes first
    python_of_this_environment(project / ".venv" / "bin" / "python")
    assert choose(project).chosen.origin == "the project's .venv"  # type: ignore[union-attr]


@dataclass(frozen=True)
class ToolCase:
    requirement: str  # from PyPI
    name: str
    files: dict[str, str]  # what says the project uses it
    home: str  # the variable naming the folder it keeps environments in
    create: list[str]  # the command that creates the project's environment


TOOL_CASES = [
    ToolCase(
        "pipenv==2026.10.3", "Pipenv", {"Pipfile": '[packages]\n\n[requires]\npython_version = "3.11"\n'},
        "WORKON_HOME", ["pipenv", "--python", sys.executable],
    ),
    ToolCase(
        "hatch==1.18.2", "Hatch",
        {"pyproject.toml": '[project]\nname = "calc"\nversion = "0.1.0"\n\n[tool.hatch.envs.default]\n'
         'skip-install = true\n'},
        "HATCH_DATA_DIR", ["hatch", "env", "create"],
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", TOOL_CASES, ids=lambda case: case.name)
def test_the_environment_pipenv_or_hatch_keeps_for_a_project_runs_its_tests(
    case: ToolCase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_active_environment: None
) -> None:
    """The same for Pipenv and Hatch (real ones from PyPI, their environments in a folder of the test's)."""
    import subprocess

    from atlas_lsp.solve.service import choose_interpreter
    from tests.support.python_tools import installed_tool

    monkeypatch.setenv("PATH", f"{installed_tool(case.requirement)}:{os.environ['PATH']}")
    monkeypatch.setenv(case.home, str(tmp_path / "environments"))
    project = tmp_path / "calc"
    project.mkdir()
    for name, text in case.files.items():
        (project / name).write_text(text)
    assert choose_interpreter(project).python == sys.executable  # (no environment for it yet)
    env = {**os.environ, "PIPENV_VERBOSITY": "-1"}
    subprocess.run(case.create, cwd=project, check=True, capture_output=True, timeout=300, env=env)
    (python,) = (tmp_path / "environments").glob("**/bin/python")
    python_with_a_dependency(python.parent.parent)
    chosen = choose_interpreter(project)
    assert chosen.python == str(python), chosen
    assert chosen.note == f"the tests run with {case.name}'s environment for the project"
    right, wrong = run_with(project, chosen.python)
    assert right.all_passed and not wrong.all_passed, (right, wrong)


HATCH_WITH_TEST_ENVIRONMENTS = """[project]
name = "calc"
version = "0.1.0"

[tool.hatch.envs.default]
skip-install = true

[tool.hatch.envs.test]
skip-install = true

[tool.hatch.envs.hatch-test]
skip-install = true
dependencies = []

[[tool.hatch.envs.hatch-test.matrix]]
python = ["3.11"]
"""


def test_hatchs_environment_for_tests_comes_before_its_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_active_environment: None
) -> None:
    """A Hatch project's tests run where Hatch runs them: `hatch test`'s hatch-test environment, else one named
    test, where created, before the default one (which may lack the tests' own dependencies). Real Hatch."""
    import subprocess

    from atlas_lsp.solve.service import choose_interpreter
    from tests.support.python_tools import installed_tool

    monkeypatch.setenv("PATH", f"{installed_tool('hatch==1.18.2')}:{os.environ['PATH']}")
    monkeypatch.setenv("HATCH_DATA_DIR", str(tmp_path / "environments"))
    project = tmp_path / "calc"
    project.mkdir()
    (project / "pyproject.toml").write_text(HATCH_WITH_TEST_ENVIRONMENTS)
    chosen_in_order = []
    for environment in ("default", "test", "hatch-test"):
        subprocess.run(
            ["hatch", "env", "create", environment], cwd=project, check=True, capture_output=True, timeout=300
        )
        (created,) = {python for python in (tmp_path / "environments").glob("**/bin/python")} - {
            python for python, _ in chosen_in_order
        }
        python_with_a_dependency(created.parent.parent)  # (each one its own copy of the dependency)
        chosen = choose_interpreter(project)
        chosen_in_order.append((Path(chosen.python), chosen.note))
        assert Path(chosen.python) == created, (environment, chosen)
    assert [note for _, note in chosen_in_order] == [
        "the tests run with Hatch's environment for the project",
        "the tests run with Hatch's test environment for the project",
        "the tests run with Hatch's hatch-test.py3.11 environment for the project",
    ]
    right, wrong = run_with(project, str(chosen_in_order[-1][0]))
    assert right.all_passed and not wrong.all_passed, (right, wrong)


DJANGO = "django==5.2.19"
DJANGO_PROJECT = {
    "manage.py": "import os\nimport sys\n\nif __name__ == '__main__':\n"
    "    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\n"
    "    from django.core.management import execute_from_command_line\n\n    execute_from_command_line(sys.argv)\n",
    "mysite/__init__.py": "",
    "mysite/settings.py": "SECRET_KEY = 'test'\nINSTALLED_APPS = ['shop']\nUSE_TZ = True\n"
    "DEFAULT_AUTO_FIELD = 'django.db.models.AutoField'\n"
    "DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': 'db.sqlite3'}}\n",
    "shop/__init__.py": "",
    "shop/models.py": "from django.db import models\n\n\nclass Item(models.Model):\n"
    "    price = models.IntegerField()\n",
    "shop/pricing.py": "from shop.models import Item\n\n\ndef total_price():\n    return 0\n",
    "shop/tests.py": "from django.test import TestCase\n\nfrom shop.models import Item\n"
    "from shop.pricing import total_price\n\n\nclass TotalTests(TestCase):\n    def test_total(self):\n"
    "        Item.objects.create(price=2)\n        Item.objects.create(price=3)\n"
    "        self.assertEqual(total_price(), 5)\n",
}


def test_a_django_projects_tests_run_with_django_set_up(tmp_path: Path) -> None:
    """A Django project that runs its tests with `manage.py test` (Django's `tests.py`, a TestCase that needs the
    test database; real Django from PyPI, no pytest-django in its environment): the tests are selected and run
    with atlas-lsp's pytest-django and the settings module manage.py names; a project whose pytest configuration
    names its settings keeps them."""
    from atlas_lsp.solve.runners.django_project import DjangoProject, has_pytest_django
    from atlas_lsp.solve.runners.pytest_runner import PytestRunner
    from tests.support.python_tools import installed_tool

    python = str(installed_tool(DJANGO) / "python")
    assert not has_pytest_django(python)
    project = tmp_path / "project"
    for name, text in DJANGO_PROJECT.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    path = project / "shop" / "pricing.py"
    service = SolveService(load_registry(), None)
    found = service.prepare(SolveRequest(str(path), path.read_text(), project, {}, name="total_price"))
    assert found.node_ids == ["shop/tests.py::TotalTests::test_total"]
    assert isinstance(found.runner, PytestRunner) and found.runner.django == DjangoProject("mysite.settings", ".")
    sandbox = Sandbox(project, {}, Limits(python, wall_seconds=120), found.runner)
    right = "def total_price():\n    return sum(item.price for item in Item.objects.all())"
    try:
        stub = sandbox.run({}, found.node_ids, {}, None)
        solved = sandbox.run(
            {str(path): replace_function(path.read_text(), found.target, right)}, found.node_ids, {}, None
        )
    finally:
        sandbox.close()
    assert not stub.all_passed and "AssertionError: 0 != 5" in stub.failure_text(), stub.failure_text()
    assert solved.all_passed, solved.failure_text()
    assert sorted(p.name for p in project.iterdir()) == ["manage.py", "mysite", "shop"]  # (no database left)
    own = Sandbox(project, {}, Limits(python, wall_seconds=120), found.runner, {"DJANGO_SETTINGS_MODULE": "mysite.own"})
    try:  # (the user's solve.env names the settings: theirs, not manage.py's)
        theirs = own.run({}, found.node_ids, {}, None)
    finally:
        own.close()
    assert "No module named 'mysite.own'" in theirs.failure_text() + theirs.problem, theirs
    (project / "pytest.ini").write_text("[pytest]\nDJANGO_SETTINGS_MODULE = mysite.settings\n")
    again = service.prepare(SolveRequest(str(path), path.read_text(), project, {}, name="total_price"))
    assert again.runner.django == DjangoProject("", ".")  # type: ignore[attr-defined]
    # an environment with pytest-django of its own: its plugin loads by itself (naming it again is an error)
    with_plugin = str(installed_tool(DJANGO, "pytest==9.0.3", "pytest-django==4.14.0") / "python")
    assert has_pytest_django(with_plugin)
    sandbox = Sandbox(project, {}, Limits(with_plugin, wall_seconds=120), again.runner)
    try:
        own = sandbox.run(
            {str(path): replace_function(path.read_text(), found.target, right)}, found.node_ids, {}, None
        )
    finally:
        sandbox.close()
    assert own.all_passed, own.failure_text() + own.problem


def test_the_pyenv_environment_a_project_names_runs_its_tests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_active_environment: None
) -> None:
    """`pyenv local myenv` writes `.python-version`: the pyenv-virtualenv environment (or pyenv version) it names,
    in PYENV_ROOT, comes before an active environment; "system" or a version pyenv does not have, not at all."""
    from atlas_lsp.solve.environments import Choice, Environment, choose

    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    project = tmp_path / "project"
    project.mkdir()
    python = python_with_a_dependency(tmp_path / "pyenv" / "versions" / "calc-3.11")
    (project / ".python-version").write_text("calc-3.11\n3.12.1\n")
    monkeypatch.setenv("VIRTUAL_ENV", str(tmp_path / "active"))
    python_with_a_dependency(tmp_path / "active")
    named = "the pyenv version the project names (calc-3.11, in .python-version)"
    assert choose(project) == Choice(Environment(python, named), None)
    right, wrong = run_with(project, python)
    assert right.all_passed and not wrong.all_passed, (right, wrong)
    monkeypatch.delenv("VIRTUAL_ENV")
    for other in ("system\n", "3.99.0\n", "../elsewhere\n", ""):
        (project / ".python-version").write_text(other)
        assert choose(project) == Choice(None, None), other


def test_the_conda_environment_a_project_names_runs_its_tests(tmp_path: Path) -> None:
    """`environment.yml`'s `name:` names a conda environment: found in conda's envs folders under the home folder,
    or among the prefixes conda lists in ~/.conda/environments.txt (an environment made with --prefix elsewhere)."""
    from atlas_lsp.solve.environments import Choice, Environment, choose

    home = tmp_path / "home"
    environ = {"HOME": str(home)}  # (conda's folders under this home, and nothing active)
    project = tmp_path / "project"
    project.mkdir()
    (project / "environment.yml").write_text("name: shop\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11\n")
    assert choose(project, environ) == Choice(None, None)  # (not created yet)
    python = python_with_a_dependency(home / "miniforge3" / "envs" / "shop")
    named = "the conda environment the project names (shop, in environment.yml)"
    assert choose(project, environ) == Choice(Environment(python, named), None)
    right, wrong = run_with(project, python)
    assert right.all_passed and not wrong.all_passed, (right, wrong)
    shutil.rmtree(home / "miniforge3")
    elsewhere = python_with_a_dependency(tmp_path / "somewhere" / "shop")
    (home / ".conda").mkdir(parents=True)
    (home / ".conda" / "environments.txt").write_text(
        f"{tmp_path / 'somewhere' / 'other'}\n{tmp_path / 'somewhere' / 'shop'}\n"
    )
    assert choose(project, environ) == Choice(Environment(elsewhere, named), None)


def test_the_environment_active_when_the_server_started_runs_the_tests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_active_environment: None
) -> None:
    """An editor started from a shell with a virtualenv (or a conda environment) activated: that environment, after
    the project's own; never atlas-lsp's own environment under another name."""
    from atlas_lsp.solve.environments import Choice, Environment, choose

    project = tmp_path / "project"
    project.mkdir()
    python = python_with_a_dependency(tmp_path / "active")
    monkeypatch.setenv("VIRTUAL_ENV", str(tmp_path / "active"))
    origin = "the environment active when atlas-lsp started (VIRTUAL_ENV)"
    assert choose(project) == Choice(Environment(python, origin), None)
    right, wrong = run_with(project, python)
    assert right.all_passed and not wrong.all_passed, (right, wrong)
    monkeypatch.setenv("VIRTUAL_ENV", sys.prefix)  # (atlas-lsp's own: not an environment of the project's)
    assert choose(project) == Choice(None, None)
    monkeypatch.delenv("VIRTUAL_ENV")
    monkeypatch.setenv("CONDA_PREFIX", str(tmp_path / "active"))
    conda = "the environment active when atlas-lsp started (CONDA_PREFIX)"
    assert choose(project) == Choice(Environment(python, conda), None)


def test_unset_the_tests_run_with_the_projects_own_virtualenv(tmp_path: Path, no_active_environment: None) -> None:
    """The project's dependencies are in its `.venv`: with `solve.python` unset, that environment runs its tests
    when it has pytest; else the interpreter atlas-lsp runs on."""
    import sys

    from atlas_lsp.solve.environments import Choice, Environment, choose
    from atlas_lsp.solve.service import interpreter

    assert interpreter(SolveSettings(), tmp_path) == sys.executable  # no virtualenv
    assert choose(tmp_path) == Choice(None, None)
    bare = tmp_path / "env" / "bin"
    bare.mkdir(parents=True)
    (bare / "python").write_text("#!/bin/sh\nexit 1\n")  # a python without pytest (it fails the check)
    (bare / "python").chmod(0o755)
    assert interpreter(SolveSettings(), tmp_path) == sys.executable
    assert choose(tmp_path).unusable == Environment(str(bare / "python"), "the project's env")  # (said in its progress)
    venv_bin = tmp_path / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    python_of_this_environment(venv_bin / "python")
    assert interpreter(SolveSettings(), tmp_path) == str(venv_bin / "python")
    assert choose(tmp_path) == Choice(Environment(str(venv_bin / "python"), "the project's .venv"), None)
    assert interpreter(SolveSettings(python=sys.executable), tmp_path) == sys.executable  # the setting wins


def test_tests_that_cannot_be_imported_say_why(tmp_path: Path) -> None:
    """A test module that cannot be imported (a dependency missing from the environment that runs the tests) is
    no candidate's fault: the evidence says what stops the tests, and where to look."""
    path = make_project(tmp_path)
    (tmp_path / "tests" / "test_shop.py").write_text("import leftpad_not_installed\n\n" + TESTS)
    service = SolveService(REGISTRY, worker=None)  # type: ignore[arg-type]
    found = service.prepare(SolveRequest(str(path), SOURCE, tmp_path, {}, line=2))
    right = "```python\ndef total(self, items):\n    return sum(items)\n```"
    sandbox = Sandbox(tmp_path, {}, Limits(wall_seconds=30))
    target = found.target
    spec = SolveSpec("python", "total", target.signature, target.doc, target.text, "", found.test_sources, found.label)
    loop = SolveLoop(PYTHON, ScriptedModel([right]), lambda text, token: sandbox.run({str(path): text}, found.node_ids,
                     {}, token), lambda message: None, chat_template=None)  # fmt: skip
    result = loop.run(spec, target, SOURCE, found.node_ids, found.label, k=1, rounds=0, cancel=CancelToken())
    sandbox.close()
    assert not result.passed and result.best is not None and result.best.report is not None
    assert result.best.report.problem == (
        "the tests could not be collected: tests.test_shop: ModuleNotFoundError: No module named "
        "'leftpad_not_installed'"
    )
    assert result.evidence().endswith(
        "; the tests could not be collected: tests.test_shop: ModuleNotFoundError: No module named "
        "'leftpad_not_installed' (do they run with the project's environment? see atlas.solve.python)"
    )


def test_a_job_stops_when_the_tests_cannot_be_collected_whatever_the_code(tmp_path: Path) -> None:
    """A "could not be collected" that the function as it is gives too (run once, when the tests of a candidate
    without a syntax error could not be collected) is the project's, not the candidate's: the job stops there (no
    more candidates, no repair fed an import error) and says so. Where the function as it is does not parse
    (mid-edit), it is not run: two candidates of different code giving the same stop the job instead."""
    path = make_project(tmp_path)
    (tmp_path / "tests" / "test_shop.py").write_text(TESTS + "\n\nimport leftpad_not_installed\n")
    service = SolveService(REGISTRY, worker=None)  # type: ignore[arg-type]
    found = service.prepare(SolveRequest(str(path), SOURCE, tmp_path, {}, line=2))
    first = "```python\ndef total(self, items):\n    return sum(items)\n```"
    second = "```python\ndef total(self, items):\n    return sum(list(items))\n```"
    target = found.target
    spec = SolveSpec("python", "total", target.signature, target.doc, target.text, "", found.test_sources, found.label)
    stopped = "stopped after {} candidate{}: the tests cannot be collected whatever the function's code"
    as_it_is = "running the tests on the function as it is (they could not be collected)"
    mid_edit = SOURCE.replace("raise NotImplementedError", "return sum(items) +")  # (as it is: a syntax error)
    mid_edit_target = find_function(SyntaxDocument(PYTHON, mid_edit), "shop.py", line=2)
    assert mid_edit_target is not None
    cases = ((SOURCE, target, [first, second], 1, 1), (mid_edit, mid_edit_target, [first, first, second, second], 3, 0))
    for file_text, file_target, replies, calls, original_runs in cases:
        sandbox = Sandbox(tmp_path, {}, Limits(wall_seconds=30))
        model = ScriptedModel(list(replies))
        progress: list[str] = []

        def run_tests(text: str, token: CancelToken, sandbox: Sandbox = sandbox) -> TestReport:
            return sandbox.run({str(path): text}, found.node_ids, {}, token)

        loop = SolveLoop(PYTHON, model, run_tests, progress.append, chat_template=None)
        result = loop.run(
            spec, file_target, file_text, found.node_ids, found.label, k=4, rounds=2, cancel=CancelToken()
        )
        sandbox.close()
        assert result.model_calls == calls and result.test_runs == calls + original_runs, (file_text, progress)
        assert progress.count(as_it_is) == original_runs
        assert not any(message.startswith("repair") for message in progress)
        assert progress[-1] == stopped.format(calls, "" if calls == 1 else "s")
        assert result.evidence().startswith("0/2 selected tests passed (best candidate)")
        assert result.evidence().endswith(
            "(do they run with the project's environment? see atlas.solve.python) "
            f"({stopped.format(calls, '' if calls == 1 else 's')})"
        )


def test_candidates_with_syntax_errors_never_stop_the_job_early(tmp_path: Path) -> None:
    """A candidate's own syntax error makes its module (and so the tests) fail to import, "could not be collected":
    that is theirs to fix, so the job goes on to the one that passes; the error reaches the repair with where it is
    (the candidate as the model wrote it: no signature or docstring put back into code that does not parse)."""
    path = make_project(tmp_path)
    service = SolveService(REGISTRY, worker=None)  # type: ignore[arg-type]
    found = service.prepare(SolveRequest(str(path), SOURCE, tmp_path, {}, line=2))
    broken = "```python\ndef total(self, items):\n    return sum(items) +\n```"
    also_broken = "```python\ndef total(self, items):  # (other code, the same error)\n    return sum(items) +\n```"
    right = "```python\ndef total(self, items):\n    return sum(items)\n```"
    target = found.target
    spec = SolveSpec("python", "total", target.signature, target.doc, target.text, "", found.test_sources, found.label)
    sandbox = Sandbox(tmp_path, {}, Limits(wall_seconds=30))
    progress: list[str] = []
    loop = SolveLoop(PYTHON, ScriptedModel([broken, also_broken, right]), lambda text, token: sandbox.run(
                     {str(path): text}, found.node_ids, {}, token), progress.append, chat_template=None)  # fmt: skip
    result = loop.run(spec, target, SOURCE, found.node_ids, found.label, k=4, rounds=2, cancel=CancelToken())
    sandbox.close()
    first, second = (candidate.report for candidate in result.candidates[:2])
    assert first is not None and second is not None
    assert first.problem == (
        "the tests could not be collected: tests.test_shop: SyntaxError: invalid syntax (shop.py, line 3: "
        "return sum(items) +)"
    )
    assert second.problem == first.problem  # (the same words for two candidates of different code: still theirs)
    assert result.passed and result.model_calls == 3 and result.test_runs == 3, progress
    assert not any(
        message.startswith(("stopped", "running the tests on the function as it is")) for message in progress
    )


def test_the_copy_links_big_files_keeps_links_and_never_writes_through_one(tmp_path: Path) -> None:
    """Where test runs cannot write outside their copy, a data file over MAX_COPY_BYTES is linked (it was left out,
    so a test reading it failed) and the project's links are kept; elsewhere it is copied and links left out. An
    overlay replaces a link in the copy, never writes through it; buffers of other projects are not written."""
    from atlas_lsp.solve.sandbox import MAX_COPY_BYTES, copy_project, write_into_copy

    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    big = root / "data" / "big.bin"
    big.write_bytes(b"x" * (MAX_COPY_BYTES + 1))
    (root / "calc.py").write_text("x = 1\n")
    (root / "alias.py").symlink_to(root / "calc.py")
    outside = {"untitled:Untitled-1": "y = 2\n", str(tmp_path / "other" / "m.py"): "z = 3\n"}
    linked = tmp_path / "linked"
    copy_project(root, linked, {**outside, str(root / "calc.py"): "x = 2\n"}, link_large=True)
    linked_big = linked / "data" / "big.bin"
    assert linked_big.is_symlink() and linked_big.stat().st_size == MAX_COPY_BYTES + 1
    assert (linked / "alias.py").is_symlink()
    assert (linked / "calc.py").read_text() == "x = 2\n" and (root / "calc.py").read_text() == "x = 1\n"
    assert sorted(p.name for p in linked.iterdir()) == ["alias.py", "calc.py", "data"]  # nothing from elsewhere
    write_into_copy(linked / "alias.py", "x = 9\n")  # (an overlay or the examples' file where a link is)
    assert not (linked / "alias.py").is_symlink() and (root / "calc.py").read_text() == "x = 1\n"
    copied = tmp_path / "copied"
    copy_project(root, copied, {}, link_large=False)
    copied_big = copied / "data" / "big.bin"
    assert not copied_big.is_symlink() and copied_big.stat().st_size > MAX_COPY_BYTES
    assert not (copied / "alias.py").exists()


def test_a_test_that_reads_a_big_data_file_runs_in_the_sandbox(tmp_path: Path) -> None:
    from atlas_lsp.solve.sandbox import MAX_COPY_BYTES

    (tmp_path / "tests").mkdir()
    lines = MAX_COPY_BYTES // 2 + 1  # (two bytes a line: a file over the copy's limit)
    (tmp_path / "data.txt").write_text("1\n" * lines)
    (tmp_path / "calc.py").write_text("def count(path):\n    pass\n")
    (tmp_path / "tests" / "test_calc.py").write_text(
        f"from calc import count\n\n\ndef test_count():\n    assert count('data.txt') == {lines}\n"
    )
    sandbox = Sandbox(tmp_path, {}, Limits(wall_seconds=60))
    right = "def count(path):\n    with open(path) as f:\n        return sum(1 for _ in f)\n"
    report = sandbox.run({str(tmp_path / "calc.py"): right}, ["tests/test_calc.py::test_count"], {}, None)
    sandbox.close()
    assert (report.passed, report.total) == (1, 1), report


def test_the_test_runs_environment_takes_the_named_variables_then_the_set_ones() -> None:
    server = {"DATABASE_URL": "postgres://db", "MYAPP_MODE": "dev", "MYAPP_KEY": "k", "AWS_SECRET": "s", "PATH": "/x"}
    settings = SolveSettings(pass_env=["DATABASE_URL", "MYAPP_*"], env={"MYAPP_MODE": "test", "EXTRA": "1"})
    assert variables_for_tests(settings, server) == {
        "DATABASE_URL": "postgres://db",
        "MYAPP_MODE": "test",  # (set wins over passed)
        "MYAPP_KEY": "k",
        "EXTRA": "1",
    }
    assert variables_for_tests(SolveSettings(), server) == {}  # nothing of the server's unless named


def test_the_model_sees_the_definitions_below_the_function_and_its_callers_in_the_languages_comments() -> None:
    """What "Code it can use" holds: the code above the function, then what its file defines below it with bodies
    collapsed (a helper written after it; a caller there is shown whole instead, once), labelled with the language's
    own comment (a `#` line in a Java block was code the model had to make sense of)."""
    source = (
        "import math\n\n\ndef area(r):\n    raise NotImplementedError\n\n\ndef _square(x):\n    return x * x\n\n\n"
        "class Disc:\n    def size(self):\n        return area(self.r)\n\n\n"
        "def total(rs):\n    return sum(area(r) for r in rs)\n"
    )
    document = SyntaxDocument(PYTHON, source)
    target = find_function(document, "disc.py", name="area")
    assert target is not None
    callers = ["def total(rs):\n    return sum(area(r) for r in rs)"]
    assert _context_for(document, target, callers) == (
        "import math\n\n# below area in its file:\ndef _square(x):\n    ...\n"
        "class Disc:\n    def size(self):\n        ..."
        "\n\n# a caller of area:\ndef total(rs):\n    return sum(area(r) for r in rs)"
    )
    java = SyntaxDocument(
        REGISTRY.languages["java"], "class A {\n  int f() {\n    return 0;\n  }\n\n  int g() {\n    return 1;\n  }\n}\n"
    )
    method = find_function(java, "A.java", name="f")
    assert method is not None
    assert _context_for(java, method, ["int h() {\n  return f();\n}"]).endswith(
        "class A {\n\n// below f in its file:\nint g() { ... }\n\n// a caller of f:\nint h() {\n  return f();\n}"
    )


def test_an_exported_functions_candidate_keeps_one_export() -> None:
    """The solve target is the function itself (`function add(…)`), whose skeleton elsewhere starts at `export`: a
    candidate with or without `export` replaces the function, and the file keeps its one `export`."""
    typescript = REGISTRY.languages["typescript"]
    source = "export function add(a: number, b: number): number {\n  return 0;\n}\n"
    target = find_function(SyntaxDocument(typescript, source), "add.ts", name="add")
    assert target is not None and target.signature == "function add(a: number, b: number): number"
    for reply in (
        "function add(x: number, y: number) {\n  return x + y;\n}",
        "export function add(a, b) { return a + b; }",
    ):
        code, problem = extract_function(f"```ts\n{reply}\n```", typescript, "add", target.indent)
        assert problem == ""
        written = replace_function(source, target, keep_signature(code, target, typescript))
        assert written.count("export") == 1 and written.startswith(
            "export function add(a: number, b: number): number {"
        )


def test_the_solve_command_finds_the_function_of_that_name_on_its_line() -> None:
    """The command names the function and its line: of two methods of one name (the same method in two classes, a
    Java overload), the one on that line is solved, not the first (before, the light bulb on the second solved the
    first); a name alone still finds the first."""
    source = "class Box:\n    def total(self):\n        pass\n\n\nclass Bag:\n    def total(self):\n        pass\n"
    document = SyntaxDocument(PYTHON, source)
    second = find_function(document, "shop.py", line=6, name="total")
    assert second is not None and second.start_line == 6
    first = find_function(document, "shop.py", name="total")
    assert first is not None and first.start_line == 1
    java = "class Calc {\n  int add(int a, int b) {\n    return 0;\n  }\n\n  double add(double a, double b) {\n"
    java += "    return 0;\n  }\n}\n"
    overload = find_function(SyntaxDocument(REGISTRY.languages["java"], java), "Calc.java", line=5, name="add")
    assert overload is not None and overload.signature == "double add(double a, double b)"
    reply = "```java\nclass Calc {\n  int add(int a, int b) {\n    return a + b;\n  }\n\n"
    reply += "  double add(double a, double b) {\n    return a + b + 0.0;\n  }\n}\n```"
    code, problem = extract_function(reply, REGISTRY.languages["java"], "add", "  ", overload.signature)
    assert problem == "" and code == "double add(double a, double b) {\n    return a + b + 0.0;\n  }"
