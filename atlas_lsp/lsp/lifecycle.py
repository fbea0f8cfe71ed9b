"""Initialize, settings, model loading with progress, status, shutdown."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Any, cast

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from atlas_lsp.lsp import documents
from atlas_lsp.lsp.progress import BackgroundProgress
from atlas_lsp.lsp.protocol import AtlasProtocol

if TYPE_CHECKING:
    from atlas_lsp.server import AtlasLanguageServer

logger = logging.getLogger(__name__)


def on_initialize(ls: AtlasLanguageServer, params: types.InitializeParams) -> None:
    ls.apply_settings(params.initialization_options, source="initializationOptions", announce=False)


async def on_initialized(ls: AtlasLanguageServer, _params: types.InitializedParams) -> None:
    ls.attach_client_log()
    if isinstance(ls.protocol, AtlasProtocol):
        ls.protocol.warm_up()
    ls.announce_pending_problems()
    for problem in ls.context.registry.problems:
        logger.error("%s", problem)
    if ls.supports_configuration_pull():
        await pull_configuration(ls, load_changes=False)
    ls.run_in_background(documents.build_index_with_progress(ls))
    ls.run_in_background(documents.watch_files(ls))
    ls.collector.install()
    ls.run_in_background(ls.collector.run())
    await load_model_with_progress(ls)


async def pull_configuration(ls: AtlasLanguageServer, load_changes: bool) -> None:
    """Ask the client for the `atlas` section (workspace/configuration)."""
    try:
        values = await asyncio.wait_for(
            ls.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section="atlas")])
            ),
            timeout=5,
        )
    except Exception as error:  # noqa: BLE001 - a client that fails this request keeps its settings
        logger.info("workspace/configuration failed: %s", error)
        return
    if values:
        ls.apply_settings(values[0], source="workspace/configuration", reload_model=load_changes)


async def on_did_change_configuration(ls: AtlasLanguageServer, params: types.DidChangeConfigurationParams) -> None:
    settings: Any = params.settings
    if isinstance(settings, dict) and "atlas" in settings:
        ls.apply_settings(settings["atlas"], source="didChangeConfiguration", reload_model=True)
    elif ls.supports_configuration_pull():
        await pull_configuration(ls, load_changes=True)


async def load_model_with_progress(ls: AtlasLanguageServer) -> None:
    """Load (or reload) the model in the background, with work-done progress where the client supports it."""
    progress = BackgroundProgress(ls, f"atlas-model-{uuid.uuid4().hex[:8]}", "atlas: loading model")
    status = await ls.models.load(ls.settings.model)
    progress.end(status.message)
    if status.state == "ready":  # documents opened while it loaded: tokenize their lines ahead of prompts
        ls.models.prepare([document.source for document in ls.workspace.text_documents.values()])
    if status.state == "error":
        ls.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Error, message=f"atlas: {status.message}")
        )


def on_shutdown(ls: AtlasLanguageServer, _params: None) -> None:
    logger.info("shutting down")
    ls.shutdown_requested = True
    ls.close_services()


def status_command(server: LanguageServer, *_args: Any) -> dict[str, Any]:
    """`atlas.status`: the model status plus the completion counters."""
    return cast("AtlasLanguageServer", server).status_report()


def last_context_command(server: LanguageServer, *_args: Any) -> list[dict[str, Any]]:
    """`atlas.lastContext`: the context parts the last completion prompt included (what the model saw)."""
    assembled = cast("AtlasLanguageServer", server).completions.last_context
    if assembled is None:
        return []
    return [
        {"kind": p.kind, "file": p.label, "reason": p.reason, "tokens": p.tokens, "text": p.text}
        for p in assembled.parts
    ]


def last_completion_command(server: LanguageServer, *_args: Any) -> dict[str, Any]:
    """`atlas.lastCompletion`: the last request's prompt kind and text, tokens reused/evaluated, stop reason."""
    last = cast("AtlasLanguageServer", server).completions.last
    return {
        "promptKind": last.prompt_kind,
        "prompt": last.prompt,
        "promptTokens": last.prompt_tokens,
        "reusedTokens": last.reused_tokens,
        "evaluatedTokens": last.prompt_tokens - last.reused_tokens,
        "generatedTokens": last.generated_tokens,
        "decodeSteps": last.decode_steps,
        "decodeMode": last.decode_mode,
        "stopReason": last.stop_reason,
        "cached": last.cached,
        "modelMs": round(last.model_seconds * 1000, 2),
        "totalMs": round(last.total_seconds * 1000, 2),
        "phasesMs": {phase: round(seconds * 1000, 3) for phase, seconds in last.phases.items()},
        "modelPhasesMs": {phase: round(seconds * 1000, 3) for phase, seconds in last.model_phases.items()},
    }
