"""`atlas-lsp bench completion`: the real server over LSP vs the raw llama-cpp call on the same prompts.

Measured in one run: cold requests at fixed positions of a real 2,000-line file (the pinned input below), the
raw `Llama.create_completion` on the prompts the server built (same token count, same KV-cache history), a
one-character follow-up on the same line (KV reuse), typing the suggestion (cache), a 50 requests/second
burst of typing, new lines written below a position (the prompt's start should stay), the first request where
the cursor rested after a code-action request (`completion.warmUp` on: its prompt's start evaluated ahead), and
accepting a suggestion (`completion.speculate` on: the next one computed while the user read it), with what a
keystroke that does not accept it waits for a running speculation. Every other measurement starts with no
speculation running (`_settle`), so that the raw call and the cold requests have the CPU to themselves.

The file is opened one second before the first request, as a user opens a file and then types: opening starts
one-time work (its lines tokenized into the piece cache, its names collected). A request sent at the moment a
second file opens is measured separately ("first request right after opening a file").

The input is pinned (`data/completion_input.txt`: this package's modules as they were at commit 078cbdc, concatenated,
4,000 lines): its first 2,000 lines are the measured file, the rest the other files a run opens. It was this package's
live source until then, so each change to the modules changed the positions and prompts, and runs of two commits
measured two inputs. `--file` measures a Python file of the user's instead (its first 2,000 lines).
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atlas_lsp.bench.lsp_client import RawLspProcess
from atlas_lsp.bench.report import header, median, percentile, summary_ms
from atlas_lsp.config import ModelSettings, Settings, merge_settings

PINNED_INPUT = Path(__file__).with_name("data") / "completion_input.txt"
PINNED_ORIGIN = "this package's modules at 078cbdc"
FILE_LINES = 2000
POSITIONS = 12
MORE_OPEN_FILES = 3  # opened at the end, for cold requests with other large files open
ACCEPTED = 4  # suggestions accepted (their text inserted, then a request at its end)
PROMPT_BUDGET = 2100  # context.budgetTokens for the measured server
LONG_PROMPT = 1500  # prompt tokens the follow-up target is stated for


class BenchInputError(Exception):
    """A file given to measure in that the benchmark cannot use (not Python, unreadable, no place to measure)."""


@dataclass
class CompletionBench:
    model: str = ""
    source: str = ""  # what the measured file is, for the report
    device: str = ""
    prompt_tokens: list[int] = field(default_factory=list)
    ours: list[float] = field(default_factory=list)  # client-measured request latency, cold positions
    raw: list[float] = field(default_factory=list)  # Llama.create_completion on the same prompt
    overhead: list[float] = field(default_factory=list)  # ours minus the server's own model time
    follow_up: list[float] = field(default_factory=list)
    follow_up_ratio: list[float] = field(default_factory=list)
    follow_up_cold_prompt: list[int] = field(default_factory=list)  # each follow-up's cold prompt, tokens
    evaluated_cold: list[int] = field(default_factory=list)
    evaluated_follow_up: list[int] = field(default_factory=list)
    cache_hits: list[float] = field(default_factory=list)
    generated: list[int] = field(default_factory=list)  # tokens generated, cold and follow-up requests
    steps: list[int] = field(default_factory=list)  # model steps they took (the first token comes with the prompt)
    follow_up_generated: list[int] = field(default_factory=list)  # the same, follow-ups alone
    cold_generated: list[int] = field(default_factory=list)  # the same, cold requests alone
    cold_modes: list[str] = field(default_factory=list)  # how each cold request decoded (the tuner's choice)
    follow_up_steps: list[int] = field(default_factory=list)
    modes: dict[str, int] = field(default_factory=dict)  # decode modes of the cold and follow-up generations
    phases: list[dict[str, float]] = field(default_factory=list)  # the server's own steps, cold positions (ms)
    model_phases: list[dict[str, float]] = field(default_factory=list)  # where the model time went, cold (ms)
    follow_up_model_phases: list[dict[str, float]] = field(default_factory=list)  # the same, follow-ups
    follow_up_overhead: list[float] = field(default_factory=list)  # follow-up latency minus its model time
    follow_up_phases: list[dict[str, float]] = field(default_factory=list)  # the server's own steps, follow-ups
    follow_up_protocol: list[float] = field(default_factory=list)  # follow-up latency minus the server's total
    new_line: list[float] = field(default_factory=list)  # a request at the end of each new line written
    new_line_evaluated: list[int] = field(default_factory=list)  # prompt tokens it evaluated
    new_line_prompt: list[int] = field(default_factory=list)  # of its prompt's tokens
    rested: float = float("nan")  # the first request where the cursor rested (its prompt's start warmed up)
    rested_evaluated: int = 0
    rested_prompt: int = 0
    rested_warm_up_ms: float = float("nan")  # how long that warm-up took, from the code-action request
    protocol: list[float] = field(default_factory=list)  # client latency minus the server's own total, cold
    first_after_open: float = float("nan")  # overhead of a request sent as a file opens (s)
    switch_back: float = float("nan")  # a request back in the file after one in another file (s)
    switch_back_evaluated: int = -1  # prompt tokens it evaluated
    switch_back_prompt: int = 0  # of its prompt's tokens
    switch_back_phases: dict[str, float] = field(default_factory=dict)  # its model time by part (ms)
    switch_back_overhead: float = float("nan")  # its latency minus the server's model time (s)
    switch_back_steps: dict[str, float] = field(default_factory=dict)  # its server overhead by step (ms)
    switch_back_protocol: float = float("nan")  # its latency minus the server's own total (s)
    open_files: int = 0  # other files open for the requests below
    open_files_overhead: list[float] = field(default_factory=list)  # their server overhead (s)
    open_files_context: list[float] = field(default_factory=list)  # their context step (ms)
    accepted: list[float] = field(default_factory=list)  # the request after accepting a suggestion (s)
    accepted_from_speculation: int = 0  # of those, answered by the speculation
    speculation_ms: list[float] = field(default_factory=list)  # from the answer to its speculation's end
    keystroke_wait: list[float] = field(default_factory=list)  # a request's wait for the model, a speculation running
    keystroke_overhead: list[float] = field(default_factory=list)  # those requests' latency minus their model time (s)
    follow_up_wait: list[float] = field(default_factory=list)  # the same for the follow-ups (none running: settled)
    burst_requests: int = 0
    burst_generations: int = 0
    burst_skipped: int = 0
    after_cancel_wait: list[float] = field(default_factory=list)  # see _after_a_cancel (s)
    after_cancel_latency: list[float] = field(default_factory=list)


def server_command(server_log: str | None = None) -> list[str]:
    """The measured server: quiet, or logging at debug level to ``server_log``."""
    logging = ["--log-level", "debug", "--log-file", server_log] if server_log else ["--log-level", "warning"]
    return [sys.executable, "-m", "atlas_lsp", *logging]


def source_file(lines: int = FILE_LINES, path: Path | None = None) -> str:
    """The first ``lines`` lines of ``path``, else of the pinned input (a real Python file: see the module's
    docstring). Raises BenchInputError for a file that cannot be measured."""
    if path is None:
        text = PINNED_INPUT.read_text(encoding="utf-8")
    else:
        if path.suffix != ".py":
            raise BenchInputError(f"{path}: the completion benchmark measures a Python file (.py)")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise BenchInputError(f"{path}: cannot be read as UTF-8 text ({error})") from error
    text = "\n".join(text.split("\n")[:lines])
    if path is not None and not positions(text, POSITIONS):
        raise BenchInputError(f"{path}: no indented code lines in the second half of its first {lines:,} lines")
    return text


def describe_source(text: str, path: Path | None) -> str:
    """The report's line on the measured text: the pinned input, or the user's file (by name: a path can be
    private)."""
    lines = text.count("\n") + 1
    if path is None:
        return f"the pinned input ({PINNED_ORIGIN}), its first {lines:,} lines"
    return f"{path.name}, its first {lines:,} lines (`--file`)"


def other_file_text() -> str:
    """The text of the other files a run opens: the pinned input after the measured file's lines."""
    return "\n".join(PINNED_INPUT.read_text(encoding="utf-8").split("\n")[FILE_LINES:])


def positions(text: str, count: int) -> list[tuple[int, int]]:
    """Ends of indented code lines spread evenly over the second half of the file (long prompts): lines indented
    twice (a method's body), or any indented line where those are fewer than ``count``."""
    rows = text.split("\n")
    code = [
        (number, row)
        for number, row in enumerate(rows)
        if number > len(rows) // 2 and row.strip() and not row.lstrip().startswith("#")
    ]
    candidates = [(number, len(row)) for number, row in code if row.startswith("        ")]
    if len(candidates) < count:
        candidates = [(number, len(row)) for number, row in code if row[0] in " \t"]
    step = max(1, len(candidates) // count)
    return candidates[::step][:count]


def _change(uri: str, version: int, line: int, column: int, text: str) -> dict[str, Any]:
    where = {"line": line, "character": column}
    return {
        "textDocument": {"uri": uri, "version": version},
        "contentChanges": [{"range": {"start": where, "end": where}, "text": text}],
    }


def _inline(server: RawLspProcess, uri: str, line: int, column: int) -> tuple[float, Any]:
    params = {
        "textDocument": {"uri": uri},
        "position": {"line": line, "character": column},
        "context": {"triggerKind": 2},
    }
    return server.timed_request("textDocument/inlineCompletion", params)


def _items(result: Any) -> list[dict[str, Any]]:
    if result is None:
        return []
    return result["items"] if isinstance(result, dict) else result


def model_settings(model: str | None, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> ModelSettings:
    """The in-process model's settings: ``model`` (a GGUF path) and the ``model`` section of ``overrides`` (a
    settings object, as `bench --set` gives it) on top of the defaults."""
    raw = {**({"path": model} if model else {}), **(overrides or {}).get("model", {})}
    settings, _ = merge_settings(Settings(), {"model": raw})
    return dataclasses.replace(settings.model, backend="llama-cpp")


def run(
    model: str | None = None,
    lines: int = FILE_LINES,
    count: int = POSITIONS,
    endpoint: str | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    server_log: str | None = None,
    file: Path | None = None,
) -> CompletionBench:
    """With ``endpoint``, the server uses that OpenAI-compatible endpoint and the raw baseline stays the in-process
    model (serve the same GGUF there): the ratio is then the HTTP path's whole cost over the raw call.
    ``overrides`` (a settings object) goes to the server on top of the benchmark's own settings; its ``model``
    section also to the raw baseline's model. ``server_log``: a file for the server's debug log. ``file``: a Python
    file to measure in instead of the pinned input (BenchInputError when it cannot be measured)."""
    from atlas_lsp.model.service import load_backend

    text = source_file(lines, file)
    bench = CompletionBench(source=describe_source(text, file))
    options = {
        "model": {"backend": "openai", "url": endpoint} if endpoint else ({"path": model} if model else {}),
        "completion": {"debounceMs": 0, "maxTokens": 24, "timeLimitMs": 60000, "warmUp": "on", "speculate": "on"},
        # prompts of 1,500 tokens or more (the follow-up target's size): the room kept for typing and the file's lines
        # starting on a step of 32 lines leave less than the budget (fewest in a run: 1,524 at 2,100, 1,499 at 2,000)
        "context": {"prefixLines": lines, "budgetTokens": PROMPT_BUDGET},
    }
    for section, values in (overrides or {}).items():
        options[section] = {**options.get(section, {}), **values}
    raw_backend = load_backend(model_settings(model, overrides))
    llm = raw_backend._llm  # type: ignore[attr-defined]
    bench.model, bench.device = raw_backend.info.name, raw_backend.info.device
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.py"
        path.write_text(text)
        uri = path.as_uri()
        server = RawLspProcess(server_command(server_log), stderr=subprocess.DEVNULL)
        capabilities = {"textDocument": {"inlineCompletion": {}}}
        server.initialize(options, Path(folder).as_uri(), capabilities)
        version = 1
        server.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "python", "version": version, "text": text}},
        )
        time.sleep(1.0)  # a user opens a file, then types (see the module's docstring)
        typed: dict[int, int] = {}  # characters typed at the end of each position's line
        for line, column in positions(text, count):
            _settle(server)
            seconds, _ = _inline(server, uri, line, column)
            last = server.request("workspace/executeCommand", {"command": "atlas.lastCompletion"})
            if not last["prompt"]:
                continue
            _settle(server)  # the raw call gets the CPU to itself
            bench.ours.append(seconds)
            bench.overhead.append(max(0.0, seconds - last["modelMs"] / 1000))
            bench.phases.append(last["phasesMs"])
            bench.model_phases.append(last.get("modelPhasesMs", {}))
            bench.protocol.append(max(0.0, seconds - last["totalMs"] / 1000))
            bench.prompt_tokens.append(last["promptTokens"])
            bench.evaluated_cold.append(last["evaluatedTokens"])
            bench.generated.append(last["generatedTokens"])
            bench.cold_generated.append(last["generatedTokens"])
            bench.steps.append(last["decodeSteps"] + 1)
            _count(bench.modes, last.get("decodeMode", ""))
            bench.cold_modes.append(last.get("decodeMode", ""))
            started = time.perf_counter()
            llm.create_completion(last["prompt"], max_tokens=max(1, last["generatedTokens"]), temperature=0.0)
            bench.raw.append(time.perf_counter() - started)
            # one character typed on the same line: only the tail of the prompt changes
            version += 1
            server.notify("textDocument/didChange", _change(uri, version, line, column, " "))
            typed[line] = 1
            follow_seconds, result = _inline(server, uri, line, column + 1)
            follow = server.request("workspace/executeCommand", {"command": "atlas.lastCompletion"})
            if not follow["cached"]:
                bench.follow_up.append(follow_seconds)
                bench.follow_up_ratio.append(follow_seconds / seconds)
                bench.follow_up_cold_prompt.append(last["promptTokens"])
                bench.follow_up_overhead.append(max(0.0, follow_seconds - follow["modelMs"] / 1000))
                bench.follow_up_model_phases.append(follow.get("modelPhasesMs", {}))
                bench.follow_up_phases.append(follow.get("phasesMs", {}))
                bench.follow_up_protocol.append(max(0.0, follow_seconds - follow["totalMs"] / 1000))
                bench.follow_up_wait.append(follow.get("phasesMs", {}).get("queue", 0.0))
                bench.evaluated_follow_up.append(follow["evaluatedTokens"])
                bench.generated.append(follow["generatedTokens"])
                bench.steps.append(follow["decodeSteps"] + 1)
                bench.follow_up_generated.append(follow["generatedTokens"])
                bench.follow_up_steps.append(follow["decodeSteps"] + 1)
                _count(bench.modes, follow.get("decodeMode", ""))
            # typing the first character of the suggestion on screen: answered from memory
            items = _items(result)
            suggestion = items[0]["insertText"] if items else ""
            if len(suggestion) > 1:
                version += 1
                server.notify("textDocument/didChange", _change(uri, version, line, column + 1, suggestion[0]))
                typed[line] = 2
                hit_seconds, _ = _inline(server, uri, line, column + 2)
                if server.request("workspace/executeCommand", {"command": "atlas.lastCompletion"})["cached"]:
                    bench.cache_hits.append(hit_seconds)
        line, column = positions(text, count)[-1]
        _settle(server)
        version = _switch_back(server, Path(folder), uri, (line, column + typed.get(line, 0)), version, bench)
        _settle(server)
        version = _burst(server, uri, text, bench, version)
        _settle(server)
        bench.first_after_open = _first_after_open(server, Path(folder), text)
        _settle(server)
        _after_a_cancel(server, Path(folder), text, bench)
        _settle(server)
        _with_files_open(server, Path(folder), uri, text, bench)
        version = _new_lines(server, uri, text, bench, version)
        _settle(server)
        _rested(server, uri, text, bench)
        version = _accepted(server, uri, text, bench, version)
        server.close()
    raw_backend.close()
    return bench


def _count(counts: dict[str, int], key: str) -> None:
    if key:
        counts[key] = counts.get(key, 0) + 1


def _switch_back(
    server: RawLspProcess, folder: Path, uri: str, end: tuple[int, int], version: int, bench: CompletionBench
) -> int:
    """A request in another file, then a character typed back at the end of the big file's last position: the
    big file's prompt was set aside (parked) by the other request and is brought back, not evaluated again."""
    other_text = other_file_text()
    other = folder / "other.py"
    other.write_text(other_text)
    server.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": other.as_uri(), "languageId": "python", "version": 1, "text": other_text}},
    )
    other_line, other_column = (positions(other_text, 1) or [(1, 8)])[0]
    _inline(server, other.as_uri(), other_line, other_column)
    line, column = end
    version += 1
    server.notify("textDocument/didChange", _change(uri, version, line, column, " "))
    seconds, _ = _inline(server, uri, line, column + 1)
    back = server.request("workspace/executeCommand", {"command": "atlas.lastCompletion"})
    if back["prompt"] and not back["cached"]:
        bench.switch_back = seconds
        bench.switch_back_evaluated = back["evaluatedTokens"]
        bench.switch_back_prompt = back["promptTokens"]
        bench.switch_back_phases = back.get("modelPhasesMs", {})
        bench.switch_back_overhead = max(0.0, seconds - back["modelMs"] / 1000)
        bench.switch_back_steps = back.get("phasesMs", {})
        bench.switch_back_protocol = max(0.0, seconds - back["totalMs"] / 1000)
    return version


def _first_after_open(server: RawLspProcess, folder: Path, text: str) -> float:
    """The overhead of a request sent right as a file opens (its one-time preparation not done yet)."""
    path = folder / "second.py"
    path.write_text(text)
    uri = path.as_uri()
    server.notify(
        "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}
    )
    line, column = positions(text, POSITIONS)[POSITIONS // 2]
    seconds, _ = _inline(server, uri, line, column)
    last = server.request("workspace/executeCommand", {"command": "atlas.lastCompletion"})
    return max(0.0, seconds - last["modelMs"] / 1000) if last["prompt"] else float("nan")


def _after_a_cancel(server: RawLspProcess, folder: Path, text: str, bench: CompletionBench) -> None:
    """A cold request cancelled half a second in (the user went to another file: VS Code cancels the request it
    made), then a request in that other file: how long it waits for the model (the cancelled request's prompt
    evaluation stops at its next step)."""
    path = folder / "cancelled.py"
    content = f"# cancelled.py: nothing of it is in the cache\n{text}"
    path.write_text(content)
    uri = path.as_uri()
    server.notify(
        "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": content}}
    )
    time.sleep(1.0)
    small = "def other(values):\n    total = 0\n    for value in values:\n        total += value\n    \n"
    for number, (line, column) in enumerate(positions(content, POSITIONS)[:3]):
        _settle(server)
        cold_id = f"cancelled{number}"
        params = {"textDocument": {"uri": uri}, "position": {"line": line, "character": column}}
        server.send(
            {
                "id": cold_id,
                "method": "textDocument/inlineCompletion",
                "params": {**params, "context": {"triggerKind": 2}},
            }
        )
        time.sleep(0.5)
        server.notify("$/cancelRequest", {"id": cold_id})
        other = folder / f"elsewhere{number}.py"
        other.write_text(small)
        server.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": other.as_uri(), "languageId": "python", "version": 1, "text": small}},
        )
        seconds, _ = _inline(server, other.as_uri(), 4, 4)
        last = server.request("workspace/executeCommand", {"command": "atlas.lastCompletion"})
        if not any(message.get("id") == cold_id for message in server.received):  # (its answer: cancelled)
            server.response(cold_id, 120)
        if last["prompt"] and not last["cached"]:
            bench.after_cancel_wait.append(last.get("phasesMs", {}).get("queue", 0.0) / 1000)
            bench.after_cancel_latency.append(seconds)


def _with_files_open(server: RawLspProcess, folder: Path, uri: str, text: str, bench: CompletionBench) -> None:
    """Cold requests in the big file with more large files open, as an editor often has: each open file is a
    candidate for the context (its skeleton, its similarity to the cursor's window)."""
    other_text = other_file_text()
    for number in range(MORE_OPEN_FILES):
        path = folder / f"open{number}.py"
        content = f"{other_text}\n# copy {number}\n"
        path.write_text(content)
        server.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": path.as_uri(), "languageId": "python", "version": 1, "text": content}},
        )
    time.sleep(1.0)  # opened, then typed in the big file
    bench.open_files = len(list(folder.glob("*.py"))) - 1
    for line, column in _unused_positions(text)[:3]:
        _settle(server)
        seconds, _ = _inline(server, uri, line, column)
        last = server.request("workspace/executeCommand", {"command": "atlas.lastCompletion"})
        if last["prompt"] and not last["cached"]:
            bench.open_files_overhead.append(max(0.0, seconds - last["modelMs"] / 1000))
            bench.open_files_context.append(last["phasesMs"].get("context", 0.0))


def _unused_positions(text: str) -> list[tuple[int, int]]:
    """Positions whose lines the cold requests left as they were."""
    used = set(positions(text, POSITIONS))
    return [place for place in positions(text, 3 * POSITIONS) if place not in used]


NEW_LINES = (  # statements the model cannot foresee from the ones before (a foreseen one is a cache hit)
    "total = 0",
    "names = []",
    "seen = set()",
    "limit = 10",
    "label = 'x'",
    "ready = False",
    "count = len(rows)",
    "first = rows[0]",
)


def _new_lines(server: RawLspProcess, uri: str, text: str, bench: CompletionBench, version: int) -> int:
    """Enter at the end of a line, a statement, a request at its end, for each of NEW_LINES (other large files
    open): the prompt's start should stay, so that only the new text is evaluated (`context.stepLines`)."""
    line, column = _unused_positions(text)[3]
    row = text.split("\n")[line]
    indent = row[: len(row) - len(row.lstrip())]
    _inline(server, uri, line, column)  # the cursor comes here: a cold request
    for typed in NEW_LINES:
        statement = indent + typed
        version += 1
        server.notify("textDocument/didChange", _change(uri, version, line, column, "\n" + statement))
        line, column = line + 1, len(statement)
        seconds, _ = _inline(server, uri, line, column)
        last = server.request("workspace/executeCommand", {"command": "atlas.lastCompletion"})
        if last["prompt"] and not last["cached"]:
            bench.new_line.append(seconds)
            bench.new_line_evaluated.append(last["evaluatedTokens"])
            bench.new_line_prompt.append(last["promptTokens"])
    return version


def _rested(server: RawLspProcess, uri: str, text: str, bench: CompletionBench) -> None:
    """The cursor comes to a new place and rests there: the editor asks for code actions, the server warms up the
    prompt's start (`completion.warmUp`), and the first request there evaluates only the rest."""
    line, column = _unused_positions(text)[5]
    before = server.request("workspace/executeCommand", {"command": "atlas.status"})["completions"]["warmUps"]
    where = {"line": line, "character": column}
    started = time.perf_counter()
    server.request(
        "textDocument/codeAction",
        {"textDocument": {"uri": uri}, "range": {"start": where, "end": where}, "context": {"diagnostics": []}},
    )
    deadline = started + 120
    while time.perf_counter() < deadline:
        counters = server.request("workspace/executeCommand", {"command": "atlas.status"})["completions"]
        if counters["warmUps"] > before:
            bench.rested_warm_up_ms = (time.perf_counter() - started) * 1000
            break
        time.sleep(0.01)
    else:
        return  # no warm-up (an endpoint): no row to fill
    seconds, _ = _inline(server, uri, line, column)
    last = server.request("workspace/executeCommand", {"command": "atlas.lastCompletion"})
    if last["prompt"] and not last["cached"]:
        bench.rested = seconds
        bench.rested_evaluated = last["evaluatedTokens"]
        bench.rested_prompt = last["promptTokens"]


def _status(server: RawLspProcess) -> dict[str, Any]:
    completions: dict[str, Any] = server.request("workspace/executeCommand", {"command": "atlas.status"})["completions"]
    return completions


def _settle(server: RawLspProcess, timeout: float = 120.0) -> float:
    """Wait until no speculation is scheduled or running (`completion.speculate`); the seconds it took."""
    started = time.perf_counter()
    while _status(server).get("speculating") and time.perf_counter() - started < timeout:
        time.sleep(0.01)
    return time.perf_counter() - started


def _suggestion(result: Any) -> str:
    items = _items(result)
    text = items[0].get("insertText", "") if items else ""
    return text if isinstance(text, str) else ""


def _end_of(line: int, column: int, inserted: str) -> tuple[int, int]:
    rows = inserted.split("\n")
    return line + len(rows) - 1, (column if len(rows) == 1 else 0) + len(rows[-1])


def _accepted(server: RawLspProcess, uri: str, text: str, bench: CompletionBench, version: int) -> int:
    """At fresh positions: a cold request; 0.1 s later (the user reads; its speculation runs) a character that
    is not the suggestion's typed, and a request (what it waits for the model is what the speculation cost it);
    once that request's own speculation has ended, its suggestion accepted and a request at its end (answered from
    memory when the speculation had it). Each position's edits are undone after it. Stops at ACCEPTED accepted."""
    for line, column in _unused_positions(text)[6 : 6 + 3 * ACCEPTED]:
        if len(bench.accepted) >= ACCEPTED:
            break
        _settle(server)
        _, result = _inline(server, uri, line, column)
        shown = _suggestion(result)
        if not shown:
            continue
        time.sleep(0.1)
        speculating = bool(_status(server).get("speculating"))
        typed = "#" if shown.startswith(" ") else " "
        version += 1
        server.notify("textDocument/didChange", _change(uri, version, line, column, typed))
        seconds, result = _inline(server, uri, line, column + 1)
        last = server.request("workspace/executeCommand", {"command": "atlas.lastCompletion"})
        if speculating and last["prompt"] and not last["cached"]:
            bench.keystroke_wait.append(last.get("phasesMs", {}).get("queue", 0.0))
            bench.keystroke_overhead.append(max(0.0, seconds - last["modelMs"] / 1000))
        inserted = typed
        following = _suggestion(result)
        if following:
            bench.speculation_ms.append(_settle(server) * 1000)
            version += 1
            server.notify("textDocument/didChange", _change(uri, version, line, column + 1, following))
            hits = _status(server)["speculationHits"]
            seconds, _ = _inline(server, uri, *_end_of(line, column + 1, following))
            bench.accepted.append(seconds)
            bench.accepted_from_speculation += _status(server)["speculationHits"] - hits
            inserted += following
        version += 1
        end_line, end_column = _end_of(line, column, inserted)
        undo = {"start": {"line": line, "character": column}, "end": {"line": end_line, "character": end_column}}
        server.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"range": undo, "text": ""}]},
        )
    return version


def _burst(server: RawLspProcess, uri: str, text: str, bench: CompletionBench, version: int) -> int:
    """50 requests/second of typing (a keystroke and a request every 20 ms, as a client without debounce)."""
    before = server.request("workspace/executeCommand", {"command": "atlas.status"})["completions"]
    rows = text.split("\n")
    line = len(rows) - 1
    column = len(rows[-1])
    sent: list[str] = []
    for number in range(50):
        version += 1
        server.notify("textDocument/didChange", _change(uri, version, line, column, "x"))
        column += 1
        request_id = f"burst{number}"
        params = {
            "textDocument": {"uri": uri},
            "position": {"line": line, "character": column},
            "context": {"triggerKind": 2},
        }
        server.send({"id": request_id, "method": "textDocument/inlineCompletion", "params": params})
        sent.append(request_id)
        time.sleep(0.02)
    for request_id in sent:
        server.response(request_id, 120)
    after = server.request("workspace/executeCommand", {"command": "atlas.status"})["completions"]
    bench.burst_requests = len(sent)
    bench.burst_generations = after["generations"] - before["generations"]
    bench.burst_skipped = after["generationsSkipped"] - before["generationsSkipped"]
    return version


OVERHEAD_PHASES = ("cursor", "policy", "cache", "context", "queue", "prompt", "return", "clean")


def _phase_summary(result: CompletionBench) -> str:
    """Median of each server step outside the model call, plus the protocol (JSON-RPC, pygls, the handler)."""
    steps = [
        f"{phase} {median([p.get(phase, 0.0) for p in result.phases]):.2f}"
        for phase in OVERHEAD_PHASES
        if result.phases
    ]
    steps.append(f"protocol {median([s * 1000 for s in result.protocol]) if result.protocol else float('nan'):.2f}")
    return ", ".join(steps)


MODEL_PHASES = ("tokenize", "arrange", "first token", "decode")


def _model_summary(phases: list[dict[str, float]]) -> str:
    """Median of each part of the model's time (in-process backend): tokenizing, parking or restoring a prompt,
    the prompt's evaluation up to the first token, and the rest of the decoding."""
    if not any(phases):
        return "not reported"
    return ", ".join(f"{phase} {median([p.get(phase, 0.0) for p in phases]):.2f}" for phase in MODEL_PHASES)


def _highest_ratio_row(result: CompletionBench) -> str:
    """Where the cold request with the highest ours / raw ratio spent its time (what the ratio's p95 is made of)."""
    pairs = [(ours / raw, index) for index, (ours, raw) in enumerate(zip(result.ours, result.raw, strict=False)) if raw]
    if not pairs:
        return "| … the request with the highest ratio | none measured | |"
    _, at = max(pairs)
    phases = result.model_phases[at] if at < len(result.model_phases) else {}
    generated = result.cold_generated[at] if at < len(result.cold_generated) else 0
    mode = (result.cold_modes[at] if at < len(result.cold_modes) else "") or "not reported"
    overhead = result.overhead[at] * 1000 if at < len(result.overhead) else float("nan")
    return (
        f"| … the request with the highest ratio: ours / raw ms; its server overhead ms; tokens generated, their "
        f"decode mode; its model time, ms: {_model_summary([phases])} | {result.ours[at] * 1000:.2f} / "
        f"{result.raw[at] * 1000:.2f}; {overhead:.2f}; {generated}, {mode} | |"
    )


def _slowest_row(what: str, overheads: list[float], phases: list[dict[str, float]], protocol: list[float]) -> str:
    """Where the request with the most server overhead spent it, step by step (what a p95 of a few requests is)."""
    if not overheads:
        return f"| … the {what} with the most server overhead | none measured | |"
    at = max(range(len(overheads)), key=overheads.__getitem__)
    steps = _overhead_steps(phases[at] if at < len(phases) else {}, protocol[at] if at < len(protocol) else None)
    return f"| … the {what} with the most server overhead, ms: {steps} | {overheads[at] * 1000:.2f} | |"


def _overhead_steps(phases: dict[str, float], protocol: float | None) -> str:
    """One request's server overhead by step (ms), and its protocol time (seconds; None: not measured)."""
    steps = [f"{phase} {phases.get(phase, 0.0):.2f}" for phase in OVERHEAD_PHASES]
    if protocol is not None and not math.isnan(protocol):
        steps.append(f"protocol {protocol * 1000:.2f}")
    return ", ".join(steps)


def _first_token_ratio(result: CompletionBench) -> str:
    """What KV reuse controls, without the decoding that a follow-up repeats in full."""
    cold = [p["first token"] for p in result.model_phases if "first token" in p]
    follow = [p["first token"] for p in result.follow_up_model_phases if "first token" in p]
    if not cold or not follow or median(cold) <= 0:
        return "not reported"
    return f"{median(follow) / median(cold):.2f}"


def _rested_rows(result: CompletionBench) -> list[str]:
    if math.isnan(result.rested):
        return ["| first request where the cursor rested: no warm-up (`completion.warmUp`) | | |"]
    return [
        f"| first request where the cursor rested (its prompt's start warmed up after the editor's code-action "
        f"request, in {result.rested_warm_up_ms:.0f} ms), ms; its latency / the cold requests' median | "
        f"{result.rested * 1000:.2f}; {result.rested / median(result.ours):.2f} | |",
        f"| … prompt tokens it evaluated, of its prompt's | {result.rested_evaluated} of {result.rested_prompt} | |",
    ]


def _new_line_rows(result: CompletionBench) -> list[str]:
    if not result.new_line:
        return ["| a new line written: no request reached the model | | |"]
    return [
        f"| a new line written (Enter, a statement, a request at its end; {len(result.new_line)} lines), p50 / p95 "
        f"ms; its latency / the cold requests' median | {summary_ms(result.new_line)}; "
        f"{median(result.new_line) / median(result.ours):.2f} | |",
        f"| … prompt tokens evaluated, median / most, of its prompt's (median) | "
        f"{median([float(t) for t in result.new_line_evaluated]):.0f} / {max(result.new_line_evaluated)}, of "
        f"{median([float(t) for t in result.new_line_prompt]):.0f} | |",
    ]


def _speculation_rows(result: CompletionBench) -> list[str]:
    if not result.accepted:
        return ["| after accepting a suggestion: none accepted (no suggestion at the positions tried) | | |"]
    follow = median(result.follow_up) if result.follow_up else float("nan")
    waits = result.keystroke_wait
    return [
        f"| after accepting a suggestion (its text inserted, a request at its end; {len(result.accepted)} accepted), "
        f"p50 / p95 ms; answered from its speculation (`completion.speculate`) | {summary_ms(result.accepted)}; "
        f"{result.accepted_from_speculation} of {len(result.accepted)} | |",
        f"| … its latency / the one-character follow-up's median; the speculation, from the answer to its end, "
        f"median ms | {median(result.accepted) / follow:.3f}; {median(result.speculation_ms):.0f} | |",
        f"| a keystroke that does not accept the suggestion while its speculation runs ({len(waits)} requests): "
        f"the request's wait for the model, median / most ms (the follow-ups, none running: median); its server "
        f"overhead, median / most ms | "
        + (f"{median(waits):.2f} / {max(waits):.2f}" if waits else "none measured")
        + f" ({median(result.follow_up_wait) if result.follow_up_wait else float('nan'):.2f}); "
        + (
            f"{median(result.keystroke_overhead) * 1000:.2f} / {max(result.keystroke_overhead) * 1000:.2f}"
            if result.keystroke_overhead
            else "none measured"
        )
        + " | |",
    ]


def markdown(result: CompletionBench, endpoint: str | None = None) -> str:
    ratio = [ours / raw for ours, raw in zip(result.ours, result.raw, strict=False) if raw > 0]
    long_ratios = [
        ratio
        for ratio, tokens in zip(result.follow_up_ratio, result.follow_up_cold_prompt, strict=True)
        if tokens >= LONG_PROMPT
    ]
    follow_p50 = median(long_ratios) if long_ratios else float("nan")
    rows = [
        "| measure | result | target |",
        "|---|---|---|",
        f"| prompt tokens at the cold positions, median / fewest | "
        f"{median([float(t) for t in result.prompt_tokens]):.0f} / {min(result.prompt_tokens, default=0)} | "
        f"≥ {LONG_PROMPT:,} for the follow-up target |",
        f"| cold request through the server, p50 / p95 ms | {summary_ms(result.ours)} | |",
        f"| raw `Llama.create_completion` on the same prompts, p50 / p95 ms | {summary_ms(result.raw)} | |",
        f"| overhead ratio ours / raw, p50 / p95 | {median(ratio):.2f} / {percentile(ratio, 0.95):.2f} | "
        "≤ 1.10 on the GPU |",
        _highest_ratio_row(result),
        f"| generated tokens per model step (ours checks prompt-lookup guesses; the raw call takes 1) | "
        f"{sum(result.generated) / max(1, sum(result.steps)):.2f} | |",
        f"| … in the follow-ups alone (guesses also come from the cold output): generated tokens per model step | "
        f"{sum(result.follow_up_generated) / max(1, sum(result.follow_up_steps)):.2f} | |",
        f"| tokens generated, median: cold / follow-up | {median([float(t) for t in result.cold_generated]):.0f} / "
        f"{median([float(t) for t in result.follow_up_generated]):.0f} | |",
        "| … generations by decode mode (plain, guess, fixed: the tuner's choice), cold and follow-up | "
        + (", ".join(f"{mode} {runs}" for mode, runs in sorted(result.modes.items())) or "none")
        + " | |",
        f"| server overhead (request latency minus the server's model time), p50 / p95 ms | "
        f"{summary_ms(result.overhead)} | p95 ≤ 5 ms |",
        f"| … where it goes, median ms: {_phase_summary(result)} | | |",
        _slowest_row("cold request", result.overhead, result.phases, result.protocol),
        f"| … with {result.open_files} other files of about {FILE_LINES:,} lines open "
        f"({len(result.open_files_overhead)} requests), p50 / p95 ms; their context step, median ms | "
        f"{summary_ms(result.open_files_overhead)}; "
        f"{median(result.open_files_context):.2f} | p95 ≤ 5 ms |",
        f"| … first request right after opening a file (its lines not yet tokenized), ms | "
        f"{result.first_after_open * 1000:.2f} | |",
        f"| a request in another file right after a cold request was cancelled half a second in "
        f"({len(result.after_cancel_wait)}): its wait for the model, median ms; its latency / the cold requests' "
        f"median | {median(result.after_cancel_wait) * 1000:.0f}; "
        f"{median(result.after_cancel_latency) / median(result.ours):.2f} | |",
        f"| … the model's time, median ms, cold: {_model_summary(result.model_phases)} | | |",
        f"| one-character follow-up on the same line, p50 / p95 ms | {summary_ms(result.follow_up)} | |",
        f"| … its server overhead, p50 / p95 ms; the model's time, median ms: "
        f"{_model_summary(result.follow_up_model_phases)} | {summary_ms(result.follow_up_overhead)} | |",
        _slowest_row("follow-up", result.follow_up_overhead, result.follow_up_phases, result.follow_up_protocol),
        f"| back to the file after a request in another (its prompt set aside and brought back), ms; prompt tokens "
        f"evaluated of its {result.switch_back_prompt} | {result.switch_back * 1000:.2f}; "
        f"{result.switch_back_evaluated} | |",
        f"| … its latency / the cold requests' median; its server overhead, ms; its model time, ms: "
        f"{_model_summary([result.switch_back_phases])} | {result.switch_back / median(result.ours):.2f}; "
        f"{result.switch_back_overhead * 1000:.2f} | |",
        f"| … its server overhead by step, ms: "
        f"{_overhead_steps(result.switch_back_steps, result.switch_back_protocol)} | | |",
        *_new_line_rows(result),
        *_rested_rows(result),
        *_speculation_rows(result),
        f"| follow-up / cold latency, median (where the cold prompt had ≥ {LONG_PROMPT:,} tokens: "
        f"{len(long_ratios)} of {len(result.follow_up_ratio)}) | {follow_p50:.2f} | ≤ 0.30 |",
        f"| … the same for the time to the first token (prompt evaluation and first sample), median / median | "
        f"{_first_token_ratio(result)} | |",
        f"| prompt tokens evaluated: cold / follow-up (median) | "
        f"{median([float(t) for t in result.evaluated_cold]):.0f} / "
        f"{median([float(t) for t in result.evaluated_follow_up]):.0f} | |",
        f"| typing as suggested (cache hit), p50 / p95 ms ({len(result.cache_hits)} hits) | "
        f"{summary_ms(result.cache_hits)} | ≤ 2 ms |",
        f"| 50 requests/s of typing: requests / generations that reached the model / superseded before it | "
        f"{result.burst_requests} / {result.burst_generations} / {result.burst_skipped} | one generation at a time |",
    ]
    title = "Inline completion (`atlas-lsp bench completion`)"
    if endpoint:
        # the endpoint does not report prompt tokens reused or evaluated (llama-cpp-python's server sends no usage
        # while streaming): those rows would hold estimates, so they are left out
        rows = [
            row.replace("raw `Llama.create_completion`", "raw in-process `Llama.create_completion`").replace(
                "overhead ratio ours / raw", "ratio through the endpoint / raw in-process"
            )
            for row in rows
            if "tokens" not in row and "decode mode" not in row
        ]
        title = "Inline completion through an OpenAI-compatible endpoint (`atlas-lsp bench completion --endpoint`)"
    return header(title, f"{result.model}, {result.device}", result.source) + "\n" + "\n".join(rows) + "\n"
