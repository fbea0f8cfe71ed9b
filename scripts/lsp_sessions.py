"""Scripted LSP sessions against the real server and bundled model, for what `atlas-lsp bench completion` samples
too thinly (a few requests per scenario). Each prints one line per request: latency, server overhead (latency
minus the server's model time) and the server's own steps. Eighth-session notes in docs/benchmarks.md quote them.

  python scripts/lsp_sessions.py switch      # back to a file after a request in another, three times
  python scripts/lsp_sessions.py open N S    # N more 2,000-line files open, S seconds later ten cold requests
  python scripts/lsp_sessions.py hits        # follow-ups, each then typed as suggested: cache-hit latencies
  python scripts/lsp_sessions.py lines N [default]  # N new lines typed below a cold position, a request at the end
                                             # of each (default: the server's own context settings)
  python scripts/lsp_sessions.py type N      # a function of N lines written a character at a time, three other
                                             # files open, a request every 3 characters (default settings):
                                             # every request that evaluated more than 64 prompt tokens
  python scripts/lsp_sessions.py raw N T     # N follow-ups (T generation threads), a raw model call in this
                                             # process between them, as the benchmark makes: protocol time each

With PYTHONPATH=scripts/gc_probe the server also logs its garbage collections (see scripts/gc_probe).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from atlas_lsp.bench.completion import FILE_LINES, _change, _inline, _items, positions, source_file
from atlas_lsp.bench.lsp_client import RawLspProcess

OPTIONS = {
    "completion": {"debounceMs": 0, "maxTokens": 4, "timeLimitMs": 60000},
    "context": {"prefixLines": FILE_LINES, "budgetTokens": 1700},
}


OPTIONS_DEFAULT = {"completion": {"debounceMs": 0, "timeLimitMs": 60000}}


def _start(
    folder: Path,
    text: str,
    max_tokens: int = 4,
    model: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
) -> tuple[RawLspProcess, str]:
    path = folder / "big.py"
    path.write_text(text)
    options = options or OPTIONS
    options = {**options, "completion": {**options["completion"], "maxTokens": max_tokens}}
    if model:
        options["model"] = model
    server = RawLspProcess([sys.executable, "-m", "atlas_lsp", "--log-level", "warning"], stderr=subprocess.DEVNULL)
    server.initialize(options, folder.as_uri(), {"textDocument": {"inlineCompletion": {}}})
    _open(server, path, text)
    time.sleep(1.0)
    return server, path.as_uri()


def _open(server: RawLspProcess, path: Path, text: str) -> None:
    path.write_text(text)
    server.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": path.as_uri(), "languageId": "python", "version": 1, "text": text}},
    )


def _request(server: RawLspProcess, uri: str, line: int, column: int) -> tuple[float, dict[str, Any], Any]:
    seconds, result = _inline(server, uri, line, column)
    return seconds * 1000, server.request("workspace/executeCommand", {"command": "atlas.lastCompletion"}), result


def _show(label: str, ms: float, last: dict[str, Any]) -> None:
    steps = {name: round(value, 2) for name, value in last.get("phasesMs", {}).items() if name != "model"}
    sys.stdout.write(
        f"{label}: {ms:.2f} ms, overhead {ms - last['modelMs']:.2f} ms, protocol {ms - last['totalMs']:.2f} ms, "
        f"cached {last['cached']}, steps {steps}\n"
    )


def other_text(number: int) -> str:
    return "\n".join(source_file(2 * FILE_LINES).split("\n")[FILE_LINES:]) + f"\n# copy {number}\n"


def switch(folder: Path) -> None:
    text = source_file(FILE_LINES)
    server, uri = _start(folder, text)
    line, column = positions(text, 12)[-1]
    _request(server, uri, line, column)
    version = 1
    for number in range(3):
        other = folder / f"other{number}.py"
        _open(server, other, other_text(number))
        other_line, other_column = positions(other_text(number), 1)[0]
        _show("other file", *_request(server, other.as_uri(), other_line, other_column)[:2])
        version += 1
        server.notify("textDocument/didChange", _change(uri, version, line, column, " "))
        column += 1
        _show("back", *_request(server, uri, line, column)[:2])
    server.close()


def open_files(folder: Path, count: int, wait_s: float) -> None:
    text = source_file(FILE_LINES)
    server, uri = _start(folder, text)
    for number in range(count):
        _open(server, folder / f"open{number}.py", other_text(number))
    time.sleep(wait_s)
    for line, column in positions(text, 36)[:10]:
        _show("cold", *_request(server, uri, line, column)[:2])
    server.close()


def hits(folder: Path) -> None:
    text = source_file(FILE_LINES)
    server, uri = _start(folder, text, max_tokens=24)
    line, column = positions(text, 12)[-1]
    _request(server, uri, line, column)
    version = 1
    for _ in range(8):
        version += 1
        server.notify("textDocument/didChange", _change(uri, version, line, column, " "))
        column += 1
        ms, last, result = _request(server, uri, line, column)
        _show("follow-up", ms, last)
        items = _items(result)
        suggestion = items[0]["insertText"] if items else ""
        for character in suggestion[:8]:
            version += 1
            server.notify("textDocument/didChange", _change(uri, version, line, column, character))
            column += 1
            ms, last, _ = _request(server, uri, line, column)
            _show("typed as suggested", ms, last)
            if not last["cached"]:
                break
    server.close()


def new_lines(folder: Path, count: int, defaults: bool) -> None:
    """Press Enter at the end of a line, type a statement, ask: what each new line costs the model (tokens of the
    prompt evaluated, of how many)."""
    text = source_file(FILE_LINES)
    server, uri = _start(folder, text, max_tokens=4, options=OPTIONS_DEFAULT if defaults else None)
    line, column = positions(text, 12)[-1]
    _show("cold", *_request(server, uri, line, column)[:2])
    indent = " " * (len(text.split("\n")[line]) - len(text.split("\n")[line].lstrip()))
    for version in range(2, count + 2):
        statement = f"value_{version} = compute({version})"
        server.notify("textDocument/didChange", _change(uri, version, line, column, "\n" + indent + statement))
        line, column = line + 1, len(indent) + len(statement)
        ms, last, _ = _request(server, uri, line, column)
        evaluated = last["promptTokens"] - last["reusedTokens"]
        sys.stdout.write(f"new line {version - 1}: {ms:.0f} ms, evaluated {evaluated} of {last['promptTokens']}\n")
    server.close()


def typing(folder: Path, count: int) -> None:
    """Write a function (lines of this package) into the middle of a 2,000-line file, as a user would, and show the
    requests whose prompt was mostly evaluated again: what still defeats the model's cache while typing."""
    text = source_file(FILE_LINES)
    server, uri = _start(folder, text, max_tokens=4, options=OPTIONS_DEFAULT)
    for number in range(3):
        _open(server, folder / f"open{number}.py", other_text(number))
    rows = text.split("\n")
    line = next(n for n in range(FILE_LINES // 2, FILE_LINES) if rows[n] == "" and rows[n - 1] == "")
    body = [row for row in other_text(0).split("\n")[400 : 400 + 4 * count] if row.strip()][:count]
    version, column, requests, evaluated = 1, 0, 0, []
    for row in body:
        for character in row + "\n":
            version += 1
            server.notify("textDocument/didChange", _change(uri, version, line, column, character))
            line, column = (line + 1, 0) if character == "\n" else (line, column + 1)
            if version % 3 and character != "\n":
                continue
            ms, last, _ = _request(server, uri, line, column)
            if not last["prompt"] or last["cached"]:
                continue
            requests += 1
            evaluated.append(last["promptTokens"] - last["reusedTokens"])
            if evaluated[-1] > 64:
                sys.stdout.write(
                    f"line {line} col {column}: evaluated {evaluated[-1]} of {last['promptTokens']}, {ms:.0f} ms\n"
                )
    evaluated.sort()
    sys.stdout.write(
        f"{requests} requests; evaluated tokens median {evaluated[len(evaluated) // 2]}, most {evaluated[-1]}, "
        f"total {sum(evaluated)}\n"
    )
    server.close()


def raw_calls(folder: Path, count: int, threads: int) -> None:
    """Follow-ups with a raw model call in this process between them (the benchmark's pattern): the lines carry a
    wall-clock time to match against scripts/gc_probe's logs of both processes."""
    from atlas_lsp.bench.completion import model_settings
    from atlas_lsp.model.service import load_backend

    raw = load_backend(model_settings(None, {"model": {"threads": threads}}))
    text = source_file(FILE_LINES)
    server, uri = _start(folder, text, max_tokens=8, model={"threads": threads})
    line, column = positions(text, 12)[-1]
    _request(server, uri, line, column)
    for version in range(2, count + 2):
        server.notify("textDocument/didChange", _change(uri, version, line, column, " "))
        column += 1
        started = time.time()
        _show(f"{started:.4f} follow-up", *_request(server, uri, line, column)[:2])
        raw._llm.create_completion("def add(a, b):\n    return", max_tokens=16, temperature=0.0)  # type: ignore[attr-defined]
    server.close()
    raw.close()


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        if argv[:1] == ["switch"]:
            switch(folder)
        elif argv[:1] == ["open"]:
            open_files(folder, int(argv[1]) if len(argv) > 1 else 5, float(argv[2]) if len(argv) > 2 else 1.0)
        elif argv[:1] == ["hits"]:
            hits(folder)
        elif argv[:1] == ["lines"]:
            new_lines(folder, int(argv[1]) if len(argv) > 1 else 10, argv[2:3] == ["default"])
        elif argv[:1] == ["type"]:
            typing(folder, int(argv[1]) if len(argv) > 1 else 12)
        elif argv[:1] == ["raw"]:
            raw_calls(folder, int(argv[1]) if len(argv) > 1 else 80, int(argv[2]) if len(argv) > 2 else 0)
        else:
            sys.stdout.write(__doc__ or "")
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
