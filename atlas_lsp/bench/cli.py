"""Dispatch for `atlas-lsp bench SUITE`: run, print, and record in docs/benchmarks.md."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import IO

from atlas_lsp.bench.report import write_section


def run_bench(args: argparse.Namespace, out: IO[str]) -> int:
    if args.suite == "context":
        from atlas_lsp.bench import context

        body = context.markdown(context.run(files=args.files))
    elif args.suite == "solve":
        from atlas_lsp.bench import solve

        body = solve.markdown(solve.run(model=args.model, limit=args.tasks, k=args.k, rounds=args.rounds))
    else:
        from atlas_lsp.bench import completion

        body = completion.markdown(completion.run(model=args.model))
    out.write(body)
    if args.output != "-":
        write_section(Path(args.output), args.suite, body)
        out.write(f"\nrecorded in {args.output}\n")
    return 0
