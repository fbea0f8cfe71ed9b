"""The model's lifecycle for the server: locate, load in the background, report status, run generations."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeVar

from atlas_lsp.config import ModelSettings
from atlas_lsp.model.backend import CancelToken, ModelBackend, ModelError, ModelInfo
from atlas_lsp.model.llama import LlamaCppBackend, LoadOptions
from atlas_lsp.model.locate import locate_model
from atlas_lsp.model.openai import EndpointError, EndpointOptions, OpenAIBackend
from atlas_lsp.model.worker import InferenceWorker

logger = logging.getLogger(__name__)
T = TypeVar("T")
State = Literal["idle", "loading", "ready", "error"]


@dataclass(frozen=True)
class ModelStatus:
    """What `atlas/status` tells the editor."""

    state: State
    message: str = ""
    model: str | None = None
    path: str | None = None
    device: str | None = None
    context_size: int | None = None
    load_seconds: float | None = None
    backend: str = "llama-cpp"
    fim: bool | None = None
    latency_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        raw = asdict(self)
        return {
            "state": raw["state"],
            "message": raw["message"],
            "model": raw["model"],
            "path": raw["path"],
            "device": raw["device"],
            "contextSize": raw["context_size"],
            "loadSeconds": None if self.load_seconds is None else round(self.load_seconds, 3),
            "backend": raw["backend"],
            "fim": raw["fim"],
            "latencyMs": None if self.latency_ms is None else round(self.latency_ms, 1),
        }


def status_of(info: ModelInfo) -> ModelStatus:
    where = (
        f"at {info.path} ({info.latency_ms:.0f} ms round trip)" if info.latency_ms is not None else f"on {info.device}"
    )
    return ModelStatus(
        state="ready",
        message=f"{info.name} ready {where}",
        model=info.name,
        path=info.path,
        device=info.device,
        context_size=info.context_size,
        load_seconds=info.load_seconds,
        backend=info.backend,
        fim=info.fim is not None or info.infill,
        latency_ms=info.latency_ms,
    )


def endpoint_options(settings: ModelSettings) -> EndpointOptions:
    return EndpointOptions(
        url=settings.url,
        model=settings.name,
        api_key_env=settings.api_key_env,
        fim_tokens=tuple(settings.fim_tokens) if settings.fim_tokens else None,
        context_size=settings.context_size,
        timeout_s=settings.request_timeout_s,
        retries=settings.retries,
        max_parallel=settings.max_parallel,
    )


def load_backend(settings: ModelSettings) -> ModelBackend:
    """Locate and load the model that ``settings`` name, or connect to its endpoint (blocking; call it on the
    inference worker)."""
    if settings.backend == "openai":
        logger.info("connecting to the OpenAI-compatible endpoint %s", settings.url)
        return OpenAIBackend.connect(endpoint_options(settings))
    source = locate_model(settings)
    logger.info("loading model from %s (%s)", source.path, source.origin)
    return LlamaCppBackend.load(
        LoadOptions(
            path=source.path,
            context_size=settings.context_size,
            gpu_layers=settings.gpu_layers,
            threads=settings.threads,
            weight_repacking=settings.weight_repacking,
            flash_attention=settings.flash_attention,
            draft_tokens=settings.draft_tokens,
            parked_prompts=settings.parked_prompts,
        )
    )


class ModelService:
    """Owns the inference worker; loads the configured model once and keeps it warm."""

    def __init__(
        self,
        on_status: Callable[[ModelStatus], None],
        loader: Callable[[ModelSettings], ModelBackend] = load_backend,
    ) -> None:
        self._on_status = on_status
        self._loader = loader
        self.worker = InferenceWorker()
        self.status = ModelStatus("idle", "model not loaded yet")
        self.settings: ModelSettings | None = None
        self._retry: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return self.status.state == "ready" and self.worker.backend is not None

    @property
    def info(self) -> ModelInfo | None:
        backend = self.worker.backend
        return backend.info if backend is not None else None

    def _set_status(self, status: ModelStatus) -> None:
        self.status = status
        try:
            self._on_status(status)
        except Exception:
            logger.exception("status listener failed")

    async def load(self, settings: ModelSettings) -> ModelStatus:
        """(Re)load the model for ``settings``; returns the final status (ready or error). Never raises.

        An endpoint that cannot be reached is tried again in the background, with backoff, until it answers or the
        settings change; a loaded endpoint that goes down later is reported, and reported back once it answers.
        """
        self.settings = settings
        if self._retry is not None and self._retry is not asyncio.current_task():
            self._retry.cancel()
            self._retry = None
        self._set_status(ModelStatus("loading", "loading model" if settings.backend != "openai" else
                                     f"connecting to {settings.url}"))  # fmt: skip
        started = time.perf_counter()
        future = self.worker.replace_backend(lambda: self._loader(settings))
        try:
            backend = await asyncio.wrap_future(future)
        except ModelError as error:
            logger.error("model failed to load: %s", error)
            self._set_status(ModelStatus("error", str(error), backend=settings.backend))
            if isinstance(error, EndpointError):  # unreachable now, may answer later; a bad setting will not
                self._retry_later(settings)
            return self.status
        except Exception as error:
            logger.exception("model failed to load")
            self._set_status(ModelStatus("error", f"model failed to load: {error}", backend=settings.backend))
            return self.status
        if backend is None:
            self._set_status(ModelStatus("error", "no model loaded"))
            return self.status
        logger.info("model ready after %.2f s", time.perf_counter() - started)
        self._watch_health(backend)
        self._set_status(status_of(backend.info))
        return self.status

    def _retry_later(self, settings: ModelSettings) -> None:
        """Keep trying an unreachable endpoint (a missing local file or a bad URL will not mend by itself)."""
        if settings.backend != "openai" or self._retry is not None:
            return

        async def retry() -> None:
            for delay in (2.0, 4.0, 8.0, 15.0, *([30.0] * 1000)):
                await asyncio.sleep(delay)
                if self.settings is not settings or self.status.state == "ready":
                    break
                status = await self.load(settings)
                if status.state == "ready":
                    break
            self._retry = None

        try:
            self._retry = asyncio.get_running_loop().create_task(retry())
        except RuntimeError:
            self._retry = None

    def _watch_health(self, backend: ModelBackend) -> None:
        """Report a remote endpoint going down (status error) and coming back (status ready)."""
        set_listener = getattr(backend, "set_health_listener", None)
        if set_listener is None:
            return
        loop = asyncio.get_running_loop()

        def changed(problem: str | None) -> None:
            loop.call_soon_threadsafe(self._health_changed, backend, problem)

        set_listener(changed)

    def _health_changed(self, backend: ModelBackend, problem: str | None) -> None:
        if self.worker.backend is not backend:
            return  # a model loaded since
        if problem is None:
            self._set_status(status_of(backend.info))
        else:
            self._set_status(ModelStatus("error", f"{problem}; retrying in the background", backend="openai"))

    def prepare(self, texts: list[str]) -> None:
        """Let the loaded backend get ready for prompts that will hold ``texts`` (open documents), on a thread of
        its own: neither the event loop nor the model's thread waits for it. A no-op for backends without it."""
        backend = self.worker.backend
        prepare = getattr(backend, "prepare", None) if backend is not None else None
        if prepare is None or not texts:
            return

        def run() -> None:
            started = time.perf_counter()
            try:
                for text in texts:
                    prepare(text)
            except Exception:  # preparing is an optimisation: a failure must not surface
                logger.debug("preparing prompt text failed", exc_info=True)
                return
            logger.debug("prepared %d documents in %.0f ms", len(texts), (time.perf_counter() - started) * 1000)

        threading.Thread(target=run, name="atlas-prepare", daemon=True).start()

    async def run(self, use_model: Callable[[ModelBackend], T], cancel: CancelToken | None = None) -> T:
        """Run ``use_model`` on the worker; raises ModelError when no model is ready."""
        if not self.ready:
            raise ModelError(f"model is not ready ({self.status.state}: {self.status.message})")
        return await asyncio.wrap_future(self.worker.submit(use_model, cancel))

    def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
        self.worker.stop()
