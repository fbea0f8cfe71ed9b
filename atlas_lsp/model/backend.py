"""The one seam in front of every model: what a backend offers and the value types it exchanges."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

StopReason = Literal["eos", "stop", "length", "cancelled", "time_limit", "error"]


class CancelToken:
    """A flag that a generation checks after every token; also carries an optional deadline.

    ``yield_to`` makes low-priority work (a speculation) stop as if cancelled while it returns True (other work
    waits for the model)."""

    def __init__(
        self,
        deadline: float | None = None,
        parent: CancelToken | None = None,
        yield_to: Callable[[], bool] | None = None,
    ) -> None:
        self._event = threading.Event()
        self.deadline = deadline
        self._parent = parent
        self._yield_to = yield_to

    def cancel(self) -> None:
        self._event.set()

    @property
    def yields(self) -> bool:
        """Whether this is low-priority work that makes way for other work (``yield_to``, here or in a parent)."""
        return self._yield_to is not None or (self._parent is not None and self._parent.yields)

    @property
    def cancelled(self) -> bool:
        """Cancelled itself, or through the token it was derived from, or making way (``yield_to``)."""
        if self._event.is_set() or (self._parent is not None and self._parent.cancelled):
            return True
        return self._yield_to is not None and self._yield_to()

    @property
    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def should_stop(self) -> bool:
        return self.cancelled or self.expired


@dataclass(frozen=True)
class FimTokens:
    """Fill-in-the-middle marker texts read from a model's vocabulary."""

    prefix: str
    suffix: str
    middle: str
    repo_name: str | None = None
    file_sep: str | None = None


@dataclass(frozen=True)
class ModelInfo:
    """What the editor and `doctor` are told about the loaded model."""

    name: str
    path: str
    architecture: str
    context_size: int
    trained_context_size: int
    device: str
    gpu_layers: int
    load_seconds: float
    fim: FimTokens | None = None
    chat_template: str | None = None
    backend: str = "llama-cpp"
    chat_messages: bool = False  # the backend takes chat messages itself (an HTTP chat endpoint)
    infill: bool = False  # the backend fills in the middle itself from parts (llama-server's /infill)
    max_parallel: int = 1  # generations the backend serves at once (the in-process model: one)
    latency_ms: float | None = None  # round trip to a remote endpoint
    flash_attention: bool = False  # llama.cpp's flash attention is on (the in-process model)
    threads: int = 0  # CPU threads generating (the in-process model; 0: not this process's to say)


@dataclass(frozen=True)
class InfillParts:
    """A fill-in-the-middle request in parts, for servers that apply the model's FIM markers themselves."""

    prefix: str  # the file's lines before the cursor line
    line_prefix: str  # the cursor line up to the cursor (kept separate, so typing changes only the tail)
    suffix: str  # the rest of the cursor line and the lines after it
    extra: tuple[tuple[str, str], ...] = ()  # other files' context: (path, text)


@dataclass(frozen=True)
class GenerationRequest:
    """One generation. ``prompt`` is text in which special tokens (FIM markers) are parsed.

    ``messages`` is the same request as chat turns, when it is one: a backend that serves chat itself (an HTTP chat
    endpoint applying the model's template) sends them; the in-process model uses ``prompt``, already rendered.
    """

    prompt: str
    max_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 0.95
    stop: tuple[str, ...] = ()
    seed: int | None = None
    messages: tuple[tuple[str, str], ...] | None = None  # (role, content) pairs
    logprobs: bool = False  # fill GenerationStats.mean_logprob where the backend can (it costs time per token)
    infill: InfillParts | None = None  # the same request in parts, for a backend with `info.infill`


class StopScanner:
    """Cuts streamed text at the first stop string and holds back a tail that may be the start of one."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = tuple(stop for stop in stops if stop)
        self._hold = max((len(stop) for stop in self._stops), default=1) - 1
        self.text = ""
        self._emitted = 0
        self.stopped = False

    def feed(self, piece: str) -> str:
        """Add ``piece``; returns the text that is now safe to pass on (empty once a stop string was seen)."""
        self.text += piece
        positions = [index for index in (self.text.find(stop) for stop in self._stops) if index >= 0]
        if positions:
            self.text = self.text[: min(positions)]
            self.stopped = True
            return self._release(len(self.text))
        return self._release(len(self.text) - self._hold)

    def flush(self) -> str:
        """The held-back tail, at the end of the generation."""
        return self._release(len(self.text))

    def _release(self, upto: int) -> str:
        if upto <= self._emitted:
            return ""
        out, self._emitted = self.text[self._emitted : upto], upto
        return out


@dataclass
class GenerationStats:
    """Filled in while a generation runs; complete once its stream is exhausted."""

    prompt_tokens: int = 0
    reused_tokens: int = 0
    generated_tokens: int = 0
    stop_reason: StopReason = "eos"
    seconds: float = 0.0
    text: str = ""
    mean_logprob: float | None = None  # the model's own likelihood of what it wrote, when asked and available
    decode_steps: int = 0  # model steps after the prompt (fewer than tokens when guessed tokens were right)
    decode_mode: str = ""  # how those steps were shaped (in-process backend): plain, guess or fixed
    # where ``seconds`` went (in-process backend): tokenize, arrange (a prompt parked or brought back), first token
    # (the prompt's evaluation and the first sample), decode (the rest)
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def evaluated_tokens(self) -> int:
        return self.prompt_tokens - self.reused_tokens


@dataclass
class GenerationStream:
    """An iterator of text pieces with the generation's statistics alongside."""

    pieces: Iterator[str]
    stats: GenerationStats = field(default_factory=GenerationStats)

    def __iter__(self) -> Iterator[str]:
        return self.pieces

    def close(self) -> None:
        """Stop the generation now (the consumer has what it needs); the stats are final afterwards."""
        close = getattr(self.pieces, "close", None)
        if close is not None:
            close()


@dataclass(frozen=True)
class PrefillResult:
    """What `prefill` did: prompt tokens already in the cache, evaluated now, and whether it stopped early."""

    prompt_tokens: int
    reused_tokens: int
    evaluated_tokens: int
    stopped: bool
    seconds: float


class ModelError(Exception):
    """A model could not be found, downloaded, validated or loaded; the message says what to do."""


class ModelBackend(Protocol):
    """A loaded model. Not thread-safe: only the inference worker calls it."""

    @property
    def info(self) -> ModelInfo: ...

    def generate(self, request: GenerationRequest, cancel: CancelToken) -> GenerationStream:
        """Stream the continuation of ``request.prompt``, checking ``cancel`` after every token."""
        ...

    def count_tokens(self, text: str) -> int:
        """How many tokens ``text`` is for this model (special tokens parsed, no BOS)."""
        ...

    def close(self) -> None: ...
