"""The remote backend: an OpenAI-compatible inference server (llama-server, vLLM, Ollama, llama-cpp-python's server).

No model is loaded in this process. Prefix and FIM prompts built by our prompt layer go to `/v1/completions`, chat
requests to `/v1/chat/completions`, both streamed; closing the stream is how a cancelled generation stops the
server. The vocabulary's FIM markers come from the server's own tokenizer (or from settings), so the markers we
write are the ones its model was trained on.

Unlike the in-process model this backend is thread-safe: several solve candidates can be in flight at once.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from atlas_lsp.model.backend import (
    CancelToken,
    FimTokens,
    GenerationRequest,
    GenerationStats,
    GenerationStream,
    ModelError,
    ModelInfo,
    StopScanner,
)
from atlas_lsp.model.tokens import CODE_SAMPLE

logger = logging.getLogger(__name__)

HealthListener = Callable[[str | None], None]  # a problem's text when the endpoint goes down, None when it is back

# FIM markers of the families we know: (prefix, suffix, middle, repo_name, file_sep). The first family whose
# three markers are each one token of the server's vocabulary is the model's.
KNOWN_FIM_FAMILIES: tuple[tuple[str, str, str, str | None, str | None], ...] = (
    ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|repo_name|>", "<|file_sep|>"),  # Qwen2.5-Coder
    ("<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<reponame>", "<file_sep>"),  # StarCoder, Granite
    ("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>", None, None),  # DeepSeek-Coder
)
_RETRYABLE = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError)
_HEALTH_BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
EXACT_COUNT_FROM_CHARS = 1024  # shorter texts are estimated at 3 bytes a token (typical code: about 4)
ESTIMATE_MARGIN = 1.1  # a long text's estimate from the learned tokens per byte, plus this margin
PREPARE_SAMPLE_CHARS = 16_384  # an opened document's first characters, counted exactly to learn the ratio


class EndpointError(ModelError):
    """The endpoint is unreachable, refused the request or answered with an error; the message says which."""


@dataclass(frozen=True)
class EndpointOptions:
    """How to reach one OpenAI-compatible server."""

    url: str
    model: str | None = None
    api_key_env: str = "ATLAS_LSP_API_KEY"
    fim_tokens: tuple[str, ...] | None = None
    context_size: int = 4096
    timeout_s: float = 30.0
    retries: int = 2
    max_parallel: int = 4

    @property
    def root(self) -> str:
        """The base URL without a trailing `/v1` (the tokenizer routes live beside it)."""
        url = self.url.rstrip("/")
        return url[: -len("/v1")] if url.endswith("/v1") else url


def _fim_from_setting(markers: tuple[str, ...]) -> FimTokens:
    if len(markers) not in (3, 5):
        raise ModelError(
            "atlas.model.fimTokens needs 3 markers [prefix, suffix, middle] or 5 [.., repo_name, file_sep], "
            f"got {len(markers)}"
        )
    repo, sep = (markers[3], markers[4]) if len(markers) == 5 else (None, None)
    return FimTokens(markers[0], markers[1], markers[2], repo_name=repo, file_sep=sep)


def _check_url(url: str) -> None:
    """A clear error for a URL that no request could use (httpx would fail later, and less plainly)."""
    problem = ""
    try:
        parsed = httpx.URL(url)
        if parsed.scheme not in ("http", "https"):
            problem = "it must start with http:// or https://"
        elif not parsed.host:
            problem = "it has no host"
    except (httpx.InvalidURL, ValueError, TypeError) as error:
        problem = str(error)
    if problem:
        raise ModelError(f"atlas.model.url {url!r} is not a usable URL: {problem}")


def _describe(error: Exception) -> str:
    if isinstance(error, httpx.TimeoutException):
        return f"timed out ({type(error).__name__})"
    if isinstance(error, httpx.ConnectError):
        return f"cannot connect ({error})"
    return f"{type(error).__name__}: {error}"


class OpenAIBackend:
    """A model served over HTTP. Build it with `OpenAIBackend.connect`."""

    def __init__(self, client: httpx.Client, options: EndpointOptions) -> None:
        self._client = client
        self._options = options
        self._info: ModelInfo | None = None
        self._tokenize_route: str | None = None
        self._listener: HealthListener | None = None
        self._health_lock = threading.Lock()
        self._down: str | None = None  # why the endpoint is down, while it is
        self._closed = threading.Event()
        self.streams_closed_early = 0  # generations this side stopped (cancel, deadline, enough text)
        self._tokens_per_byte: float | None = None  # learned from the server's exact counts
        self._ratio_from_documents = False  # until then, from a sample of code at connect
        self.exact_counts = 0  # texts counted by the server's tokenizer (a round trip each)

    # -- connecting -------------------------------------------------------------------------------------------
    @classmethod
    def connect(cls, options: EndpointOptions) -> OpenAIBackend:
        """Reach the endpoint, pick the model, learn its tokenizer and FIM markers; ModelError when it cannot."""
        _check_url(options.url)
        headers = {"Accept": "application/json"}
        key = os.environ.get(options.api_key_env, "") if options.api_key_env else ""
        if key:
            headers["Authorization"] = f"Bearer {key}"
        timeout = httpx.Timeout(options.timeout_s, connect=min(options.timeout_s, 5.0))
        client = httpx.Client(base_url=options.root, headers=headers, timeout=timeout)
        backend = cls(client, options)
        try:
            backend._info = backend._discover()
        except Exception:
            client.close()
            raise
        return backend

    def _discover(self) -> ModelInfo:
        options = self._options
        started = time.perf_counter()
        listing = self._json("GET", "/v1/models")
        served = [entry for entry in listing.get("data", []) if isinstance(entry, dict) and entry.get("id")]
        if not served:
            raise EndpointError(f"{options.url} serves no model (/v1/models is empty)")
        ids = [str(entry["id"]) for entry in served]
        name = options.model or ids[0]
        if options.model and options.model not in ids:
            logger.warning("the endpoint lists %s, not %s; requesting %s anyway", ", ".join(ids), name, name)
        entry = next((e for e in served if e["id"] == name), served[0])
        latency_ms = min(self._round_trip() for _ in range(3))
        props = self._optional_json("GET", "/props")  # llama-server: chat template and context size
        context = options.context_size
        reported = entry.get("max_model_len") or (props.get("default_generation_settings") or {}).get("n_ctx")
        if isinstance(reported, int) and reported > 0:
            context = min(context, reported)
        self._tokenize_route = self._find_tokenizer(name)
        if self._tokenize_route is not None:
            try:
                self._exact_count(CODE_SAMPLE, name, sample=True)  # a first ratio, refined as documents open
            except EndpointError as error:
                logger.debug("tokenize failed (%s); prompt sizes are counted by the server until it works", error)
        fim = _fim_from_setting(options.fim_tokens) if options.fim_tokens else self._probe_fim(name)
        template = props.get("chat_template") if isinstance(props.get("chat_template"), str) else None
        infill = fim is None and bool(props) and self._has_infill()
        info = ModelInfo(
            name=name,
            path=options.url,
            architecture="remote",
            context_size=context,
            trained_context_size=context,
            device=f"remote ({options.url})",
            gpu_layers=0,
            load_seconds=time.perf_counter() - started,
            fim=fim,
            chat_template=template,
            backend="openai",
            chat_messages=True,
            infill=infill,
            max_parallel=options.max_parallel,
            latency_ms=latency_ms,
        )
        logger.info(
            "endpoint %s serves %s (%.1f ms round trip, tokenizer %s, FIM %s)",
            options.url,
            name,
            latency_ms,
            self._tokenize_route or "estimated",
            "yes" if fim else ("via /infill" if infill else "no"),
        )
        return info

    def _round_trip(self) -> float:
        started = time.perf_counter()
        self._json("GET", "/v1/models")
        return (time.perf_counter() - started) * 1000

    def _find_tokenizer(self, model: str) -> str | None:
        """Which tokenizer route the server has: llama-server, vLLM, or llama-cpp-python's."""
        for route in ("/tokenize", "/extras/tokenize"):
            try:
                self._tokens_via(route, "x", model)
                return route
            except (EndpointError, KeyError, TypeError, ValueError):
                continue
        logger.info("the endpoint has no tokenizer route; prompt sizes are estimated from characters")
        return None

    def _tokens_via(self, route: str, text: str, model: str) -> list[int]:
        if route == "/tokenize":  # llama-server takes `content`, vLLM `prompt`; send both
            body: dict[str, Any] = {"content": text, "prompt": text, "model": model, "add_special": False,
                                    "add_special_tokens": False}  # fmt: skip
        else:  # llama-cpp-python: special tokens are parsed
            body = {"input": text, "model": model}
        tokens = self._json("POST", route, body, retry=False)["tokens"]
        if not isinstance(tokens, list):
            raise TypeError("tokens is not a list")
        return [int(token["id"]) if isinstance(token, dict) else int(token) for token in tokens]

    def _probe_fim(self, model: str) -> FimTokens | None:
        """The known FIM family whose markers are single tokens of the server's vocabulary."""
        if self._tokenize_route is None:
            return None

        def single(marker: str | None) -> bool:
            if marker is None:
                return False
            return self._is_single_token(marker, model)

        for prefix, suffix, middle, repo, sep in KNOWN_FIM_FAMILIES:
            if single(prefix) and single(suffix) and single(middle):
                repo_ok = single(repo) and single(sep)
                return FimTokens(prefix, suffix, middle, repo if repo_ok else None, sep if repo_ok else None)
        return None

    def _has_infill(self) -> bool:
        """Whether llama-server's /infill works here (it answers 200 only for a model with FIM markers)."""
        try:
            self._json("POST", "/infill", {"input_prefix": "", "input_suffix": "", "n_predict": 0}, retry=False)
        except EndpointError:
            return False
        return True

    def _is_single_token(self, marker: str, model: str) -> bool:
        """One token when parsed as special: doubling the marker adds exactly one (BOS, if any, cancels out)."""
        assert self._tokenize_route is not None
        once = self._tokens_via(self._tokenize_route, marker, model)
        twice = self._tokens_via(self._tokenize_route, marker + marker, model)
        return len(twice) - len(once) == 1

    # -- the ModelBackend protocol ------------------------------------------------------------------------------
    @property
    def info(self) -> ModelInfo:
        assert self._info is not None
        return self._info

    @property
    def down(self) -> str | None:
        """Why the endpoint is unreachable, while it is."""
        return self._down

    def set_health_listener(self, listener: HealthListener | None) -> None:
        self._listener = listener

    def count_tokens(self, text: str) -> int:
        """How many tokens ``text`` is, estimated without a round trip (errs on the high side).

        Short texts (the tail that changes with every keystroke) are estimated at 3 bytes a token. A long text (a
        prompt's stable part, once per cursor position) is estimated from the tokens per byte that the server's
        own tokenizer showed on this user's code (counted when documents open, off the typing path), plus a 10%
        margin: a prompt trimmed to that count keeps slightly less context than it could. Where an error could
        overflow the context, the caller asks `count_tokens_exact`."""
        if not text:
            return 0
        size = len(text.encode("utf-8"))
        if len(text) >= EXACT_COUNT_FROM_CHARS and self._tokens_per_byte is not None:
            return math.ceil(size * self._tokens_per_byte * ESTIMATE_MARGIN)
        if len(text) >= EXACT_COUNT_FROM_CHARS and self._tokenize_route is not None:
            return self.count_tokens_exact(text)  # no ratio yet (the sample failed at connect)
        return max(1, (size + 2) // 3)

    def count_tokens_exact(self, text: str) -> int:
        """The server tokenizer's count (a round trip); an estimate when it has none or cannot be reached."""
        if self._tokenize_route is not None and self._down is None:
            try:
                return self._exact_count(text, self.info.name)
            except EndpointError as error:
                logger.debug("tokenize failed (%s); estimating", error)
        return max(1, (len(text.encode("utf-8")) + 2) // 3)

    def prepare(self, text: str) -> None:
        """An opened document: count (up to 16 KB of) it exactly, so estimates follow this user's code. Runs on a
        thread of its own (`ModelService.prepare`)."""
        if self._tokenize_route is None or self._down is not None or len(text) < EXACT_COUNT_FROM_CHARS:
            return
        try:
            self._exact_count(text[:PREPARE_SAMPLE_CHARS], self.info.name)
        except EndpointError as error:
            logger.debug("tokenize failed while preparing (%s)", error)

    def _exact_count(self, text: str, model: str, sample: bool = False) -> int:
        assert self._tokenize_route is not None
        count = len(self._tokens_via(self._tokenize_route, text, model))
        self.exact_counts += 1
        ratio = count / max(1, len(text.encode("utf-8")))
        previous = self._tokens_per_byte
        if previous is None or (not sample and not self._ratio_from_documents):
            self._tokens_per_byte = ratio  # the user's own code replaces the connect-time sample's ratio
        else:
            self._tokens_per_byte = previous * 0.5 + ratio * 0.5
        self._ratio_from_documents = self._ratio_from_documents or not sample
        return count

    def generate(self, request: GenerationRequest, cancel: CancelToken) -> GenerationStream:
        stats = GenerationStats()
        return GenerationStream(self._stream(request, cancel, stats), stats)

    def close(self) -> None:
        self._closed.set()
        self._client.close()

    # -- generation -------------------------------------------------------------------------------------------
    def _body(self, request: GenerationRequest) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "model": self.info.name,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.stop:
            body["stop"] = list(request.stop)[:4]  # the OpenAI API takes at most four; the rest are cut here
        if request.seed is not None:
            body["seed"] = request.seed
        if request.messages is not None:
            body["messages"] = [{"role": role, "content": content} for role, content in request.messages]
            return "/v1/chat/completions", body
        if request.infill is not None and self.info.infill:
            parts = request.infill
            body.update(
                input_prefix=parts.prefix,
                prompt=parts.line_prefix,
                input_suffix=parts.suffix,
                input_extra=[{"filename": path, "text": text} for path, text in parts.extra],
                n_predict=request.max_tokens,
                cache_prompt=True,
            )
            return "/infill", body
        body["prompt"] = request.prompt
        return "/v1/completions", body

    def _stream(self, request: GenerationRequest, cancel: CancelToken, stats: GenerationStats) -> Iterator[str]:
        started = time.perf_counter()
        route, body = self._body(request)
        scanner = StopScanner(request.stop)
        stats.stop_reason = "length"
        try:
            with self._open_stream(route, body, cancel) as response:
                for event in _server_events(response):
                    piece = _piece_of(event, stats)
                    if piece:
                        stats.generated_tokens += 1
                        safe = scanner.feed(piece)
                        if safe:
                            yield safe
                        if scanner.stopped:
                            stats.stop_reason = "stop"
                            self.streams_closed_early += 1
                            break
                    if cancel.cancelled or cancel.expired:
                        stats.stop_reason = "cancelled" if cancel.cancelled else "time_limit"
                        self.streams_closed_early += 1
                        break  # leaving the block closes the connection: the server stops generating
        except GeneratorExit:
            stats.stop_reason = "stop"  # the consumer has what it needs
            self.streams_closed_early += 1
            raise
        except httpx.HTTPError as error:
            stats.stop_reason = "error"
            problem = f"the stream from {self._options.url} broke: {_describe(error)}"
            self._mark_down(problem)
            raise EndpointError(problem) from error
        finally:
            stats.text = scanner.text
            stats.seconds = time.perf_counter() - started
            if not stats.prompt_tokens:
                stats.prompt_tokens = self._estimate(request)
        rest = scanner.flush()
        if rest:
            yield rest

    def _estimate(self, request: GenerationRequest) -> int:
        text = request.prompt if request.messages is None else "".join(content for _, content in request.messages)
        return max(1, len(text.encode("utf-8")) // 3)

    def _open_stream(self, route: str, body: dict[str, Any], cancel: CancelToken) -> Any:
        """The streaming response, after bounded retries of what could not reach the server."""
        if self._down is not None:
            raise EndpointError(self._down)
        attempt = 0
        while True:
            try:
                stream = self._client.stream("POST", route, json=body)
                response = stream.__enter__()
            except _RETRYABLE as error:
                attempt += 1
                if attempt > self._options.retries or cancel.should_stop():
                    problem = f"{self._options.url} is unreachable: {_describe(error)}"
                    self._mark_down(problem)
                    raise EndpointError(problem) from error
                delay = min(0.25 * 2 ** (attempt - 1), 2.0)
                logger.info("request to %s failed (%s); retry %d in %.2f s", route, error, attempt, delay)
                time.sleep(delay)
                continue
            except httpx.TimeoutException as error:
                raise EndpointError(f"{self._options.url} did not answer {route}: {_describe(error)}") from error
            if response.status_code >= 400:
                response.read()
                stream.__exit__(None, None, None)
                raise EndpointError(self._http_problem(route, response))
            return _Closing(stream, response)

    def _http_problem(self, route: str, response: httpx.Response) -> str:
        detail = response.text[:300].strip()
        if response.status_code in (401, 403):
            return (
                f"{self._options.url} refused {route} ({response.status_code}): set the API key in the environment "
                f"variable {self._options.api_key_env} (atlas.model.apiKeyEnv)"
            )
        return f"{self._options.url} answered {route} with {response.status_code}: {detail}"

    # -- plain requests ---------------------------------------------------------------------------------------
    def _json(self, method: str, route: str, body: Any = None, retry: bool = True) -> dict[str, Any]:
        attempts = self._options.retries + 1 if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                response = self._client.request(method, route, json=body)
            except httpx.HTTPError as error:
                if attempt < attempts and isinstance(error, _RETRYABLE):
                    time.sleep(min(0.25 * 2 ** (attempt - 1), 2.0))
                    continue
                raise EndpointError(f"{self._options.url} is unreachable: {_describe(error)}") from error
            if response.status_code >= 400:
                raise EndpointError(self._http_problem(route, response))
            try:
                data = response.json()
            except ValueError as error:
                raise EndpointError(f"{self._options.url}{route} did not answer JSON") from error
            if not isinstance(data, dict):
                raise EndpointError(f"{self._options.url}{route} answered {type(data).__name__}, not an object")
            return data
        raise AssertionError("unreachable")

    def _optional_json(self, method: str, route: str) -> dict[str, Any]:
        try:
            return self._json(method, route, retry=False)
        except EndpointError:
            return {}

    # -- health -----------------------------------------------------------------------------------------------
    def _mark_down(self, problem: str) -> None:
        with self._health_lock:
            if self._down is not None or self._closed.is_set():
                return
            self._down = problem
        logger.warning("%s; checking again in the background", problem)
        self._notify(problem)
        threading.Thread(target=self._watch, name="atlas-endpoint-health", daemon=True).start()

    def _watch(self) -> None:
        """Probe the endpoint with backoff until it answers again, then report it healthy."""
        step = 0
        while not self._closed.wait(_HEALTH_BACKOFF[min(step, len(_HEALTH_BACKOFF) - 1)]):
            step += 1
            try:
                self._json("GET", "/v1/models", retry=False)
            except EndpointError as error:
                logger.debug("endpoint still down: %s", error)
                continue
            with self._health_lock:
                self._down = None
            logger.info("endpoint %s answers again", self._options.url)
            self._notify(None)
            return

    def _notify(self, problem: str | None) -> None:
        listener = self._listener
        if listener is not None:
            try:
                listener(problem)
            except Exception:
                logger.exception("health listener failed")


class _Closing:
    """A context manager over an already-entered httpx stream: leaving it closes the connection."""

    def __init__(self, stream: Any, response: httpx.Response) -> None:
        self._stream = stream
        self._response = response

    def __enter__(self) -> httpx.Response:
        return self._response

    def __exit__(self, *exc: object) -> None:
        self._stream.__exit__(None, None, None)


def _server_events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """The JSON objects of a server-sent event stream, until `[DONE]`."""
    for line in response.iter_lines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            event = json.loads(data)
        except ValueError:
            logger.debug("skipped an undecodable event: %.80s", data)
            continue
        if isinstance(event, dict):
            if "error" in event:
                raise EndpointError(f"the server reported an error mid-stream: {event['error']}")
            yield event


def _piece_of(event: dict[str, Any], stats: GenerationStats) -> str:
    """The text in one streamed chunk (completion or chat form); usage and timings go into ``stats``."""
    usage = event.get("usage")
    if isinstance(usage, dict):
        stats.prompt_tokens = int(usage.get("prompt_tokens") or stats.prompt_tokens)
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
        if isinstance(cached, int):
            stats.reused_tokens = cached
    timings = event.get("timings")  # llama-server: prompt tokens evaluated (prompt_n) and reused (cache_n)
    if isinstance(timings, dict) and isinstance(timings.get("cache_n"), int):
        stats.reused_tokens = timings["cache_n"]
        stats.prompt_tokens = timings["cache_n"] + int(timings.get("prompt_n") or 0)
    if "content" in event and "choices" not in event:  # llama-server's own routes (/infill)
        if event.get("stop") and event.get("stop_type") in ("eos", "word"):
            stats.stop_reason = "eos"
        return str(event.get("content") or "")
    choices = event.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return ""
    choice = choices[0]
    if choice.get("finish_reason") == "stop":
        stats.stop_reason = "eos"
    delta = choice.get("delta")
    if isinstance(delta, dict):
        return str(delta.get("content") or "")
    return str(choice.get("text") or "")
