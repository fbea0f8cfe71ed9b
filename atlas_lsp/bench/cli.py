"""Dispatch for `atlas-lsp bench SUITE`: run, print, and record in docs/benchmarks.md."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import IO, Any

from atlas_lsp.bench.completion import BenchInputError
from atlas_lsp.bench.report import with_settings, write_section
from atlas_lsp.config import Settings, merge_settings, settings_reference

SETTABLE_SUITES = ("completion", "decode")  # the suites that run the server or the model with settings


def parse_overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    """``--set SECTION.KEY=VALUE`` arguments as a settings object (``{"model": {"threads": 1}}``). A value is read
    as JSON when it is JSON (numbers, true/false, quoted strings), else taken as a string. Unknown keys and values
    that the setting does not accept are errors, not silently ignored: a benchmark must measure what it says."""
    known = {key for key, _, _ in settings_reference()}
    raw: dict[str, dict[str, Any]] = {}
    for item in items:
        key, equals, text = item.partition("=")
        key = key.strip()
        if not equals or key not in known:
            raise SystemExit(f"--set {item!r}: expected SECTION.KEY=VALUE with a known setting (e.g. model.threads=1)")
        try:
            value: Any = json.loads(text)
        except json.JSONDecodeError:
            value = text
        section, name = key.split(".", 1)
        raw.setdefault(section, {})[name] = value
    _, problems = merge_settings(Settings(), raw)
    if problems:
        wrong = (f"{problem.key}: {problem.message.split('; using ')[0]}" for problem in problems)
        raise SystemExit("--set " + "; ".join(wrong))
    return raw


def describe_overrides(raw: dict[str, dict[str, Any]]) -> str:
    return ", ".join(
        f"{section}.{name}={json.dumps(value)}" for section, keys in raw.items() for name, value in keys.items()
    )


def run_bench(args: argparse.Namespace, out: IO[str]) -> int:
    endpoint = getattr(args, "endpoint", None)
    overrides = parse_overrides(getattr(args, "overrides", None) or [])
    if overrides and args.suite not in SETTABLE_SUITES:
        raise SystemExit(f"--set applies to bench {' and '.join(SETTABLE_SUITES)}, not {args.suite}")
    server_log = getattr(args, "server_log", None)
    if server_log and (args.suite != "completion" or args.output != "-"):
        raise SystemExit("--server-log applies to bench completion printed only (--output -): logging costs time")
    file = Path(args.file) if getattr(args, "file", None) else None
    if file is not None and args.suite not in SETTABLE_SUITES:
        raise SystemExit(f"--file applies to bench {' and '.join(SETTABLE_SUITES)}, not {args.suite}")
    try:
        body, on_gpu = _measure(args, endpoint, overrides, server_log, file)
    except BenchInputError as error:
        raise SystemExit(f"--file {error}") from error
    if overrides:
        body = with_settings(body, describe_overrides(overrides))
    out.write(body)
    if args.output != "-":
        key = f"{args.suite}-endpoint" if endpoint and args.suite != "context" else args.suite
        key += "-gpu" if on_gpu else ""  # GPU and CPU runs keep sections of their own
        write_section(Path(args.output), key, body)
        out.write(f"\nrecorded in {args.output}\n")
    return 0


def _measure(
    args: argparse.Namespace,
    endpoint: str | None,
    overrides: dict[str, dict[str, Any]],
    server_log: str | None,
    file: Path | None,
) -> tuple[str, bool]:
    """Run the suite: its section's markdown, and whether it ran on a GPU."""
    if args.suite == "context":
        from atlas_lsp.bench import context

        return context.markdown(context.run(files=args.files)), False
    if args.suite == "decode":
        from atlas_lsp.bench import decode

        if endpoint:
            raise SystemExit("bench decode measures the in-process model; --endpoint does not apply")
        decoded = decode.run(model=args.model, overrides=overrides, file=file)
        return decode.markdown(decoded), decoded.device.startswith("gpu")
    if args.suite == "sandbox":
        from atlas_lsp.bench import sandbox

        if endpoint:
            raise SystemExit("bench sandbox measures the test runs' sandbox; --endpoint does not apply")
        return sandbox.markdown(sandbox.run(files=args.files)), False
    if args.suite == "solve":
        from atlas_lsp.bench import solve

        result = solve.run(model=args.model, limit=args.tasks, k=args.k, rounds=args.rounds, endpoint=endpoint)
        return solve.markdown(result, endpoint), False
    from atlas_lsp.bench import completion

    measured = completion.run(
        model=args.model, endpoint=endpoint, overrides=overrides, server_log=server_log, file=file
    )
    return completion.markdown(measured, endpoint), measured.device.startswith("gpu")
