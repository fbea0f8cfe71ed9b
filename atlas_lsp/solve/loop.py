"""The verified loop: k diverse candidates, the selected tests in the sandbox, repair rounds from the failures.

Pure orchestration over two seams: ``generate`` (a prompt -> the model's text) and ``run_tests`` (a candidate
file text -> a TestReport). A scripted model can stand in for the first in unit tests of this logic.
"""

from __future__ import annotations

import difflib
import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from atlas_lsp.model.backend import CancelToken
from atlas_lsp.prompts.chat import ChatPrompt, chat_prompt, code_from_reply
from atlas_lsp.prompts.solve import PLANS, SolveSpec, candidate_messages, plain_prompt, repair_messages
from atlas_lsp.prompts.thinking import strip_thinking
from atlas_lsp.solve.runs import NOT_COLLECTED, TestReport
from atlas_lsp.solve.target import FunctionTarget, find_function
from atlas_lsp.syntax.document import SyntaxDocument
from atlas_lsp.syntax.registry import LanguageSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    """A model's answer with its own likelihood (mean log-probability per token), where the backend reports one."""

    text: str
    mean_logprob: float | None = None


# prompt, temperature, seed, cancel -> the model's text (or a Reply with its likelihood)
Generate = Callable[[ChatPrompt, float, int, CancelToken], "str | Reply"]
RunTests = Callable[[str, CancelToken], TestReport]  # the whole file's new text, cancel -> report


@dataclass
class Candidate:
    code: str  # the function's new definition, indented for its place in the file
    origin: str  # "candidate 2 (plan)", "repair 1 of candidate 3", ...
    report: TestReport | None = None
    lines_changed: int = 0
    order: int = 0
    invalid: str = ""  # why no function could be taken from the model's reply
    likelihood: float | None = None  # the model's mean log-probability per token of its reply

    @property
    def score(self) -> tuple[int, int, float, int]:
        """Most selected tests passed, then fewest lines changed, then the model's own likelihood, then order."""
        passed = self.report.passed if self.report else -1
        likelihood = self.likelihood if self.likelihood is not None else -math.inf
        return (passed, -self.lines_changed, likelihood, -self.order)


@dataclass
class SolveResult:
    target: FunctionTarget
    tests: list[str]
    tests_label: str
    candidates: list[Candidate] = field(default_factory=list)
    best: Candidate | None = None
    model_calls: int = 0
    test_runs: int = 0
    seconds: float = 0.0
    cancelled: bool = False
    problem: str = ""
    stopped: str = ""  # why the job stopped before its rounds were done (not for a pass or a cancel)
    original_problem: str | None = None  # the tests' problem with the function as it is (run once, when needed)
    planned: int = 0  # candidates the job writes at most (first round and repairs)

    @property
    def passed(self) -> bool:
        return self.best is not None and self.best.report is not None and self.best.report.all_passed

    def evidence(self) -> str:
        if self.problem and self.best is None:
            return self.problem
        if self.best is None or self.best.report is None:
            return "no candidate could be tested"
        report = self.best.report
        names = [node_id.split("::")[-1] for node_id in self.tests]
        shown = ", ".join(names[:4]) + ("…" if len(names) > 4 else "")
        what = "selected tests" if self.tests_label == "the project's tests" else "docstring examples"
        verdict = "pass" if self.passed else "passed (best candidate)"
        evidence = f"{report.passed}/{report.total} {what} {verdict}: {shown}, {report.seconds:.1f} s"
        if report.skipped:
            evidence += f" ({report.skipped} skipped)"
        if report.problem.startswith(NOT_COLLECTED):  # no candidate's fault: say what stops the tests
            evidence += f"; {report.problem}"
            if "ModuleNotFoundError" in report.problem:
                evidence += " (do they run with the project's environment? see atlas.solve.python)"
        if self.stopped:
            evidence += f" ({self.stopped})"
        return evidence


def same_for_any_candidate(result: SolveResult, parses: Callable[[str], bool]) -> str:
    """What stops the tests whatever the candidate: a "could not be collected" problem of a candidate without a
    syntax error that the function as it is gives too, or two such candidates of different code (a dependency the
    tests import, usually, which no further candidate or repair can change); "" while neither has been seen. (A
    candidate's own syntax error stops the collection too, with the same words for many: never counted.)"""
    code_by_problem: dict[str, str] = {}
    for candidate in result.candidates:
        problem = candidate.report.problem if candidate.report is not None else ""
        if not problem.startswith(NOT_COLLECTED) or not parses(candidate.code):
            continue
        if problem == result.original_problem or code_by_problem.setdefault(problem, candidate.code) != candidate.code:
            return problem
    return ""


def extract_function(
    reply: str, spec: LanguageSpec, name: str, indent: str, signature: str | None = None
) -> tuple[str, str]:
    """The definition of ``name`` in a model reply (of several: the one with ``signature``, the target's, else the
    first), re-indented for ``indent``: (code, problem)."""
    code = code_from_reply(strip_thinking(reply)).split("```", 1)[0]
    document = SyntaxDocument(spec, code)
    found = find_function(document, "<candidate>", name=name, signature=signature)
    if found is None:
        return "", f"the reply has no definition of {name}"
    lines = found.text.split("\n")
    base = found.indent
    body = [line[len(base) :] if line.startswith(base) else line.lstrip() for line in lines[1:]]
    return "\n".join([lines[0], *[(indent + line) if line.strip() else "" for line in body]]), ""


def keep_signature(code: str, target: FunctionTarget, spec: LanguageSpec) -> str:
    """``code`` with the function's own signature in place of the model's: the signature is the contract that the
    tests and callers use (SmolLM2 dropped an `async`; models add annotations or rename parameters). Code with a
    syntax error is left as it is (where the parser puts the signature's end is a guess there; the tests say what is
    wrong, for the repair)."""
    document = SyntaxDocument(spec, code)
    if not code or document.has_error:
        return code
    found = find_function(document, "<candidate>", name=target.name)
    if found is None or found.signature == target.signature or not code.startswith(found.signature):
        return code
    return target.signature + code[len(found.signature) :]


def keep_docstring(code: str, target: FunctionTarget, spec: LanguageSpec) -> str:
    """``code`` with the function's original docstring put back when the model's version dropped it (not in code
    with a syntax error: see keep_signature)."""
    inside = target.doc and target.doc in target.text[len(target.signature) :]
    document = SyntaxDocument(spec, code)
    if not code or not inside or document.has_error:
        return code
    found = find_function(document, "<candidate>", name=target.name)
    if found is None or found.doc:
        return code
    lines = code.split("\n")
    head = found.signature.count("\n") + 1
    body = next((line for line in lines[head:] if line.strip()), "")
    indent = body[: len(body) - len(body.lstrip())] or target.indent + "    "
    doc = target.doc.split("\n")
    return "\n".join([*lines[:head], indent + doc[0], *doc[1:], *lines[head:]])


def replace_function(file_text: str, target: FunctionTarget, code: str) -> str:
    source = file_text.encode("utf-8")
    return (source[: target.start_byte] + code.encode("utf-8") + source[target.end_byte :]).decode("utf-8")


class SolveLoop:
    def __init__(
        self,
        language: LanguageSpec,
        generate: Generate,
        run_tests: RunTests,
        progress: Callable[[str], None],
        chat_template: str | None,
        parallel: int = 1,
    ) -> None:
        self._parallel = parallel  # candidates generated at once (a remote backend batches them)
        self._count_lock = threading.Lock()
        self._language = language
        self._generate = generate
        self._run_tests = run_tests
        self._progress = progress
        self._chat_template = chat_template

    def _prompt(self, messages: list[dict[str, str]]) -> ChatPrompt:
        return chat_prompt(self._chat_template, messages, plain=plain_prompt(messages))

    def _write(self, prompt: ChatPrompt, temperature: float, seed: int, origin: str, result: SolveResult, order: int,
               cancel: CancelToken) -> Candidate:  # fmt: skip
        reply = self._generate(prompt, temperature, seed, cancel)
        with self._count_lock:
            result.model_calls += 1
        text, likelihood = (reply.text, reply.mean_logprob) if isinstance(reply, Reply) else (reply, None)
        target = result.target
        code, problem = extract_function(text, self._language, target.name, target.indent, target.signature)
        code = keep_docstring(keep_signature(code, result.target, self._language), result.target, self._language)
        changed = sum(1 for line in difflib.ndiff(result.target.text.split("\n"), code.split("\n")) if line[:1] in "+-")
        return Candidate(code, origin, lines_changed=changed, order=order, invalid=problem, likelihood=likelihood)

    def _test(self, candidate: Candidate, file_text: str, result: SolveResult, cancel: CancelToken) -> None:
        if candidate.invalid:
            candidate.report = TestReport(problem=candidate.invalid)
            return
        count = len(result.tests)
        self._progress(f"running {count} test{'' if count == 1 else 's'} on {candidate.origin}")
        candidate.report = self._run_tests(replace_function(file_text, result.target, candidate.code), cancel)
        result.test_runs += 1
        if len(result.candidates) >= result.planned:  # (the last one: nothing left to stop)
            return
        if not candidate.report.problem.startswith(NOT_COLLECTED) or not self._parses(candidate.code):
            return
        if result.original_problem is None and self._parses(result.target.text):
            self._progress("running the tests on the function as it is (they could not be collected)")
            result.original_problem = self._run_tests(file_text, cancel).problem
            result.test_runs += 1
        if same_for_any_candidate(result, self._parses) and not cancel.cancelled:
            tested = sum(1 for c in result.candidates if c.report is not None and not c.invalid)
            result.stopped = (
                f"stopped after {tested} candidate{'' if tested == 1 else 's'}: the tests cannot be collected "
                "whatever the function's code"
            )
            self._progress(result.stopped)

    def _parses(self, code: str) -> bool:
        """Whether ``code`` (a function's definition) has no syntax error."""
        return not SyntaxDocument(self._language, code).has_error

    @staticmethod
    def _done(candidate: Candidate, result: SolveResult) -> bool:
        """Whether the job is over after testing ``candidate``: it passed, or the tests cannot run at all."""
        return bool(result.stopped) or (candidate.report is not None and candidate.report.all_passed)

    def run(
        self,
        spec: SolveSpec,
        target: FunctionTarget,
        file_text: str,
        tests: list[str],
        tests_label: str,
        k: int,
        rounds: int,
        cancel: CancelToken,
    ) -> SolveResult:
        started = time.monotonic()
        result = SolveResult(target, tests, tests_label, planned=k + rounds)
        try:
            self._rounds(spec, file_text, k, rounds, cancel, result)
        finally:
            result.cancelled = cancel.cancelled
            tested = [c for c in result.candidates if c.report is not None and not c.invalid]
            result.best = max(tested, key=lambda c: c.score) if tested else None
            result.seconds = time.monotonic() - started
        return result

    def _first_round_job(self, spec: SolveSpec, index: int) -> tuple[ChatPrompt, float, int, str]:
        """Candidate ``index``: the first greedy, the others sampled, each with its own short plan."""
        plan = PLANS[index % len(PLANS)]
        origin = f"candidate {index + 1}" + (" (plan)" if plan else "")
        return self._prompt(candidate_messages(spec, plan)), 0.0 if index == 0 else 0.8, 1000 + index, origin

    def _first_round_at_once(
        self, spec: SolveSpec, file_text: str, k: int, cancel: CancelToken, result: SolveResult
    ) -> bool:
        """Request up to ``parallel`` candidates at once and test each as it arrives; True once one passes (the
        generations still running are cancelled)."""
        self._progress(f"writing {k} candidates ({min(k, self._parallel)} at a time)")
        pending = CancelToken(parent=cancel)
        with ThreadPoolExecutor(max_workers=min(k, self._parallel), thread_name_prefix="atlas-candidate") as pool:
            futures = [
                pool.submit(self._write, *self._first_round_job(spec, index), result, index, pending)
                for index in range(k)
            ]
            try:
                for done, future in enumerate(as_completed(futures), start=1):
                    candidate = future.result()
                    result.candidates.append(candidate)
                    if cancel.cancelled:
                        return True
                    self._progress(f"candidate {done}/{k} written")
                    self._test(candidate, file_text, result, cancel)
                    if self._done(candidate, result):
                        return True
            finally:
                pending.cancel()  # stop what is still generating (a pass, a cancel or an error)
        return False

    def _rounds(
        self, spec: SolveSpec, file_text: str, k: int, rounds: int, cancel: CancelToken, result: SolveResult
    ) -> None:
        if self._parallel > 1 and k > 1:
            if self._first_round_at_once(spec, file_text, k, cancel, result):
                return
        else:
            for index in range(k):
                if cancel.cancelled:
                    return
                self._progress(f"writing candidate {index + 1}/{k}")
                candidate = self._write(*self._first_round_job(spec, index), result, index, cancel)
                result.candidates.append(candidate)
                self._test(candidate, file_text, result, cancel)
                if self._done(candidate, result):
                    return
        order = k
        for round_number in range(1, rounds + 1):
            if cancel.cancelled:
                return
            tested = [c for c in result.candidates if c.report is not None and not c.invalid]
            if not tested:
                return
            worst_first = max(tested, key=lambda c: c.score)
            self._progress(f"repair round {round_number}")
            failures = worst_first.report.failure_text() if worst_first.report else ""
            prompt = self._prompt(repair_messages(spec, worst_first.code, failures))
            origin = f"repair {round_number} of {worst_first.origin}"
            candidate = self._write(prompt, 0.3, 2000 + round_number, origin, result, order, cancel)
            order += 1
            result.candidates.append(candidate)
            self._test(candidate, file_text, result, cancel)
            if self._done(candidate, result):
                return
