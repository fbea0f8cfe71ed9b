"""`atlas-lsp doctor`: is this installation able to serve completions, and how fast?"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, field
from importlib import metadata
from typing import IO, Any

from atlas_lsp.completion.speculation import auto_speculates
from atlas_lsp.config import ModelSettings
from atlas_lsp.model.backend import CancelToken, GenerationRequest, ModelError
from atlas_lsp.model.service import load_backend

SPEED_PROMPT = "def fibonacci(n):\n    "
SPEED_TOKENS = 32


@dataclass
class DoctorReport:
    checks: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def collect(settings: ModelSettings) -> DoctorReport:
    report = DoctorReport()
    checks = report.checks
    checks["python"] = platform.python_version()
    for package in ("atlas-lsp", "pygls", "lsprotocol", "llama-cpp-python", "tree-sitter"):
        checks[package] = _version(package)
    from atlas_lsp.syntax.registry import load_registry

    registry = load_registry()
    checks["languages"] = ", ".join(sorted(registry.languages))
    report.problems.extend(registry.problems)
    from atlas_lsp.solve.runners import runner_summary

    checks["solve_runners"] = "; ".join(f"{name}: {what}" for name, what in runner_summary().items())
    from atlas_lsp.solve.sandbox import sandbox_summary

    checks["solve_sandbox"] = sandbox_summary()
    checks["backend"] = settings.backend
    if settings.backend == "llama-cpp":
        try:
            from atlas_lsp.model.llama import gpu_offload_supported

            checks["gpu_offload_supported"] = gpu_offload_supported()
        except ModelError as error:
            report.problems.append(str(error))
            return report
    else:
        checks["endpoint"] = settings.url
    try:
        backend = load_backend(settings)
    except ModelError as error:
        report.problems.append(str(error))
        return report
    info = backend.info
    checks.update(
        model=info.name,
        model_path=info.path,
        architecture=info.architecture,
        device=info.device,
        **({"threads": info.threads} if info.threads else {}),
        context_size=info.context_size,
        trained_context_size=info.trained_context_size,
        fim_tokens=None if info.fim is None else [info.fim.prefix, info.fim.suffix, info.fim.middle],
        chat_template=info.chat_template is not None or info.chat_messages,
        load_seconds=round(info.load_seconds, 3),
    )
    if info.latency_ms is not None:
        checks["endpoint_latency_ms"] = round(info.latency_ms, 1)
    split_rule = getattr(backend, "prompt_split_rule", None)
    if split_rule is not None:
        checks["prompt_tokenization"] = split_rule() or "whole text (pieces would change this vocabulary's tokens)"
    try:
        stream = backend.generate(GenerationRequest(SPEED_PROMPT, max_tokens=SPEED_TOKENS), CancelToken())
        started = time.perf_counter()
        text = "".join(stream)
        seconds = time.perf_counter() - started
        tokens = stream.stats.generated_tokens
        checks["generated_tokens"] = tokens
        checks["tokens_per_second"] = round(tokens / seconds, 1) if seconds > 0 else None
        draft_tokens = getattr(backend, "draft_tokens", None)
        if draft_tokens is not None:  # the in-process model: prompt-lookup guesses, and the steps they saved
            checks["draft_tokens"] = draft_tokens
            checks["model_steps"] = stream.stats.decode_steps + 1 if tokens else 0
            checks["parked_prompts"] = getattr(backend, "parked_prompts", 0)
            checks["flash_attention"] = info.flash_attention
            step = getattr(backend, "step_seconds", None)  # a one-token step: what `completion.speculate: auto` uses
            checks["step_ms"] = None if step is None else round(step * 1000, 2)
            checks["speculate_auto"] = "on" if auto_speculates(info, step) else "off"
        checks["sample"] = (SPEED_PROMPT + text)[:120]
        if tokens == 0:
            report.problems.append("the model generated nothing for a simple prompt")
    except Exception as error:  # noqa: BLE001 - report any generation failure
        report.problems.append(f"generation failed: {error}")
    finally:
        backend.close()
    return report


def run_doctor(settings: ModelSettings, as_json: bool, out: IO[str]) -> int:
    report = collect(settings)
    if as_json:
        out.write(json.dumps({"checks": report.checks, "problems": report.problems}, indent=2) + "\n")
    else:
        width = max(len(key) for key in report.checks)
        for key, value in report.checks.items():
            out.write(f"{key:<{width}}  {value}\n")
        for problem in report.problems:
            out.write(f"PROBLEM: {problem}\n")
        out.write("ok: atlas-lsp is ready\n" if not report.problems else "atlas-lsp is not ready (see above)\n")
    return 1 if report.problems else 0
