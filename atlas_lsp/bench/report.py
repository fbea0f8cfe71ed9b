"""Shared helpers: percentiles, machine description, and writing a section of docs/benchmarks.md."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import subprocess
from pathlib import Path


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(values: list[float]) -> str:
    """p50 / p95 of seconds, in milliseconds."""
    return f"{percentile(values, 0.5) * 1000:.2f} / {percentile(values, 0.95) * 1000:.2f}"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def commit() -> str:
    """The commit measured: ``ATLAS_BENCH_COMMIT`` when the caller knows it better than the checkout (a copy of
    the tree on another machine may carry a stale .git), else git's HEAD."""
    given = os.environ.get("ATLAS_BENCH_COMMIT", "").strip()
    if given:
        return given
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10)
        return done.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def gpus() -> str:
    """The machine's NVIDIA GPUs and driver as nvidia-smi names them ("" where it has none or no nvidia-smi)."""
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    names = [line.strip().replace(", ", " (driver ", 1) + ")" for line in done.stdout.splitlines() if line.strip()]
    return ", ".join(names) if done.returncode == 0 else ""


def header(title: str, model: str | None = None, source: str | None = None) -> str:
    """A section's title and what it was measured with. ``model`` names the model and its device ("cpu", "gpu
    (30/30 layers)"): on a GPU, the title says so and the machine line names the GPU. ``source``: the text it was
    measured on, where a run can be given another."""
    on_gpu = bool(model) and ", gpu" in f", {model}"
    where = machine()
    if on_gpu:
        title = title.replace(" (`", " on the GPU (`", 1) if " (`" in title else f"{title} on the GPU"
        where = f"{gpus() or 'unknown GPU'}; {where}"
    lines = [f"## {title}", "", f"- date: {datetime.date.today().isoformat()}", f"- machine: {where}"]
    if model:
        lines.append(f"- model: {model}")
    if source:
        lines.append(f"- input: {source}")
    lines.append(f"- commit: {commit()}")
    return "\n".join(lines) + "\n"


def with_settings(body: str, settings: str) -> str:
    """``body`` (a section) with a line naming the settings it was measured with, after its header's lines."""
    lines = body.split("\n")
    at = next((index for index, line in enumerate(lines) if line.startswith("- ")), 0)
    while at < len(lines) and lines[at].startswith("- "):
        at += 1
    return "\n".join([*lines[:at], f"- settings: {settings}", *lines[at:]])


def write_section(path: Path, key: str, body: str) -> None:
    """Replace the section between `<!-- bench:KEY -->` markers (appended when absent)."""
    start, end = f"<!-- bench:{key} -->", f"<!-- /bench:{key} -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else "# Benchmarks\n\nMeasured by `atlas-lsp bench ...`.\n"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        _, after = rest.split(end, 1)
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
