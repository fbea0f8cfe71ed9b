"""The model's lifecycle for the server: locate, load in the background, report status, run generations."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeVar

from atlas_lsp.config import ModelSettings
from atlas_lsp.model.backend import CancelToken, ModelBackend, ModelError, ModelInfo
from atlas_lsp.model.llama import LlamaCppBackend, LoadOptions
from atlas_lsp.model.locate import locate_model
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
        }


def status_of(info: ModelInfo) -> ModelStatus:
    return ModelStatus(
        state="ready",
        message=f"{info.name} ready on {info.device}",
        model=info.name,
        path=info.path,
        device=info.device,
        context_size=info.context_size,
        load_seconds=info.load_seconds,
        backend=info.backend,
        fim=info.fim is not None,
    )


def load_backend(settings: ModelSettings) -> ModelBackend:
    """Locate and load the model that ``settings`` name (blocking; call it on the inference worker)."""
    source = locate_model(settings)
    logger.info("loading model from %s (%s)", source.path, source.origin)
    return LlamaCppBackend.load(
        LoadOptions(
            path=source.path,
            context_size=settings.context_size,
            gpu_layers=settings.gpu_layers,
            threads=settings.threads,
            weight_repacking=settings.weight_repacking,
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
        """(Re)load the model for ``settings``; returns the final status (ready or error). Never raises."""
        self.settings = settings
        self._set_status(ModelStatus("loading", "loading model"))
        started = time.perf_counter()
        future = self.worker.replace_backend(lambda: self._loader(settings))
        try:
            backend = await asyncio.wrap_future(future)
        except ModelError as error:
            logger.error("model failed to load: %s", error)
            self._set_status(ModelStatus("error", str(error)))
            return self.status
        except Exception as error:
            logger.exception("model failed to load")
            self._set_status(ModelStatus("error", f"model failed to load: {error}"))
            return self.status
        if backend is None:
            self._set_status(ModelStatus("error", "no model loaded"))
            return self.status
        logger.info("model ready after %.2f s", time.perf_counter() - started)
        self._set_status(status_of(backend.info))
        return self.status

    async def run(self, use_model: Callable[[ModelBackend], T], cancel: CancelToken | None = None) -> T:
        """Run ``use_model`` on the worker; raises ModelError when no model is ready."""
        if not self.ready:
            raise ModelError(f"model is not ready ({self.status.state}: {self.status.message})")
        return await asyncio.wrap_future(self.worker.submit(use_model, cancel))

    def close(self) -> None:
        self.worker.stop()
