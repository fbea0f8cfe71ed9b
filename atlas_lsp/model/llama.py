"""The in-process backend: a GGUF model loaded once with llama-cpp-python.

Only the inference worker thread calls into an instance (llama.cpp contexts are not thread-safe).
"""

from __future__ import annotations

import codecs
import ctypes
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from atlas_lsp.model.backend import (
    CancelToken,
    FimTokens,
    GenerationRequest,
    GenerationStats,
    GenerationStream,
    ModelError,
    ModelInfo,
    PrefillResult,
    StopScanner,
)
from atlas_lsp.model.cores import batch_threads, default_threads
from atlas_lsp.model.draft import FIXED_STEP_TOKENS, DecodeMode, DraftTuner, Guess, RecentOutputs, TokenHistory
from atlas_lsp.model.host_memory import StateBuffer, StateMemory
from atlas_lsp.model.parked import ParkedPrompts, common_prefix
from atlas_lsp.model.tokens import PieceCachedTokenizer, choose_split
from atlas_lsp.timing import PhaseClock

logger = logging.getLogger(__name__)
native_logger = logging.getLogger("atlas_lsp.llama_cpp")

_PARAMS_LOCK = threading.Lock()
# ggml log levels: 0 none, 1 debug, 2 info, 3 warn, 4 error, 5 continue the previous line. Its warnings are
# mostly tuning notes ("n_ctx < n_ctx_train"), so they are logged as info; errors stay errors.
_NATIVE_LEVELS = {0: logging.DEBUG, 1: logging.DEBUG, 2: logging.DEBUG, 3: logging.INFO, 4: logging.ERROR}
_native_callback: Any = None
# set while a model step stops because the abort callback said so: llama.cpp reports that as a failed decode
# (three error lines and a warning), which is expected then and is logged at debug level
_STEP_ABORTING = threading.Event()
_native_errors: list[str] = []  # the latest error lines from llama.cpp, to explain a failed load


PARKED_PROMPTS = 3  # prompts set aside from the KV cache and brought back (atlas_lsp/model/parked.py)
FIRST_STEP_TAIL = 32  # a prompt tail this short is evaluated in one step with the first guessed tokens


@dataclass(frozen=True)
class LoadOptions:
    """How to load one model file."""

    path: str
    context_size: int = 4096
    gpu_layers: int = -1
    threads: int = 0
    weight_repacking: bool = False
    flash_attention: str = "auto"  # auto: on when layers are on a GPU
    draft_tokens: int = 8
    parked_prompts: int = PARKED_PROMPTS


def _route_native_logs(llama_cpp: Any) -> None:
    """Send llama.cpp's own log lines to Python logging (stderr or the log file), never to stdout."""
    global _native_callback
    if _native_callback is not None:
        return
    last_level = [logging.DEBUG]

    @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
    def callback(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
        python_level = last_level[0] if level == 5 else _NATIVE_LEVELS.get(level, logging.DEBUG)
        if _STEP_ABORTING.is_set():
            python_level = logging.DEBUG
        last_level[0] = python_level
        message = text.decode("utf-8", errors="replace").rstrip()
        if message:
            native_logger.log(python_level, "%s", message)
            if python_level >= logging.ERROR:
                _native_errors[:] = [*_native_errors[-2:], message]

    _native_callback = callback  # keep a reference: ctypes callbacks must outlive their registration
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))


def import_llama_cpp() -> Any:
    """Import llama_cpp, turning a broken install into a ModelError that says what to do."""
    try:
        import llama_cpp
    except Exception as error:
        raise ModelError(
            f"llama-cpp-python is not usable ({error}); reinstall it: pip install 'llama-cpp-python>=0.3.36,<0.4'"
        ) from error
    _route_native_logs(llama_cpp)
    return llama_cpp


def gpu_offload_supported() -> bool:
    """Whether this llama.cpp build can put layers on a GPU."""
    return bool(import_llama_cpp().llama_supports_gpu_offload())


@contextmanager
def model_params_override(llama_cpp: Any, **fields: Any) -> Iterator[None]:
    """Set fields of the llama model params that `Llama(...)` has no argument for.

    `Llama.__init__` builds its params from `llama_model_default_params()` and loads the model in the same call,
    so the only way in is to wrap that function for the duration of the load.
    """
    low_level = llama_cpp.llama_cpp
    original = low_level.llama_model_default_params

    def patched() -> Any:
        params = original()
        for name, value in fields.items():
            if hasattr(params, name):
                setattr(params, name, value)
            else:
                logger.debug("this llama.cpp has no model param %s; not set", name)
        return params

    with _PARAMS_LOCK:
        low_level.llama_model_default_params = patched
        try:
            yield
        finally:
            low_level.llama_model_default_params = original


def can_park_prompts(llama_cpp: Any, model: Any) -> bool:
    """Whether a sequence's saved state can stand for its prompt's prefix: not for recurrent or hybrid models (a
    state, not cells per position) nor with sliding-window attention (the cache keeps only the window)."""
    try:
        return not (
            llama_cpp.llama_model_is_recurrent(model)
            or llama_cpp.llama_model_is_hybrid(model)
            or llama_cpp.llama_model_n_swa(model) > 0
        )
    except AttributeError:  # an older llama.cpp without these queries
        return False


def check_gguf_file(path: str) -> None:
    """Fail fast, with a clear message, on a missing, unreadable, non-GGUF or empty file."""
    file = Path(path).expanduser()
    if not file.exists():
        raise ModelError(f"model file not found: {file}. Set atlas.model.path to an existing .gguf file.")
    if not file.is_file():
        raise ModelError(f"model path is not a file: {file}")
    try:
        with file.open("rb") as handle:
            header = handle.read(8)
    except OSError as error:
        raise ModelError(f"cannot read model file {file}: {error.strerror}") from error
    if len(header) < 8 or header[:4] != b"GGUF":
        raise ModelError(f"not a GGUF model file: {file} (it does not start with the GGUF magic bytes)")
    version = int.from_bytes(header[4:8], "little")
    if version not in (2, 3):
        raise ModelError(f"unsupported GGUF version {version} in {file}")


def _token_text(model: Any, token: int) -> str | None:
    if token < 0:
        return None
    text = model.token_get_text(token)
    return text.decode("utf-8", errors="replace") if isinstance(text, bytes) else str(text)


def read_fim_tokens(llama_cpp: Any, model: Any) -> FimTokens | None:
    """The FIM marker texts that the vocabulary declares (`tokenizer.ggml.fim_*_token_id`), if any."""
    vocab = llama_cpp.llama_model_get_vocab(model.model)
    ids = {
        "prefix": llama_cpp.llama_vocab_fim_pre(vocab),
        "suffix": llama_cpp.llama_vocab_fim_suf(vocab),
        "middle": llama_cpp.llama_vocab_fim_mid(vocab),
        "repo_name": llama_cpp.llama_vocab_fim_rep(vocab),
        "file_sep": llama_cpp.llama_vocab_fim_sep(vocab),
    }
    texts = {name: _token_text(model, token) for name, token in ids.items()}
    prefix, suffix, middle = texts["prefix"], texts["suffix"], texts["middle"]
    if not (prefix and suffix and middle):
        return None
    return FimTokens(prefix, suffix, middle, repo_name=texts["repo_name"], file_sep=texts["file_sep"])


@dataclass(frozen=True)
class SavedState:
    """A KV cache sequence copied out: the first ``size`` bytes of ``buffer``."""

    buffer: StateBuffer
    size: int


def _sample(sampler: Any, ctx: Any, row: int) -> int:
    """A token from llama.cpp's sampler chain at logits row ``row`` (the chain records it as accepted)."""
    return int(sampler.sample(ctx, row))


PREPARE_MAX_CHARS = 1 << 20  # documents larger than this are not tokenized ahead of prompts
# prompt tokens evaluated between two checks for a request waiting behind a prefill: what such a request may wait
# (about 0.1 s on a 2-core CPU; a few ms on a GPU, where larger steps are cheaper per token)
PREFILL_CHUNK_CPU = 32
PREFILL_CHUNK_GPU = 256
# a request's own prompt goes in steps of this many tokens, its cancellation checked between them: a request that a
# newer one supersedes (the user typed on) stops within one step (about 0.6 s on a 2-core CPU) instead of evaluating
# all of a cold prompt (7 s for 1,500 tokens there); the steps cost nothing measurable against one call (6.8-7.2 s
# either way, /tmp script, bundled model) and what was evaluated stays, a prefix the next request starts from
REQUEST_CHUNK_CPU = 128
REQUEST_CHUNK_GPU = 512
PREFILL_SEAM_TOKENS = 2  # a prefill's last tokens, left to its request (see prefill)


class _StepAborted(Exception):
    """A model step stopped part-way by llama.cpp's abort callback; the cache holds what it held before the step."""


class LlamaCppBackend:
    """A llama.cpp model in this process. Build it with `LlamaCppBackend.load` from the worker thread."""

    def __init__(self, llm: Any, info: ModelInfo, draft_tokens: int = 8, parked_prompts: int = 0) -> None:
        self._llm = llm
        self._info = info
        self._states = (
            StateMemory.for_model(import_llama_cpp(), info.gpu_layers > 0) if parked_prompts else StateMemory()
        )
        self._parked = ParkedPrompts(parked_prompts, self._save_sequence, self._load_sequence, release=self._release)
        self._tuner = DraftTuner(max_tokens=draft_tokens)
        if info.gpu_layers > 0 and draft_tokens > 0:  # steps are launch-bound there: fixed-shape steps may pay
            self._tuner.fixed_step = min(draft_tokens + 1, FIXED_STEP_TOKENS)
        self._recent = RecentOutputs()  # what the model wrote lately: guesses when asked at nearly the same place
        self._cached_prompt = 0  # how many of the cache's leading tokens were the latest prompt (the rest: output)
        llama_cpp = import_llama_cpp()
        self._llama_cpp = llama_cpp
        self._n_vocab = int(llm.n_vocab())
        vocab = llama_cpp.llama_model_get_vocab(llm._model.model)
        self._is_end_of_generation = lambda token: llama_cpp.llama_vocab_is_eog(vocab, token)
        self._prepare_lock = threading.Lock()
        self._closed = False
        # low-priority work (a speculation, a warm-up) stops part-way through a model step when a request waits
        # (see _abortable): llama.cpp asks this callback between a step's operations (on a CPU; a GPU's steps are
        # short and are not asked)
        self._abort_when: Callable[[], bool] | None = None
        self._abort_fired = False
        self._abort_callback = llama_cpp.ggml_abort_callback(self._should_abort)  # kept alive with the backend
        self.steps_aborted = 0  # model steps cut short so far (status, tests)
        self._pieces = PieceCachedTokenizer(self._tokenize_whole, choose_split(self._tokenize_whole))
        self._special = self._special_tokens()
        if self._pieces.rule is not None and self._special is not None:
            logger.info("prompts are tokenized in cached pieces (%s: exact for this vocabulary)", self._pieces.rule)
        else:
            logger.info("prompts are tokenized whole (cutting them changes this vocabulary's tokens)")

    def _tokenize_whole(self, text: str) -> list[int]:
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def _special_tokens(self) -> tuple[list[int], list[int]] | None:
        """The tokens the vocabulary adds around a prompt (BOS, sometimes EOS), or None when they are not simply
        around the text's own tokens."""
        plain = self._tokenize_whole("x")
        framed = list(self._llm.tokenize(b"x", add_bos=True, special=True))
        for start in range(len(framed) - len(plain) + 1):
            if framed[start : start + len(plain)] == plain:
                return framed[:start], framed[start + len(plain) :]
        return None

    @classmethod
    def load(cls, options: LoadOptions) -> LlamaCppBackend:
        check_gguf_file(options.path)
        llama_cpp = import_llama_cpp()
        offload = bool(llama_cpp.llama_supports_gpu_offload())
        gpu_layers = options.gpu_layers if offload else 0
        threads = options.threads or default_threads()
        flash_attention = options.flash_attention == "on" or (options.flash_attention == "auto" and gpu_layers != 0)
        started = time.perf_counter()
        _native_errors.clear()
        try:
            with model_params_override(llama_cpp, use_extra_bufts=options.weight_repacking):
                llm = llama_cpp.Llama(
                    model_path=str(Path(options.path).expanduser()),
                    n_ctx=options.context_size,
                    n_batch=512,
                    n_gpu_layers=gpu_layers,
                    flash_attn=flash_attention,
                    n_threads=threads,
                    n_threads_batch=max(threads, batch_threads()),
                    seed=1234,
                    verbose=False,
                )
        except Exception as error:
            reason = "; ".join(_native_errors) or str(error)
            raise ModelError(
                f"llama.cpp could not load {options.path}: {reason}. The file may be truncated, corrupt or of an "
                "architecture this llama.cpp does not know."
            ) from error
        load_seconds = time.perf_counter() - started
        trained = int(llm._model.n_ctx_train())
        metadata = dict(llm.metadata)
        architecture = metadata.get("general.architecture", "unknown")
        name = metadata.get("general.name") or Path(options.path).stem
        n_layers = int(metadata.get(f"{architecture}.block_count", "0") or 0)
        on_gpu = offload and gpu_layers != 0
        shown_layers = (n_layers if gpu_layers < 0 else min(gpu_layers, n_layers)) if on_gpu else 0
        device = f"gpu ({shown_layers}/{n_layers} layers)" if on_gpu else "cpu"
        info = ModelInfo(
            name=name,
            path=str(Path(options.path).expanduser().resolve()),
            architecture=architecture,
            # llama.cpp may round the context up (to a multiple of 256); llama-cpp-python's token buffers keep
            # the size asked for, and a prompt longer than them fails: the smaller of the two is the real room
            context_size=min(int(llm.n_ctx()), len(llm.input_ids)),
            trained_context_size=trained,
            device=device,
            gpu_layers=shown_layers,
            load_seconds=load_seconds,
            fim=read_fim_tokens(llama_cpp, llm._model),
            chat_template=metadata.get("tokenizer.chat_template"),
            flash_attention=flash_attention,
            threads=threads,
        )
        logger.info("loaded %s (%s) on %s in %.2f s", name, architecture, device, load_seconds)
        slots = options.parked_prompts if can_park_prompts(llama_cpp, llm._model.model) else 0
        return cls(llm, info, draft_tokens=options.draft_tokens, parked_prompts=slots)

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def draft_tokens(self) -> int:
        """Most guessed tokens checked per model step (`model.draftTokens`; 0: off)."""
        return self._tuner.max_tokens

    @property
    def step_seconds(self) -> float | None:
        """What a model step of one token costs on this device, on average (measured as generations run; None
        until two were): what `completion.speculate: auto` decides by on a CPU. Where generations have run only in
        fixed-shape steps (a GPU's first ones), the smallest step measured twice stands for it: there a request
        that comes while a speculation runs waits for the rest of its current step (on a CPU the step stops
        part-way: `_abortable`)."""
        smallest = min(self._tuner.step_seconds, default=None)  # (a size is averaged from its second step on)
        return None if smallest is None else self._tuner.step_seconds[smallest]

    @property
    def parked_prompts(self) -> int:
        """How many prompts can be set aside from the KV cache (0: this model cannot, or it is off)."""
        return self._parked.slots

    @property
    def weight_repacking(self) -> bool:
        """The `use_extra_bufts` value the model was really loaded with."""
        return bool(self._llm.model_params.use_extra_bufts)

    def tokenize(self, text: str) -> list[int]:
        return self._pieces.tokenize(text)

    def count_tokens(self, text: str) -> int:
        """For fitting prompts to a budget: exact, or within one where ``text`` starts with a line not tokenized yet
        (`PieceCachedTokenizer.count`'s ``first_by_twin``; `tokenize` is always exact)."""
        return self._pieces.count(text, first_by_twin=True)

    def prompt_split_rule(self) -> str | None:
        """How prompts are cut into cached pieces (None: tokenized whole), for `doctor`."""
        return self._pieces.rule if self._special is not None else None

    def prepare(self, text: str) -> None:
        """Tokenize ``text``'s pieces into the cache ahead of time: an open document's lines will be in prompts.
        Runs on a thread of its own, a few hundred pieces at a time, and stops once the model is closed. A huge
        document (a generated file, a log) is left alone: its lines would only push others out of the cache."""
        if len(text) > PREPARE_MAX_CHARS:
            return
        pieces = self._pieces.pieces_of(text)
        for start in range(0, len(pieces), 256):
            with self._prepare_lock:
                if self._closed:
                    return
                for piece in pieces[start : start + 256]:
                    self._pieces.tokenize(piece)

    def _prompt_tokens(self, prompt: str, max_tokens: int) -> list[int]:
        if self._special is None:
            tokens = list(self._llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))
        else:
            before, after = self._special
            tokens = [*before, *self._pieces.tokenize(prompt), *after]
        if not tokens:  # an empty prompt (the top of an empty file): llama.cpp cannot sample from nothing
            bos = int(self._llm.token_bos())
            if bos < 0:
                raise ModelError("the prompt is empty and this model has no beginning-of-text token")
            tokens = [bos]
        # the generation's room, at most half the context (the rest for the prompt; a generation that reaches the
        # context's end stops there: see _generated)
        room = self._info.context_size - min(max_tokens, self._info.context_size // 2) - 1
        if len(tokens) > room:
            logger.warning("prompt of %d tokens exceeds the context; keeping its last %d", len(tokens), room)
            tokens = tokens[-room:]
        return tokens

    def _arrange_cache(self, prompt: np.ndarray) -> None:
        """Park the cache's prompt before this one overwrites it, or bring back a parked prompt this one shares
        more with (`atlas_lsp/model/parked.py`)."""
        llm = self._llm
        held = self._parked.arrange(prompt, llm.input_ids[: llm.n_tokens], self._cached_prompt)
        if held is not None:
            llm.input_ids[: len(held)] = held
            llm.n_tokens = len(held)
            llm._requires_eval = True
            self._cached_prompt = len(held)  # a parked state's tokens all count: its own prompt is not known

    def idle(self) -> None:
        """Work for a moment when no request has come for a while (the worker calls it): copy the cache's prompt out
        now, so that a request that overwrites it later has no copy to wait for (`atlas_lsp/model/parked.py`)."""
        llm = self._llm
        if self._cached_prompt > 0:
            self._parked.set_aside(llm.input_ids[: llm.n_tokens], self._cached_prompt)

    def prefill(self, prompt: str, max_tokens: int, should_stop: Callable[[], bool]) -> PrefillResult:
        """Evaluate ``prompt`` (the start of a prompt that a request is expected to send soon) into the KV cache, a
        chunk at a time, checking ``should_stop()`` between chunks: what was evaluated stays for that request, which
        then evaluates only the rest. The prompt the cache held before is parked first, as a request would park it
        (a prefill's own tokens never are).
        ``max_tokens``: the generation's room that the request will keep free in the context."""
        started = time.perf_counter()
        llm = self._llm
        tokens = self._prompt_tokens(prompt, max_tokens)
        if self._special is not None:
            tokens = tokens[: len(tokens) - len(self._special[1])]  # the request's text goes on: no closing tokens
        # the last tokens may merge with the text the request adds after them (a newline and the line's start):
        # left to the request, so that every prefilled token is one its prompt starts with
        tokens = tokens[: max(1, len(tokens) - PREFILL_SEAM_TOKENS)]
        array = np.asarray(tokens, dtype=np.intc)
        self._arrange_cache(array)
        common = common_prefix(llm.input_ids[: llm.n_tokens], array)
        if common >= len(tokens):  # all there already (what follows it too: a request's tail, its output)
            return PrefillResult(len(tokens), common, 0, False, time.perf_counter() - started)
        reused = self._drop_after(common)
        # what is prefilled is a guess at a request: it is never parked (or copied out in idle time) as a prompt,
        # so that warm-ups at places the user only looked at do not push the prompts of files they typed in out of
        # the parked ones; the request that uses it makes it a prompt
        self._cached_prompt = min(self._cached_prompt, reused)
        chunk = PREFILL_CHUNK_GPU if self._info.gpu_layers > 0 else PREFILL_CHUNK_CPU
        position = reused
        stopped = False
        with self._abortable(should_stop):
            while position < len(tokens):
                if should_stop():
                    stopped = True
                    break
                try:
                    self._decoded(partial(llm.eval, tokens[position : position + chunk]))
                except _StepAborted:
                    stopped = True
                    position = llm.n_tokens  # the chunk's whole steps before the stopped one stay
                    break
                position = min(len(tokens), position + chunk)
        return PrefillResult(len(tokens), reused, position - reused, stopped, time.perf_counter() - started)

    def _save_sequence(self, spare: SavedState | None = None) -> tuple[SavedState, int] | None:
        """The KV cache's sequence copied out (its cells' K and V), with the bytes its buffer holds. ``spare`` (a
        state no longer needed) is handed over: written over when it is large enough (memory written before costs
        no page faults, pinned memory no new pinning), else released."""
        llama_cpp = self._llama_cpp
        ctx = self._llm._ctx.ctx
        size = int(llama_cpp.llama_state_seq_get_size(ctx, 0))
        buffer: StateBuffer | None = None
        if spare is not None and len(spare.buffer) >= size:
            buffer = spare.buffer
        elif spare is not None:
            self._release(spare)
        if size <= 0 or size > self._parked.max_bytes:  # too large to keep: never allocated
            if buffer is not None:
                buffer.release()
            return None
        if buffer is None:
            room = min(size + size // 8, self._parked.max_bytes)  # an eighth more: the prompt grows as one types
            buffer = self._states.allocate(room)
            if buffer is None:
                logger.warning("no memory to set aside a prompt's cache state (%d bytes); it is not parked", size)
                return None
        if int(llama_cpp.llama_state_seq_get_data(ctx, buffer.array, size, 0)) != size:
            buffer.release()
            return None
        return SavedState(buffer, size), len(buffer)

    def _release(self, state: SavedState) -> None:
        """A saved state's memory given back (pinned memory at once; ordinary memory with its last reference)."""
        state.buffer.release()  # through the memory that allocated it

    def _load_sequence(self, state: SavedState) -> bool:
        """Replace the KV cache's sequence with a saved one."""
        self._llm._ctx.kv_cache_seq_rm(0, 0, -1)
        return int(self._llama_cpp.llama_state_seq_set_data(self._llm._ctx.ctx, state.buffer.array, state.size, 0)) > 0

    def _cached_prefix(self, prompt: np.ndarray) -> int:
        """How many leading prompt tokens are reused from the KV cache: the common prefix with what it holds, less
        one when the whole prompt is cached (its last token is evaluated again for fresh logits)."""
        common = common_prefix(self._llm.input_ids[: self._llm.n_tokens], prompt)
        return common - 1 if common == len(prompt) and common > 0 else common

    def _evaluate_prompt(self, tokens: list[int], reused: int) -> None:
        """Drop the cache after the reused prefix and evaluate the rest of the prompt."""
        self._llm.eval(tokens[self._drop_after(reused) :])

    def _drop_after(self, reused: int) -> int:
        """Drop the cache after its first ``reused`` positions (all of it when that fails); how many are kept."""
        llm = self._llm
        if reused == 0 or not llm._ctx.kv_cache_seq_rm(-1, reused, -1):
            reused = 0
            llm.reset()
            llm._ctx.kv_cache_seq_rm(-1, 0, -1)
        llm.n_tokens = reused
        return reused

    def _should_abort(self, _data: Any) -> bool:
        check = self._abort_when
        if check is not None and check():
            self._abort_fired = True
            _STEP_ABORTING.set()
            return True
        return False

    @contextmanager
    def _abortable(self, check: Callable[[], bool] | None) -> Iterator[None]:
        """Model steps run in this block stop part-way when ``check()`` turns true (None: not checked), raising
        _StepAborted: a request that comes while a speculation or a warm-up runs waits for a part of a step, not
        the rest of it (a step checking guessed tokens took up to 30 ms on a 2-core CPU). llama.cpp drops the
        stopped step's positions from the cache."""
        llm = self._llm
        if check is None or getattr(llm, "_is_recurrent", False) or getattr(llm, "_is_hybrid", False):
            yield  # (a recurrent model's state cannot drop a stopped step's positions)
            return
        llama_cpp = self._llama_cpp
        ctx = llm._ctx.ctx
        self._abort_when, self._abort_fired = check, False
        llama_cpp.llama_set_abort_callback(ctx, self._abort_callback, None)
        try:
            yield
        finally:
            llama_cpp.llama_set_abort_callback(ctx, ctypes.cast(None, llama_cpp.ggml_abort_callback), None)
            self._abort_when = None

    def _decoded(self, decode: Callable[[], None]) -> None:
        """Run ``decode`` (one llama_decode or llm.eval); a step the abort callback stopped raises _StepAborted,
        with the cache as it was before that step."""
        try:
            decode()
        except RuntimeError:
            if not self._abort_fired:
                raise
            self._abort_fired = False
            self.steps_aborted += 1
            llm = self._llm
            llm._ctx.kv_cache_seq_rm(-1, llm.n_tokens, -1)  # (llama.cpp dropped the stopped part: anything after)
            llm._requires_eval = True
            raise _StepAborted from None
        finally:
            _STEP_ABORTING.clear()

    def _decode_step(self, tokens: list[int], logits_from: int = 0) -> None:
        """Evaluate ``tokens`` after the cache's contents, with logits at every position from ``logits_from`` on
        (to sample there and check guesses)."""
        llm = self._llm
        start = llm.n_tokens
        llm._batch.set_batch(batch=tokens, n_past=start, logits_all=True)
        for row in range(min(logits_from, len(tokens) - 1)):
            llm._batch.batch.logits[row] = False  # a prompt's tail: only its last row is sampled from
        self._decoded(partial(llm._ctx.decode, llm._batch))
        llm.input_ids[start : start + len(tokens)] = tokens
        llm.n_tokens = start + len(tokens)

    def _keep_cache(self, count: int) -> None:
        """Keep the first ``count`` positions of the cache (guessed tokens past a wrong guess are dropped)."""
        llm = self._llm
        if llm.n_tokens > count:
            llm._ctx.kv_cache_seq_rm(-1, count, -1)
            llm.n_tokens = count
        llm._requires_eval = True  # the logits on hand may be a dropped position's: never sample them directly

    def _greedy(self, row: int) -> int:
        """The most likely token at logits row ``row``: what llama.cpp's greedy sampler picks (the first of equals),
        without its copy of the whole vocabulary into a candidate list for every token."""
        pointer = self._llama_cpp.llama_get_logits_ith(self._llm._ctx.ctx, row)
        return int(np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).argmax())

    def _sampled_tokens(
        self,
        pick: Callable[[int], int],
        history: TokenHistory,
        budget: int,
        stats: GenerationStats,
        tail: list[int] | None = None,
        low_priority: bool = False,
    ) -> Iterator[tuple[int, int]]:
        """The generated tokens, each with the index of the logits row it was sampled from (valid until the next
        token is taken). A step evaluates the latest token plus a guess from the history when the tuner expects it
        to pay; each guessed token is kept only if it is what the sampler chooses there. With ``tail`` (the end of
        a prompt whose start is cached: a keystroke's request), the first step evaluates the tail; with fixed-shape
        steps it is padded to their shape with a guess of what follows. Whole generations are timed from the end of
        the prompt's step, so that the decode modes compare alike whether or not the prompt had a tail, and not
        when a step was stopped part-way (its time bought no token). ``low_priority``: a speculation's generation
        (see `DraftTuner.plan_generation`)."""
        llm = self._llm
        tuner = self._tuner
        kept = llm.n_tokens
        recurrent = getattr(llm, "_is_recurrent", False) or getattr(llm, "_is_hybrid", False)
        mode: DecodeMode = "plain" if recurrent else tuner.plan_generation(low_priority)
        stats.decode_mode = mode
        decoding_started: float | None = None
        produced = 0
        untimed = 0  # tokens that came with the prompt's step, before decoding was timed
        aborted = False
        try:
            pending = tail or []  # evaluated in the next step, before its guess
            token = -1
            if not pending:
                token = pick(-1)
                produced = 1
                yield token, -1
                pending = [token]
            while produced < budget:
                first_step = token < 0  # the prompt's tail is in this step
                if decoding_started is None and not first_step:
                    decoding_started, untimed = time.perf_counter(), produced
                if not first_step:
                    history.append(token)
                found = Guess([], 0)
                if mode == "fixed" or (mode == "guess" and not first_step):
                    found = history.draft(min(tuner.max_tokens, budget - produced - 1))
                if mode == "fixed":  # always the same shape: the guess, then the latest token repeated (it is
                    # checked like a guess, and right in runs of spaces or newlines); smaller only where the
                    # context ends (the prompt keeps its full room: trimming it would break the cache's prefix)
                    size = max(min(tuner.fixed_step, self._info.context_size - llm.n_tokens), len(pending))
                    real = found.tokens[: size - len(pending)]
                    guess = real + [pending[-1]] * (size - len(pending) - len(real))
                elif first_step:  # right after a typed character the output often changes course: a guess
                    # for the first tokens cost more than it saved on a CPU (docs/benchmarks.md, sixth session)
                    real = guess = []
                else:
                    real = guess = found.tokens[: tuner.length(len(found.tokens), found.match_size, found.earlier)]
                step = [*pending, *guess]
                started = time.perf_counter()
                try:
                    self._decode_step(step, len(pending) - 1)
                except _StepAborted:
                    aborted = True
                    raise
                if not first_step:
                    stats.decode_steps += 1  # (the prompt's step is not counted: its first token comes with it)
                base = llm.n_tokens - len(step)
                right = 0
                for index in range(len(guess) + 1):
                    row = len(pending) - 1 + index
                    token = pick(row)
                    if index == 0:
                        tuner.record_step(len(step), time.perf_counter() - started)  # the sample waits for the GPU
                    kept = base + row + 1
                    produced += 1
                    yield token, row
                    if index == len(guess) or token != guess[index] or produced >= budget:
                        break
                    right += 1
                    history.append(token)
                if real and not first_step:  # (the first step's guesses are not what the rates are about)
                    checked = min(len(real), right + 1)
                    tuner.record_guesses(found.match_size, checked, min(right, len(real)), found.earlier)
                self._keep_cache(kept)
                pending = [token]
        finally:
            self._keep_cache(kept)
            if decoding_started is not None and not recurrent and not aborted:
                tuner.record_generation(mode, produced - untimed, time.perf_counter() - decoding_started)

    def generate(self, request: GenerationRequest, cancel: CancelToken) -> GenerationStream:
        stats = GenerationStats()
        return GenerationStream(self._stream(request, cancel, stats), stats)

    def _stream(self, request: GenerationRequest, cancel: CancelToken, stats: GenerationStats) -> Iterator[str]:
        # low-priority work (its token makes way) also stops part-way through a model step
        with self._abortable(cancel.should_stop if cancel.yields else None):
            yield from self._generated(request, cancel, stats)

    def _generated(self, request: GenerationRequest, cancel: CancelToken, stats: GenerationStats) -> Iterator[str]:
        started = time.perf_counter()
        llm = self._llm
        tokens = self._prompt_tokens(request.prompt, request.max_tokens)
        stats.prompt_tokens = len(tokens)
        prompt = np.asarray(tokens, dtype=np.intc)  # one conversion for the cache lookups below
        lap = PhaseClock(stats.phases, started)
        lap("tokenize")
        self._arrange_cache(prompt)
        lap("arrange")
        stats.reused_tokens = self._cached_prefix(prompt)
        if request.seed is not None:
            llm.set_seed(request.seed)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        scanner = StopScanner(request.stop)
        logprob_sum = 0.0
        stats.stop_reason = "length"
        sampler = None
        pick = self._greedy
        if request.temperature > 0:
            sampler = llm._init_sampler(temp=request.temperature, top_p=request.top_p, top_k=40, repeat_penalty=1.0)
            pick = partial(_sample, sampler, llm._ctx)
        earlier = self._recent.related(prompt) if self._tuner.max_tokens > 0 else []
        history = TokenHistory(tokens, earlier=earlier)
        produced: Iterator[tuple[int, int]] | None = None
        output: list[int] = []
        try:
            stats.reused_tokens = self._drop_after(stats.reused_tokens)
            # until this prompt is all in the cache, the cache's prompt is what it shares with the one before: a
            # generation stopped while it evaluates its prompt (a speculation that made way) leaves that prompt's
            # start, to be parked when a request overwrites it (it was 0: a file's prompt was lost that way)
            self._cached_prompt = min(self._cached_prompt, stats.reused_tokens)
            tail: list[int] = []
            if len(tokens) - stats.reused_tokens <= FIRST_STEP_TAIL:  # a keystroke's request: the prompt is cached
                tail = tokens[stats.reused_tokens :]
            else:
                stopped = self._evaluate_tail(tokens, stats.reused_tokens, cancel)
                if stopped is not None:
                    stats.stop_reason = stopped
                    return
            self._cached_prompt = len(tokens)
            budget = min(request.max_tokens, self._info.context_size - len(tokens) - 1)  # up to the context's end
            produced = self._sampled_tokens(pick, history, budget, stats, tail, cancel.yields)
            for token, row in produced:
                if not output and "first token" not in stats.phases:
                    lap("first token")
                if self._is_end(token):
                    stats.stop_reason = "eos"
                    break
                output.append(token)
                stats.generated_tokens += 1
                if request.logprobs:
                    logprob_sum += self._token_logprob(token, row)
                safe = scanner.feed(decoder.decode(llm.detokenize([token])))
                if safe:
                    yield safe
                if scanner.stopped:
                    stats.stop_reason = "stop"
                    break
                if stats.generated_tokens >= budget:
                    stats.stop_reason = "length"
                    break
                if cancel.cancelled:
                    stats.stop_reason = "cancelled"
                    break
                if cancel.expired:
                    stats.stop_reason = "time_limit"
                    break
        except _StepAborted:  # (low-priority work only: see _stream)
            stats.stop_reason = "cancelled" if cancel.cancelled else "time_limit"
        except GeneratorExit:
            stats.stop_reason = "stop"  # the consumer closed the stream: it has what it needs
            raise
        finally:
            if produced is not None:
                produced.close()  # drops guessed positions the output did not keep
            self._recent.add(tokens, output)
            if sampler is not None:
                sampler.close()
            stats.text = scanner.text
            lap("decode" if "first token" in stats.phases else "first token")
            stats.seconds = time.perf_counter() - started
            if request.logprobs and stats.generated_tokens:
                stats.mean_logprob = logprob_sum / stats.generated_tokens
        rest = scanner.flush()
        if rest:
            yield rest

    def _evaluate_tail(self, tokens: list[int], start: int, cancel: CancelToken) -> str | None:
        """Evaluate ``tokens[start:]`` into the cache. Low-priority work (a speculation, whose prompt is all new where
        its text moved the file's window) goes a chunk at a time and stops between chunks when other work waits or
        its time is up, so a request waits for one chunk, not a whole prompt; what it evaluated stays, a prefix of
        a prompt (not parked as one). A request's own prompt goes in larger steps and stops between them only when
        it is cancelled (its time cap leaves it its prompt: without one, nothing could be ready). Why it stopped, or
        None."""
        llm = self._llm
        if not cancel.yields:
            step = REQUEST_CHUNK_GPU if self._info.gpu_layers > 0 else REQUEST_CHUNK_CPU
            for position in range(start, len(tokens), step):
                if cancel.cancelled:
                    return "cancelled"
                llm.eval(tokens[position : position + step])
            return None
        chunk = PREFILL_CHUNK_GPU if self._info.gpu_layers > 0 else PREFILL_CHUNK_CPU
        for position in range(start, len(tokens), chunk):
            if cancel.cancelled:
                return "cancelled"
            if cancel.expired:
                return "time_limit"
            try:
                self._decoded(partial(llm.eval, tokens[position : position + chunk]))
            except _StepAborted:
                return "cancelled" if cancel.cancelled else "time_limit"
        return None

    def _is_end(self, token: int) -> bool:
        """End of generation: EOS, EOT or any other token the vocabulary marks as ending a turn."""
        return bool(self._is_end_of_generation(token))

    def _token_logprob(self, token: int, row: int) -> float:
        """log p(token) under the logits it was just sampled from (row ``row`` of the latest step)."""
        llama_cpp = import_llama_cpp()
        pointer = llama_cpp.llama_get_logits_ith(self._llm._ctx.ctx, row)
        logits = np.ctypeslib.as_array(pointer, shape=(self._llm.n_vocab(),))
        top = float(logits.max())
        return float(logits[token]) - top - math.log(float(np.exp(logits - top).sum()))

    def close(self) -> None:
        with self._prepare_lock:  # a document being prepared must not tokenize with a freed vocabulary
            self._closed = True
        self._parked.clear()  # pinned buffers are freed explicitly, while the GPU backend is still there
        self._llm.close()
