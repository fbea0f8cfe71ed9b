"""Solve one function: specification, sandbox, loop. Blocking; the LSP layer and the CLI run it off their loop."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from atlas_lsp.config import SolveSettings
from atlas_lsp.model.backend import CancelToken, GenerationRequest, ModelBackend, ModelError
from atlas_lsp.model.worker import InferenceWorker
from atlas_lsp.prompts.chat import ChatPrompt
from atlas_lsp.prompts.solve import SolveSpec
from atlas_lsp.prompts.thinking import generate_with_budget, is_reasoning_template, strip_thinking
from atlas_lsp.solve.environments import choose
from atlas_lsp.solve.loop import Generate, Reply, SolveLoop, SolveResult
from atlas_lsp.solve.runners import RunnerUnavailable, runner_for
from atlas_lsp.solve.runners.cargo_test import CargoTestRunner
from atlas_lsp.solve.runners.maven_test import reactor_root
from atlas_lsp.solve.runners.pytest_runner import PytestRunner, pytest_problem
from atlas_lsp.solve.runs import Limits, TestReport, TestRunner
from atlas_lsp.solve.sandbox import ProjectTooLarge, Sandbox
from atlas_lsp.solve.target import FunctionTarget, find_function
from atlas_lsp.solve.tests import callers_of, tests_referring_to
from atlas_lsp.syntax.document import SyntaxDocument
from atlas_lsp.syntax.registry import LanguageRegistry, LanguageSpec
from atlas_lsp.syntax.symbols import class_skeleton, definitions

logger = logging.getLogger(__name__)
EXAMPLES_FILE = "test_atlas_docstring_examples.py"
PROJECT_TESTS = "the project's tests"
DOCSTRING_EXAMPLES = "examples from the docstring"


class SolveError(Exception):
    """The solve cannot start (no function there, no tests and no examples, no model, unsupported runner)."""


@dataclass(frozen=True)
class SolveRequest:
    path: str  # the file holding the function
    text: str  # its current text (the open buffer, saved or not)
    root: Path  # the project root copied into the sandbox
    buffers: dict[str, str]  # every open buffer: path -> text (unsaved edits included)
    line: int | None = None
    name: str | None = None


@dataclass(frozen=True)
class Specification:
    target: FunctionTarget
    document: SyntaxDocument
    node_ids: list[str]  # what the sandbox runs
    label: str  # PROJECT_TESTS or DOCSTRING_EXAMPLES: never present examples as the project's tests
    test_sources: list[str]  # what the model is shown
    extra_files: dict[str, str]  # files added to the sandbox (the examples' test file)
    runner: TestRunner


def variables_for_tests(settings: SolveSettings, source: Mapping[str, str]) -> dict[str, str]:
    """The user's variables for the test runs: those of ``source`` (the server's environment) that
    `solve.passEnv` names (a name, or a pattern such as ``MYAPP_*``), then `solve.env`'s."""
    patterns = settings.pass_env or []
    passed = {name: value for name, value in source.items() if any(fnmatchcase(name, p) for p in patterns)}
    return {**passed, **(settings.env or {})}


def unsupported(spec: LanguageSpec, root: Path, path: Path) -> str | None:
    """Why the function in ``path`` (of ``spec``'s language, in the project at ``root``) cannot be solved here (no
    supported runner for its tests), or None."""
    try:
        runner_for(spec, root, path)
    except RunnerUnavailable as error:
        return str(error)
    return None


def package_module_name(path: Path) -> str | None:
    """The dotted name Python imports the module at ``path`` by when it is in a package (its folder has an
    ``__init__.py``: ``src/shop/cart.py`` -> ``shop.cart``); None for a module outside any package."""
    parts = [] if path.stem == "__init__" else [path.stem]
    folder = path.parent
    while (folder / "__init__.py").is_file():
        parts.insert(0, folder.name)
        folder = folder.parent
    return ".".join(parts) if folder != path.parent else None


def examples_test_file(
    module_path: str, name: str, examples: list[tuple[str, str]], module_name: str | None = None
) -> str:
    """A pytest file checking the docstring's `>>>` examples against the module: imported by ``module_name`` when
    it is in a package (so its relative imports work; the sandbox puts its import root on the path), else loaded
    from its path."""
    if module_name is not None:
        load = ["import importlib", f"_module = importlib.import_module({module_name!r})"]
    else:
        load = [
            "import importlib.util, sys",
            f"_spec = importlib.util.spec_from_file_location('atlas_target', {module_path!r})",
            "_module = importlib.util.module_from_spec(_spec)",
            "sys.modules['atlas_target'] = _module",
            "_spec.loader.exec_module(_module)",
        ]
    lines = [
        *load,
        "",
        "def _check(expression, got, expected):",
        "    try:",
        "        wanted = eval(expected, vars(_module))",
        "    except Exception:",
        "        assert repr(got) == expected, f'{expression} returned {got!r}, expected {expected}'",
        "        return",
        "    assert got == wanted, f'{expression} returned {got!r}, expected {expected}'",
        "",
    ]
    for number, (expression, expected) in enumerate(examples, start=1):
        lines += [
            f"def test_{name}_example_{number}():",
            f"    _check({expression!r}, eval({expression!r}, vars(_module)), {expected!r})",
            "",
        ]
    return "\n".join(lines)


MAX_DEFINITIONS_BELOW = 20  # of the function's file shown to the model after the code above it (bodies collapsed)


def _context_for(document: SyntaxDocument, target: FunctionTarget, callers: list[str]) -> str:
    """The code above the function (imports and neighbours, bounded), the definitions after it in its file with
    their bodies collapsed (a helper written below it, the rest of its class), and a few of its callers; labelled
    with the language's own comments."""
    comment = document.spec.line_comment
    text = document.text
    before = text.encode()[: target.start_byte].decode("utf-8", errors="replace")
    above = "\n".join(before.split("\n")[-60:]).strip()
    after = [
        d for d in definitions(document.spec, document.roots, document.source, "") if d.start_byte >= target.end_byte
    ]
    outermost = [
        d
        for d in after
        if not any(o is not d and o.start_byte <= d.start_byte and d.end_byte <= o.end_byte for o in after)
    ]
    shown_whole = [d for d in outermost if any(caller.startswith(d.signature.strip()) for caller in callers)]
    below = [
        class_skeleton(d, after, comment)
        for d in outermost
        if d not in shown_whole  # (a caller below it: shown whole further on)
    ]
    shown_below = (
        [f"{comment} below {target.name} in its file:\n" + "\n".join(below[:MAX_DEFINITIONS_BELOW])] if below else []
    )
    used_by = [f"{comment} a caller of {target.name}:\n{caller}" for caller in callers]
    return "\n\n".join([above, *shown_below, *used_by]).strip()


@dataclass(frozen=True)
class TestInterpreter:
    python: str
    note: str  # what the solve's progress says of it ("" for atlas-lsp's own interpreter where nothing else was found)


def choose_interpreter(root: Path) -> TestInterpreter:
    """With `solve.python` unset: the project's own environment, else atlas-lsp's interpreter (and why, when the
    project has an environment that cannot run pytest)."""
    choice = choose(root)
    if choice.chosen is not None:
        logger.info("solve: the tests run with %s: %s", choice.chosen.origin, choice.chosen.python)
        return TestInterpreter(choice.chosen.python, f"the tests run with {choice.chosen.origin}")
    if choice.unusable is not None:
        note = (
            f"{choice.unusable.origin} ({choice.unusable.python}) cannot run pytest: the tests run with "
            f"{sys.executable} (install pytest there)"
        )
        logger.warning("solve: %s", note)
        return TestInterpreter(sys.executable, note)
    return TestInterpreter(sys.executable, "")


def interpreter(settings: SolveSettings, root: Path | None = None) -> str:
    """The Python that runs the project's tests, as an absolute path (the tests run in a copy of the project); a
    relative path with a folder in it (``.venv/bin/python``) is the project's at ``root``, a bare name is looked up
    on PATH. Unset: the project's own environment (`environments.py`: its dependencies are there), else the one
    atlas-lsp runs on. Either runs its own pytest, else atlas-lsp's (`bundled_pytest`). A clear error when the
    configured one cannot run pytest."""
    if not settings.python:
        return choose_interpreter(root).python if root is not None else sys.executable
    given = os.path.expanduser(settings.python)
    if root is not None and not os.path.isabs(given) and os.sep in given:
        python = os.path.join(root, given)
    else:
        python = shutil.which(given) or given
    python = os.path.abspath(python)  # (not resolved: a virtualenv's python is a link to the one it was made from)
    problem = pytest_problem(python)
    if problem:
        raise SolveError(f"atlas.solve.python {settings.python!r}: {problem}; install pytest in that environment")
    return python


class SolveService:
    def __init__(self, registry: LanguageRegistry, worker: InferenceWorker | None) -> None:
        """``worker``: the model's (None where no model is needed: `prepare`, `check`)."""
        self._registry = registry
        self._worker = worker

    def _generate(self, worker: InferenceWorker, settings: SolveSettings) -> Generate:
        def generate(prompt: ChatPrompt, temperature: float, seed: int, cancel: CancelToken) -> Reply:
            def run(backend: ModelBackend, text: str, max_tokens: int, stop: tuple[str, ...]) -> Reply:
                messages = prompt.messages if backend.info.chat_messages else None
                request = GenerationRequest(
                    text, max_tokens=max_tokens, temperature=temperature, seed=seed, stop=stop, messages=messages,
                    logprobs=True,
                )  # fmt: skip
                stream = backend.generate(request, cancel)
                try:
                    return Reply("".join(stream), stream.stats.mean_logprob)
                finally:
                    stream.close()

            def use(backend: ModelBackend) -> Reply:
                info = backend.info
                budget = settings.thinking_budget
                if budget and not info.chat_messages and is_reasoning_template(info.chat_template):
                    answer = generate_with_budget(
                        lambda text, most, stop: run(backend, text, most, stop).text,
                        prompt.text,
                        budget,
                        settings.max_tokens,
                    )
                    return Reply(answer)
                # a chat endpoint applies the template and its reasoning parser itself: room for both, no forcing
                room = settings.max_tokens + (budget if is_reasoning_template(info.chat_template) else 0)
                reply = run(backend, prompt.text, room, ())
                return Reply(strip_thinking(reply.text), reply.mean_logprob)

            try:
                backend = worker.backend
                if backend is not None and backend.info.max_parallel > 1:
                    return use(backend)  # a thread-safe (remote) backend: candidates go out at once
                return worker.submit(use, cancel).result()
            except Exception as error:
                if cancel.cancelled:
                    return Reply("")
                raise ModelError(f"generation failed: {error}") from error

        return generate

    def prepare(self, request: SolveRequest) -> Specification:
        """The function and what defines it: the project's tests that refer to it, else its docstring examples."""
        spec = self._registry.for_path(request.path)
        if spec is None:
            raise SolveError(f"no grammar for {Path(request.path).name}")
        try:
            runner = runner_for(spec, request.root, Path(request.path))
        except RunnerUnavailable as error:
            raise SolveError(str(error)) from error
        document = SyntaxDocument(spec, request.text)
        target = find_function(document, request.path, line=request.line, name=request.name)
        if target is None:
            where = f"`{request.name}`" if request.name else f"line {(request.line or 0) + 1}"
            raise SolveError(f"no function at {where} of {Path(request.path).name}")
        open_tests = {path: text for path, text in request.buffers.items()}
        selected = tests_referring_to(target.name, self._registry, spec, [request.root], open_tests)
        ids, sources = [t.node_id for t in selected], [t.source for t in selected]
        if isinstance(runner, CargoTestRunner):  # its doc-tests (cargo test runs them too)
            own = runner.own_tests(request.root, Path(request.path), request.text, spec, target)
            ids, sources = [*ids, *(t.node_id for t in own)], [*sources, *(f"```\n{t.source}\n```" for t in own)]
        if ids:
            return Specification(target, document, ids, PROJECT_TESTS, sources, {}, runner)
        if target.examples and isinstance(runner, PytestRunner):
            module = Path(request.path).resolve().relative_to(request.root.resolve()).as_posix()
            dotted = package_module_name(Path(request.path).resolve())
            extra = {EXAMPLES_FILE: examples_test_file(module, target.name, target.examples, dotted)}
            ids = [f"{EXAMPLES_FILE}::test_{target.name}_example_{n}" for n in range(1, len(target.examples) + 1)]
            shown = ["\n".join(f">>> {e}\n{x}" for e, x in target.examples)]
            return Specification(target, document, ids, DOCSTRING_EXAMPLES, shown, extra, runner)
        if isinstance(runner, PytestRunner):
            raise SolveError(
                f"no test in the workspace refers to {target.name} and its docstring has no >>> examples: "
                "write a test (or an example) first"
            )
        also = " (or an example in its /// doc comment: a doc-test)" if isinstance(runner, CargoTestRunner) else ""
        raise SolveError(
            f"no test in the workspace refers to {target.name}: write a test first{also}; they run with {runner.name}"
        )

    def _sandbox(
        self, request: SolveRequest, settings: SolveSettings, found: Specification, progress: Callable[[str], None]
    ) -> Sandbox:
        """The sandbox the function's tests run in: the interpreter (pytest), limits and variables of ``settings``."""
        python = sys.executable
        if isinstance(found.runner, PytestRunner) and settings.python:
            python = interpreter(settings, request.root)
        elif isinstance(found.runner, PytestRunner):
            chosen = choose_interpreter(request.root)
            python = chosen.python
            if chosen.note:
                progress(chosen.note)
        if getattr(found.runner, "note", ""):  # (the Node.js or Maven a project pins: node_versions.py, maven_test.py)
            progress(found.runner.note)  # type: ignore[attr-defined]
        limits = Limits(python, wall_seconds=settings.test_timeout_s, cpu_seconds=int(settings.test_timeout_s) + 1)
        try:
            environment = variables_for_tests(settings, os.environ)
            overlay = False if settings.copy_project else None
            return Sandbox(request.root, request.buffers, limits, found.runner, environment, overlay)
        except ProjectTooLarge as error:
            raise SolveError(str(error)) from error

    def check(
        self, request: SolveRequest, settings: SolveSettings, progress: Callable[[str], None]
    ) -> tuple[Specification, TestReport]:
        """The tests a solve would select, run once on the function as it is (no model): what a user checks before
        a solve (are the right tests found, do they run here)."""
        found = self.prepare(request)
        sandbox = self._sandbox(request, settings, found, progress)
        try:
            return found, sandbox.run({request.path: request.text}, found.node_ids, found.extra_files, CancelToken())
        finally:
            sandbox.close()

    def solve(
        self,
        request: SolveRequest,
        settings: SolveSettings,
        progress: Callable[[str], None],
        cancel: CancelToken,
        chat_template: str | None,
    ) -> SolveResult:
        worker = self._worker
        if worker is None or worker.backend is None:
            raise SolveError("the model is not loaded")
        found = self.prepare(request)
        target, node_ids, extra = found.target, found.node_ids, found.extra_files
        language = found.document.spec
        spec = SolveSpec(
            language=language.name,
            name=target.name,
            signature=target.signature,
            doc=target.doc,
            current=target.text,
            context=_context_for(
                found.document, target, callers_of(target.name, language, [request.root], request.buffers)
            ),
            tests=found.test_sources,
            tests_label=found.label,
            indent=target.indent,
        )
        sandbox = self._sandbox(request, settings, found, progress)

        def run_tests(file_text: str, token: CancelToken) -> TestReport:
            return sandbox.run({request.path: file_text}, node_ids, extra, token)

        backend = worker.backend
        parallel = backend.info.max_parallel if backend is not None else 1
        loop = SolveLoop(language, self._generate(worker, settings), run_tests, progress, chat_template, parallel)
        try:
            return loop.run(
                spec, target, request.text, node_ids, found.label, settings.candidates, settings.repair_rounds, cancel
            )
        finally:
            sandbox.close()


PROJECT_MARKERS = (
    "pyproject.toml", "setup.py", "setup.cfg", "pytest.ini", "tox.ini", "package.json", "Cargo.toml", "go.mod",
    "pom.xml", "build.gradle", "build.gradle.kts", ".git",
)  # fmt: skip


def project_root(path: Path, folders: list[Path]) -> Path:
    """The project that holds ``path``. In a workspace folder: the outermost folder on the way down to the file
    that has a project file (pyproject.toml, setup.py, setup.cfg, pytest.ini, tox.ini, package.json, Cargo.toml,
    go.mod, pom.xml, build.gradle) or a git checkout (the workspace folder itself when it has one), else the workspace
    folder. Outside any: the nearest such folder above the file (a Maven module: the multi-module build that lists
    it), else its own folder. (The sandbox copies the whole project per candidate, so a workspace folder like a
    home directory is not taken for the project of a file in a project inside it.)"""
    path = path.resolve()

    def is_project(folder: Path) -> bool:
        return any((folder / marker).exists() for marker in PROJECT_MARKERS)

    for folder in folders:
        workspace = folder.resolve()
        try:
            path.relative_to(workspace)
        except ValueError:
            continue
        inside = [p for p in reversed(path.parents) if p == workspace or workspace in p.parents]
        return next((p for p in inside if is_project(p)), workspace)
    nearest = next((p for p in path.parents if is_project(p)), path.parent)
    return reactor_root(Path(nearest.anchor), nearest) if (nearest / "pom.xml").is_file() else nearest
