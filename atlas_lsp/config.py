"""Typed, fully-defaulted settings for the server.

Settings arrive as JSON objects from the editor (``initializationOptions``, ``workspace/didChangeConfiguration``,
``workspace/configuration``). Keys may be camelCase (as editors send them) or snake_case. Every field has a
default and a docstring-like ``doc``; a value of the wrong type or out of range is reported by name and the
default (or the previous value) is kept. Unknown keys and sections are reported by name too, and ignored.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_type_hints

import cattrs

LogLevel = Literal["debug", "info", "warning", "error"] | None


def _setting(default: Any, doc: str, *, minimum: float | None = None, maximum: float | None = None) -> Any:
    return field(default=default, metadata={"doc": doc, "min": minimum, "max": maximum})


@dataclass(frozen=True)
class ModelSettings:
    """Which model to load and how."""

    backend: Literal["llama-cpp", "openai"] = _setting(
        "llama-cpp",
        "llama-cpp: load the model in this process; openai: use an OpenAI-compatible server at `url` "
        "(llama-server, vLLM, Ollama, llama-cpp-python's server) and load nothing locally.",
    )
    path: str | None = _setting(None, "Path to a GGUF file. Overrides repo/file and the bundled model.")
    repo: str | None = _setting(None, "Hugging Face repository to download a GGUF from (with `file`).")
    file: str | None = _setting(None, "File name inside `repo`, e.g. qwen2.5-coder-1.5b-instruct-q4_k_m.gguf.")
    context_size: int = _setting(
        4096, "Context window in tokens (capped by the model's training context).", minimum=256
    )
    gpu_layers: int = _setting(
        -1, "Layers offloaded to the GPU: -1 all (when the build supports it), 0 CPU only.", minimum=-1
    )
    threads: int = _setting(
        0,
        "CPU threads for generation; 0 picks one per physical core the server may run on, within its CPU quota.",
        minimum=0,
    )
    weight_repacking: bool = _setting(
        False,
        "Let llama.cpp repack weights into CPU 'extra buffer types'. Off by default: with it, llama-cpp-python "
        "0.3.36 crashes in llama_decode on AVX-512/AMX CPUs.",
    )
    flash_attention: Literal["auto", "on", "off"] = _setting(
        "auto",
        "llama.cpp's flash attention. auto: on when the model's layers are on a GPU (llama.cpp's own default there), "
        "off on a CPU, where it made decoding slower (follow-ups 1.10-1.22x the time, prompts 0.88-0.96x in three "
        "`bench decode` runs, SmolLM2-135M, 1,500-token prompts).",
    )
    draft_tokens: int = _setting(
        8,
        "Most tokens guessed ahead from earlier text and checked in one model step (prompt-lookup decoding). "
        "The output is the model's own; the server measures what a step costs and how often guesses are right, and "
        "guesses only when it pays. 0 turns it off.",
        minimum=0,
        maximum=32,
    )
    parked_prompts: int = _setting(
        3,
        "Prompts set aside from the model's KV cache (the in-process backend), so that going back to another"
        " file, or completing after a solve job, reuses its prompt instead of evaluating it again. Their cache"
        " states are copied to memory while the model is idle between requests (1 GiB at most in all; the least"
        " recently used go first; with the model on a GPU, into its pinned host memory, up to 512 MiB). 0 turns it"
        " off.",
        minimum=0,
        maximum=8,
    )
    download_timeout_s: float = _setting(
        10.0, "Seconds before a model download gives up on an unreachable hub.", minimum=1
    )
    url: str = _setting(
        "http://127.0.0.1:8080", "backend openai: the server's base URL (with or without the trailing /v1)."
    )
    name: str | None = _setting(None, "backend openai: the model to request; unset takes the first the server lists.")
    api_key_env: str = _setting(
        "ATLAS_LSP_API_KEY",
        "backend openai: the environment variable holding the API key (the key itself is never a setting).",
    )
    fim_tokens: list[str] | None = _setting(  # noqa: RUF009
        None,
        "backend openai: FIM markers [prefix, suffix, middle] (optionally [.., repo_name, file_sep]); unset asks the "
        "server's tokenizer which known FIM markers its vocabulary has.",
    )
    request_timeout_s: float = _setting(
        30.0, "backend openai: seconds without an answer before a request fails.", minimum=1
    )
    retries: int = _setting(
        2, "backend openai: retries, with backoff, of a request that could not reach the server.", minimum=0, maximum=10
    )
    max_parallel: int = _setting(
        4, "backend openai: solve candidates requested at once (the server batches them).", minimum=1, maximum=64
    )


@dataclass(frozen=True)
class CompletionSettings:
    """Inline (ghost text) completion."""

    enabled: bool = _setting(True, "Offer inline completions.")
    max_tokens: int = _setting(64, "Most tokens generated for one completion.", minimum=1, maximum=1024)
    max_lines: int = _setting(8, "Most lines in one multi-line completion.", minimum=1, maximum=200)
    temperature: float = _setting(0.0, "Sampling temperature; 0 is greedy.", minimum=0.0, maximum=2.0)
    top_p: float = _setting(0.95, "Nucleus sampling mass when temperature > 0.", minimum=0.0, maximum=1.0)
    debounce_ms: int = _setting(
        60, "Wait this long for a newer request before asking the model; 0 disables.", minimum=0, maximum=2000
    )
    prompt_style: Literal["auto", "fim", "prefix", "chat"] = _setting(
        "auto",
        "auto: FIM when the model's vocabulary has FIM tokens, else prefix continuation; "
        "chat: the model's chat template (for instruct-only models).",
    )
    time_limit_ms: int = _setting(4000, "Per-request time cap; what is generated by then is returned.", minimum=50)
    warm_up: Literal["auto", "on", "off"] = _setting(
        "auto",
        "Where the cursor rests (the editor asked for code actions there, or the user just edited), evaluate the "
        "prompt's start while the model is idle, so that the first suggestion there evaluates only its last line. "
        "auto: when the model runs on a GPU; on: on the CPU too (it costs seconds of CPU at each new place).",
    )
    speculate: Literal["auto", "on", "off"] = _setting(
        "auto",
        "Once a suggestion is shown, compute the one that follows it while the model is idle, so that after "
        "accepting it the next suggestion comes from memory. It makes way for any request that needs the model (a "
        "keystroke waits for part of a model step with the in-process model on a CPU, up to one step elsewhere). "
        "auto: the in-process model on a GPU, or on a CPU where a one-token model step takes at most 30 ms "
        "(`stepMs` in atlas.status); on: also through an endpoint (a shared server's time).",
    )


@dataclass(frozen=True)
class ContextSettings:
    """What the prompt shows the model."""

    prefix_lines: int = _setting(200, "Most lines of the current file before the cursor.", minimum=1)
    suffix_lines: int = _setting(40, "Most lines of the current file after the cursor.", minimum=0)
    step_lines: int = _setting(
        32,
        "The file's lines in the prompt start on a multiple of this many lines, and the other files' context is "
        "chosen once per block of this many lines, so that a new line re-evaluates only the new text of the prompt "
        "(the model's cache keeps the rest); 1 follows every line (whole prompt evaluated again on each new line).",
        minimum=1,
        maximum=1024,
    )
    budget_tokens: int = _setting(
        0, "Prompt token budget; 0 derives it from the model's context size minus the generation.", minimum=0
    )


@dataclass(frozen=True)
class SolveSettings:
    """The 'solve this function' loop."""

    candidates: int = _setting(4, "Candidates written per round.", minimum=1, maximum=16)
    repair_rounds: int = _setting(2, "Repair rounds after the first when no candidate passes.", minimum=0, maximum=8)
    max_tokens: int = _setting(512, "Most tokens per candidate.", minimum=16)
    thinking_budget: int = _setting(
        1024,
        "Reasoning models (a <think> section in the chat template): most thinking tokens per candidate before the "
        "section is closed and the code is asked for (budget forcing); 0 lets them think within maxTokens.",
        minimum=0,
    )
    test_timeout_s: float = _setting(60.0, "Wall-clock limit for one candidate's test run.", minimum=1)
    python: str | None = _setting(
        None,
        "Python interpreter that runs the project's tests (its virtualenv's; a relative path such as "
        ".venv/bin/python is the project's); unset: the project's own environment (.venv, venv or env at its root, "
        "else the one Poetry, Pipenv or Hatch keeps for it, else the pyenv version its .python-version or the "
        "conda environment its environment.yml names), "
        "else the one active when the server started (VIRTUAL_ENV, CONDA_PREFIX), else the one atlas-lsp runs on; "
        "one without pytest runs the tests with atlas-lsp's pytest.",
    )
    pass_env: list[str] | None = _setting(  # noqa: RUF009
        None,
        "Variables of the server's environment that the test runs see too (names, or prefixes ending in *: "
        '["DATABASE_URL", "MYAPP_*"]); the runs start from a scrubbed environment. They reach model-written code.',
    )
    env: dict[str, str] | None = _setting(  # noqa: RUF009
        None,
        'Variables set for the test runs: {"DJANGO_SETTINGS_MODULE": "app.settings.test"}. Those a runner sets '
        "itself (PATH, HOME, TMPDIR, its tool's own) keep the runner's values.",
    )
    copy_project: bool = _setting(
        False,
        "Give each candidate a copy of the project instead of an overlay over it (used where the system allows "
        "one): for a project on a filesystem an overlay handles badly; copies leave out .git, virtualenvs and "
        "node_modules, and a project over 20,000 files or 1 GB is refused.",
    )


@dataclass(frozen=True)
class LoggingSettings:
    """Server logging (always to stderr or the log file, never stdout)."""

    level: LogLevel = _setting(  # noqa: RUF009
        None, "Log level: debug, info, warning or error; unset keeps the command line's --log-level."
    )


@dataclass(frozen=True)
class Settings:
    """The whole settings tree; editors mirror it as `atlas.<section>.<key>`."""

    model: ModelSettings = field(default_factory=ModelSettings)
    completion: CompletionSettings = field(default_factory=CompletionSettings)
    context: ContextSettings = field(default_factory=ContextSettings)
    solve: SolveSettings = field(default_factory=SolveSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)


@dataclass(frozen=True)
class SettingsProblem:
    """A bad value: its dotted camelCase key and what is wrong with it."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"atlas.{self.key}: {self.message}"


def _strict_converter() -> cattrs.Converter:
    """A converter that refuses lossy coercions ("5" -> 5, "false" -> True, 1.5 -> 1)."""
    converter = cattrs.Converter()

    def exact(kind: type, accepted: tuple[type, ...]) -> None:
        def hook(value: Any, _: Any) -> Any:
            if isinstance(value, bool) and kind is not bool:
                raise TypeError(f"expected {kind.__name__}, got a boolean")
            if not isinstance(value, accepted):
                raise TypeError(f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
            return kind(value)

        converter.register_structure_hook(kind, hook)

    exact(int, (int,))
    exact(float, (int, float))
    exact(bool, (bool,))
    exact(str, (str,))

    def string_list(value: Any, _: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise TypeError(f"expected a list of strings, got {type(value).__name__} {value!r}")
        return list(value)

    converter.register_structure_hook_func(lambda kind: kind == list[str], string_list)
    return converter


_CONVERTER = _strict_converter()


def snake_to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def camel_to_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _describe_error(error: Exception) -> str:
    if isinstance(error, cattrs.BaseValidationError):
        inner = error.exceptions[0] if error.exceptions else error
        return str(inner)
    return str(error)


# sections of the `atlas` settings that are the editor's own, not the server's: the VS Code extension's
# `atlas.server.*` (how it starts the server) arrive with the rest of the `atlas` section
CLIENT_SECTIONS = frozenset({"server"})


def _did_you_mean(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _merge_section(current: Any, raw: Mapping[str, Any], section: str, problems: list[SettingsProblem]) -> Any:
    hints = get_type_hints(type(current))
    updates: dict[str, Any] = {}
    for key, value in raw.items():
        name = camel_to_snake(key)
        spec = next((f for f in dataclasses.fields(current) if f.name == name), None)
        if spec is None:  # a typo, or a setting of another version: named, so that it is not silently without effect
            known = [snake_to_camel(f.name) for f in dataclasses.fields(current)]
            problems.append(SettingsProblem(f"{section}.{key}", f"unknown setting{_did_you_mean(key, known)}; ignored"))
            continue
        dotted = f"{section}.{snake_to_camel(name)}"
        default = spec.default
        try:
            structured = _CONVERTER.structure(value, hints[name])
        except Exception as error:  # noqa: BLE001 - any conversion failure is a user error
            problems.append(SettingsProblem(dotted, f"{_describe_error(error)}; using {default!r}"))
            updates[name] = default
            continue
        low, high = spec.metadata.get("min"), spec.metadata.get("max")
        if isinstance(structured, int | float) and not isinstance(structured, bool):
            if (low is not None and structured < low) or (high is not None and structured > high):
                bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
                problems.append(SettingsProblem(dotted, f"{structured!r} must be {bounds}; using {default!r}"))
                updates[name] = default
                continue
        updates[name] = structured
    return dataclasses.replace(current, **updates)


def merge_settings(current: Settings, raw: Any) -> tuple[Settings, list[SettingsProblem]]:
    """Apply an editor's settings object on top of ``current``.

    ``raw`` is the ``atlas`` object (``{"model": {...}, "completion": {...}}``); an object that wraps it as
    ``{"atlas": {...}}`` is unwrapped. Sections and keys that are absent keep their current values.
    """
    problems: list[SettingsProblem] = []
    if raw is None:
        return current, problems
    if not isinstance(raw, Mapping):
        problems.append(SettingsProblem("", f"settings must be an object, got {type(raw).__name__}; ignored"))
        return current, problems
    if isinstance(raw.get("atlas"), Mapping):
        raw = raw["atlas"]
    sections = [section_field.name for section_field in dataclasses.fields(current)]
    for name in raw:
        if name not in sections and name not in CLIENT_SECTIONS:
            problems.append(SettingsProblem(str(name), f"unknown section{_did_you_mean(str(name), sections)}; ignored"))
    updates: dict[str, Any] = {}
    for section_field in dataclasses.fields(current):
        section_raw = raw.get(section_field.name)
        if section_raw is None:
            continue
        if not isinstance(section_raw, Mapping):
            problems.append(SettingsProblem(section_field.name, "must be an object; section ignored"))
            continue
        section_now = getattr(current, section_field.name)
        updates[section_field.name] = _merge_section(section_now, section_raw, section_field.name, problems)
    return dataclasses.replace(current, **updates), problems


def settings_reference() -> list[tuple[str, Any, str]]:
    """(camelCase key, default, description) for every setting, for docs and editor manifests."""
    rows: list[tuple[str, Any, str]] = []
    for section_field in dataclasses.fields(Settings):
        section = section_field.default_factory()  # type: ignore[misc]
        for spec in dataclasses.fields(section):
            key = f"{section_field.name}.{snake_to_camel(spec.name)}"
            rows.append((key, spec.default, spec.metadata.get("doc", "")))
    return rows
