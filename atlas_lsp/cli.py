"""Command line: `atlas-lsp` (serve over stdio or TCP), `doctor`, `complete`."""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import logging
import os
import sys
from collections.abc import Sequence
from typing import IO, Any

from atlas_lsp import __version__  # (the package loads llama.cpp before numpy: atlas_lsp/native.py)

logger = logging.getLogger(__name__)


def setup_logging(level: str, log_file: str | None) -> None:
    """Log to the file if given, else to stderr; never to stdout (the protocol channel)."""
    handler: logging.Handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("atlas_lsp").setLevel(level.upper())
    stream: IO[str] = handler.stream if isinstance(handler, logging.StreamHandler) else sys.stderr
    faulthandler.enable(stream)  # a native crash leaves a Python traceback in the log


def _take_stdout_for_protocol() -> IO[bytes]:
    """Move the protocol to a private copy of stdout and point fd 1 at stderr.

    Native libraries (llama.cpp, ggml backends) may write to fd 1; after this, such writes land in stderr
    instead of corrupting the LSP stream.
    """
    protocol_fd = os.dup(sys.stdout.fileno())
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    return os.fdopen(protocol_fd, "wb", buffering=0)


def _parse_tcp(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


def serve(args: argparse.Namespace) -> int:
    from atlas_lsp.server import build_server

    server = build_server()
    if args.tcp:
        host, port = args.tcp
        server.start_tcp(host, port)
    else:
        protocol_out = _take_stdout_for_protocol()
        server.start_io(sys.stdin.buffer, protocol_out)  # type: ignore[arg-type]
    # LSP: exit status 0 after a `shutdown` request, 1 when the client exits (or its pipe closes) without one
    return 0 if server.shutdown_requested else 1


def _model_settings(args: argparse.Namespace) -> Any:
    from atlas_lsp.config import ModelSettings

    if getattr(args, "endpoint", None):
        return ModelSettings(backend="openai", url=args.endpoint, name=args.endpoint_model)
    return ModelSettings(path=args.model) if getattr(args, "model", None) else ModelSettings()


def _add_model_args(parser: argparse.ArgumentParser, what: str = "the bundled model") -> None:
    parser.add_argument("--model", help=f"a GGUF file instead of {what}")
    parser.add_argument(
        "--endpoint",
        metavar="URL",
        help="an OpenAI-compatible server instead of a local model (key: $ATLAS_LSP_API_KEY)",
    )
    parser.add_argument("--endpoint-model", metavar="NAME", help="the model to request from --endpoint")


def doctor(args: argparse.Namespace) -> int:
    from atlas_lsp.doctor import run_doctor

    return run_doctor(_model_settings(args), as_json=args.json, out=sys.stdout)


def complete(args: argparse.Namespace) -> int:
    from atlas_lsp.oneshot import complete_at

    return asyncio.run(complete_at(args.location, _model_settings(args), sys.stdout))


def context(args: argparse.Namespace) -> int:
    from atlas_lsp.context.cli import print_context

    return print_context(args.location, args.root, args.budget, sys.stdout)


def bench(args: argparse.Namespace) -> int:
    from atlas_lsp.bench.cli import run_bench

    return run_bench(args, sys.stdout)


def solve(args: argparse.Namespace) -> int:
    from atlas_lsp.config import SolveSettings
    from atlas_lsp.solve.cli import solve_command

    defaults = SolveSettings()
    if not all("=" in item for item in args.env):
        raise SystemExit("atlas-lsp solve: --env takes NAME=VALUE")
    variables = dict(item.split("=", 1) for item in args.env)
    settings = SolveSettings(
        candidates=args.k or defaults.candidates,
        repair_rounds=defaults.repair_rounds if args.rounds is None else args.rounds,
        test_timeout_s=args.timeout or defaults.test_timeout_s,
        python=args.python,
        pass_env=args.pass_env or None,
        env=variables or None,
        copy_project=args.copy_project,
    )
    if args.check:
        from atlas_lsp.solve.cli import check_command

        return check_command(args.target, settings, args.json, sys.stdout)
    return asyncio.run(solve_command(args.target, _model_settings(args), settings, args.json, args.apply, sys.stdout))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atlas-lsp", description="A language server with a local, warm code model.")
    parser.add_argument("--version", action="version", version=f"atlas-lsp {__version__}")
    parser.add_argument("--log-file", help="write logs here instead of stderr")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--stdio", action="store_true", help="speak LSP over stdin/stdout (the default)")
    parser.add_argument("--tcp", type=_parse_tcp, metavar="HOST:PORT", help="speak LSP over TCP instead")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the language server (the default)")
    check = sub.add_parser("doctor", help="check the installation, the model and its speed")
    _add_model_args(check, "the configured/bundled model")
    check.add_argument("--json", action="store_true", help="print a JSON report")
    one = sub.add_parser("complete", help="print the completion the server would suggest at FILE:LINE:COL")
    one.add_argument(
        "location",
        help="FILE:LINE:COL, 1-based (COL may be omitted: end of the line); a notebook: NOTEBOOK.ipynb:CELL:LINE[:COL]",
    )
    _add_model_args(one)
    show = sub.add_parser("context", help="print the context parts a completion at FILE:LINE:COL would include")
    show.add_argument("location", help="FILE:LINE[:COL], 1-based; a notebook: NOTEBOOK.ipynb:CELL:LINE[:COL]")
    show.add_argument("--root", help="workspace root (default: the file's git work tree, else its folder)")
    show.add_argument("--budget", type=int, default=1024, help="context token budget (default 1024)")
    fix = sub.add_parser("solve", help="write, test and repair a function; print the diff and the evidence")
    fix.add_argument("target", help="path/file.py::function (a Python, JavaScript, TypeScript, Rust, Go or Java file)")
    fix.add_argument("--k", type=int, help="candidates per round (default 4)")
    fix.add_argument("--rounds", type=int, help="repair rounds (default 2)")
    fix.add_argument("--timeout", type=float, help="seconds per test run (default 60)")
    fix.add_argument("--python", help="the interpreter that runs the project's tests (default: this one)")
    fix.add_argument(
        "--pass-env", action="append", default=[], metavar="NAME",
        help="a variable of this environment the test runs see too (a name, or a prefix ending in *; repeatable)",
    )  # fmt: skip
    fix.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="a variable for the test runs")
    fix.add_argument("--copy-project", action="store_true", help="a copy of the project per candidate, no overlay")
    fix.add_argument(
        "--check", action="store_true",
        help="no model: list the tests a solve would select and run them once on the function as it is",
    )  # fmt: skip
    fix.add_argument("--json", action="store_true", help="print a JSON result")
    fix.add_argument("--apply", action="store_true", help="write the best candidate into the file")
    _add_model_args(fix)
    measure = sub.add_parser("bench", help="measure and record numbers in docs/benchmarks.md")
    suites = ["context", "completion", "decode", "solve", "sandbox"]
    measure.add_argument("suite", choices=suites, help="what to measure")
    measure.add_argument("--output", default="docs/benchmarks.md", help="markdown file to update ('-' prints only)")
    _add_model_args(measure)
    measure.add_argument("--files", type=int, default=2000, help="workspace size for `context` and `sandbox`")
    measure.add_argument(
        "--file",
        metavar="FILE.py",
        help="`completion` and `decode`: measure in this Python file (its first 2,000 lines) instead of the pinned "
        "input, the same text in every run (atlas_lsp/bench/data/completion_input.txt)",
    )
    measure.add_argument(
        "--server-log",
        metavar="FILE",
        help="`completion`: the server's debug log goes to FILE (to see what it did; its timings then include the "
        "logging, so the run is printed, not recorded: use with --output -)",
    )
    measure.add_argument("--tasks", type=int, default=10, help="HumanEval tasks for `solve`")
    measure.add_argument("--k", type=int, default=4, help="candidates per task for `solve`")
    measure.add_argument("--rounds", type=int, default=2, help="repair rounds for `solve`")
    measure.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="a setting for `completion` and `decode` (repeatable), e.g. model.threads=1; named in the section",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level, args.log_file)
    commands = {"doctor": doctor, "complete": complete, "context": context, "bench": bench, "solve": solve}
    return commands.get(args.command, serve)(args)
