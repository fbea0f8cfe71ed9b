"""Dispatch for `atlas-lsp bench SUITE`: run, print, and record in docs/benchmarks.md."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import IO

from atlas_lsp.bench.report import write_section


def run_bench(args: argparse.Namespace, out: IO[str]) -> int:
    endpoint = getattr(args, "endpoint", None)
    on_gpu = False
    if args.suite == "context":
        from atlas_lsp.bench import context

        body = context.markdown(context.run(files=args.files))
    elif args.suite == "decode":
        from atlas_lsp.bench import decode

        if endpoint:
            raise SystemExit("bench decode measures the in-process model; --endpoint does not apply")
        decoded = decode.run(model=args.model)
        on_gpu = decoded.device.startswith("gpu")
        body = decode.markdown(decoded)
    elif args.suite == "solve":
        from atlas_lsp.bench import solve

        result = solve.run(model=args.model, limit=args.tasks, k=args.k, rounds=args.rounds, endpoint=endpoint)
        body = solve.markdown(result, endpoint)
    else:
        from atlas_lsp.bench import completion

        result = completion.run(model=args.model, endpoint=endpoint)
        on_gpu = result.device.startswith("gpu")
        body = completion.markdown(result, endpoint)
    out.write(body)
    if args.output != "-":
        key = f"{args.suite}-endpoint" if endpoint and args.suite != "context" else args.suite
        key += "-gpu" if on_gpu else ""  # GPU and CPU runs keep sections of their own
        write_section(Path(args.output), key, body)
        out.write(f"\nrecorded in {args.output}\n")
    return 0
