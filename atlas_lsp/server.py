"""The language server and the composition root: the one place that builds services and registers handlers."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections.abc import Coroutine
from typing import Any, BinaryIO
from urllib.parse import unquote

from lsprotocol import types
from pygls.io_ import StdoutWriter, run_async
from pygls.lsp.server import LanguageServer
from pygls.workspace import TextDocument

from atlas_lsp import __version__
from atlas_lsp.completion.service import CompletionService
from atlas_lsp.config import Settings, SettingsProblem, merge_settings
from atlas_lsp.context.service import ContextService
from atlas_lsp.idle_gc import IdleCollector
from atlas_lsp.lsp import completion, documents, lifecycle, notebooks, solve
from atlas_lsp.lsp.client_log import CLIENT_ERROR_TRACEBACKS, ClientLogHandler
from atlas_lsp.lsp.protocol import REJECTED_NOTIFICATION, AtlasProtocol
from atlas_lsp.lsp.stdio import FrameReader
from atlas_lsp.model.backend import CancelToken, ModelBackend
from atlas_lsp.model.service import ModelService, ModelStatus, load_backend
from atlas_lsp.solve.service import SolveService
from atlas_lsp.syntax.registry import load_registry

logger = logging.getLogger(__name__)
STATUS_NOTIFICATION = "atlas/status"


class AtlasLanguageServer(LanguageServer):
    """atlas-lsp: settings, the warm model and the services that use it."""

    def __init__(self, loader: Any = load_backend) -> None:
        registry = load_registry()
        super().__init__(
            name="atlas-lsp",
            version=__version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            notebook_document_sync=notebooks.notebook_sync_options(registry),
            protocol_cls=AtlasProtocol,
        )
        logging.getLogger("pygls.protocol.json_rpc").addFilter(CLIENT_ERROR_TRACEBACKS)
        self.settings = Settings()
        self._pending_problems: list[SettingsProblem] = []
        self._client_log: ClientLogHandler | None = None
        self._completion_tokens: dict[str, CancelToken] = {}
        self.warm_up_token: CancelToken | None = None  # the pending or running warm-up (lsp/completion.py)
        self.speculations_pending = 0  # scheduled or running speculations (lsp/completion.py)
        self._background: set[asyncio.Task[Any]] = set()
        self.models = ModelService(on_status=self.publish_status, loader=loader)
        self.context = ContextService(registry)
        self.completions = CompletionService(self.models, self.context)
        self.solver = SolveService(self.context.registry, self.models.worker)
        self.solve_jobs: dict[str, solve.SolveJob] = {}
        self.solve_diagnostics: dict[str, list[types.Diagnostic]] = {}
        self.idle_parses: dict[str, asyncio.TimerHandle] = {}  # edited documents' parses to come (lsp/documents.py)
        self.parsed_while_idle = 0  # documents whose edits were parsed in a pause, before a request needed them
        self.stale_notebooks: set[str] = set()  # to be laid out again before their next completion (lsp/notebooks.py)
        self.index_builds = asyncio.Lock()  # one workspace index build at a time (lsp/documents.py)
        self.shutdown_requested = False  # the client sent `shutdown` (the exit status: cli.serve)
        # full garbage collections in quiet moments, not during a generation (installed once initialized)
        self.collector = IdleCollector(busy=lambda: self.models.worker.busy)
        if isinstance(self.protocol, AtlasProtocol):
            self.protocol.on_message = self.collector.activity
        self._register()

    def start_io(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        """pygls's stdio server, reading each message with one thread hop (atlas_lsp/lsp/stdio.py)."""
        self._stop_event = threading.Event()
        self.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))
        reader = FrameReader(stdin or sys.stdin.buffer)
        try:
            # pygls's own logger for its message loop: its per-message debug lines and its complaints about a
            # malformed message stay in the log (the client hears of those through an error response)
            pygls_logger = logging.getLogger("pygls.server")
            asyncio.run(run_async(self._stop_event, reader, self.protocol, pygls_logger, self.report_server_error))
        except BrokenPipeError:
            logger.error("the connection to the client is lost; shutting down")
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.shutdown()

    def _register(self) -> None:
        self.feature(types.INITIALIZE)(lifecycle.on_initialize)
        self.feature(types.INITIALIZED)(lifecycle.on_initialized)
        self.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)(lifecycle.on_did_change_configuration)
        self.feature(types.SHUTDOWN)(lifecycle.on_shutdown)
        self.feature(types.TEXT_DOCUMENT_DID_OPEN)(documents.on_did_open)
        self.feature(types.TEXT_DOCUMENT_DID_CHANGE)(documents.on_did_change)
        self.feature(types.TEXT_DOCUMENT_DID_CLOSE)(documents.on_did_close)
        self.feature(types.TEXT_DOCUMENT_DID_SAVE)(documents.on_did_save)
        self.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)(documents.on_watched_files)
        self.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)(documents.on_workspace_folders)
        self.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)(notebooks.on_did_open_notebook)
        self.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)(notebooks.on_did_change_notebook)
        self.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)(notebooks.on_did_close_notebook)
        self.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())(
            completion.on_inline_completion
        )
        self.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=[]))(
            completion.on_completion
        )
        self.feature(REJECTED_NOTIFICATION)(lambda *_: None)  # already answered with an error
        self.command(completion.ACCEPT_COMMAND)(completion.accept_command)
        self.feature(
            types.TEXT_DOCUMENT_CODE_ACTION,
            types.CodeActionOptions(
                code_action_kinds=[types.CodeActionKind.QuickFix, types.CodeActionKind.RefactorRewrite]
            ),
        )(solve.on_code_action)
        self.command(solve.SOLVE_COMMAND)(solve.solve_command)
        self.command(solve.CANCEL_COMMAND)(solve.cancel_command)
        self.command("atlas.status")(lifecycle.status_command)
        self.command("atlas.lastContext")(lifecycle.last_context_command)
        self.command("atlas.lastCompletion")(lifecycle.last_completion_command)

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Log protocol-level errors (undecodable messages, failed notifications); never a pop-up per message."""
        logger.warning("protocol error (%s): %s", getattr(source, "__name__", source), error)

    # -- settings -------------------------------------------------------------------------------------------
    def apply_settings(self, raw: Any, source: str, reload_model: bool = False, announce: bool = True) -> None:
        """Merge an editor settings object; bad values are named in one message each and keep their default."""
        before = self.settings
        self.settings, problems = merge_settings(self.settings, raw)
        for problem in problems:
            logger.warning("bad setting from %s: %s", source, problem)
        self._pending_problems.extend(problems)
        if announce:
            self.announce_pending_problems()
        if self.settings.logging.level is not None:
            logging.getLogger("atlas_lsp").setLevel(self.settings.logging.level.upper())
        if reload_model and before.model != self.settings.model:
            logger.info("model settings changed; reloading")
            self.run_in_background(lifecycle.load_model_with_progress(self))

    def run_in_background(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Start ``work`` on the event loop and keep a reference until it ends."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def announce_pending_problems(self) -> None:
        problems, self._pending_problems = self._pending_problems, []
        for problem in problems:
            self.window_show_message(
                types.ShowMessageParams(type=types.MessageType.Warning, message=f"atlas: bad setting {problem}")
            )

    def supports_configuration_pull(self) -> bool:
        workspace = self.client_capabilities.workspace
        return bool(workspace is not None and workspace.configuration)

    def client_has_inline_completion(self) -> bool:
        document = self.client_capabilities.text_document
        return bool(document is not None and getattr(document, "inline_completion", None) is not None)

    # -- logging and status ---------------------------------------------------------------------------------
    def attach_client_log(self) -> None:
        """From now on, warnings and errors also reach the editor as window/logMessage."""
        if self._client_log is None:
            self._client_log = ClientLogHandler(self.window_log_message, asyncio.get_running_loop())
            logging.getLogger("atlas_lsp").addHandler(self._client_log)

    def publish_status(self, status: ModelStatus) -> None:
        try:
            self.protocol.notify(STATUS_NOTIFICATION, status.to_json())
        except Exception as error:  # noqa: BLE001 - no client attached (tests, shutdown)
            logger.debug("could not send status: %s", error)

    def status_report(self) -> dict[str, Any]:
        counters = self.completions.counters
        step = self.completions.model_step_seconds()
        report = self.models.status.to_json()
        report["completions"] = {
            "requests": counters.requests,
            "generations": counters.generations,
            "shown": counters.shown,
            "accepted": counters.accepted,
            "cancelled": counters.cancelled,
            "generationsCancelled": counters.generations_cancelled,
            "generationsSkipped": counters.generations_skipped,
            "warmUps": counters.warm_ups,
            "warmUpTokens": counters.warm_up_tokens,
            "warmUpsStopped": counters.warm_ups_stopped,
            "speculations": counters.speculations,
            "speculationsStopped": counters.speculations_stopped,
            "speculationHits": counters.speculation_hits,
            "speculating": self.speculations_pending > 0,
            # what a one-token model step costs, on average (`completion.speculate: auto` decides by it)
            "stepMs": None if step is None else round(step * 1000, 2),
            # model steps of speculations and warm-ups stopped part-way because a request needed the model
            "stepsCutShort": self.completions.model_steps_cut_short(),
            "cacheHits": counters.cache_hits,
            "skippedInIdentifier": counters.skipped_in_identifier,
            "empty": counters.empty,
        }
        report["syntax"] = {
            "parsedWhileIdle": self.parsed_while_idle,
            # open files of a known language given plain-text context (a line too long, a carriage return alone,
            # over the size parsed): why completions there see no trees
            "setAside": sorted(self.context.set_aside),
        }
        worker = self.models.worker.counters
        report["worker"] = {"jobsRun": worker.jobs_run, "jobsSkippedStale": worker.jobs_skipped_stale}
        report["memory"] = {
            "fullCollections": self.collector.full_collections,
            "lastFullCollectionMs": round(self.collector.last_full_ms, 2),
        }
        return report

    # -- documents and requests -----------------------------------------------------------------------------
    def open_document(self, uri: str) -> TextDocument | None:
        """The open document ``uri``, or None when the client never opened it. (pygls keeps documents under their
        percent-decoded uri: a path with a space or a non-ASCII letter is encoded in the client's messages.)"""
        return self.workspace.text_documents.get(unquote(uri))

    def supersede_completion(self, uri: str) -> CancelToken:
        """A token for a new completion in ``uri``; the previous one for that document is cancelled."""
        previous = self._completion_tokens.get(uri)
        if previous is not None:
            previous.cancel()
        token = CancelToken()
        self._completion_tokens[uri] = token
        return token

    def forget_completion(self, uri: str, token: CancelToken) -> None:
        if self._completion_tokens.get(uri) is token:
            del self._completion_tokens[uri]

    @staticmethod
    def deadline_from_now(milliseconds: int) -> float:
        return time.monotonic() + milliseconds / 1000

    def cancel_warm_up(self) -> None:
        if self.warm_up_token is not None:
            self.warm_up_token.cancel()
            self.warm_up_token = None

    def close_services(self) -> None:
        self.cancel_warm_up()
        for pending in self.idle_parses.values():
            pending.cancel()
        self.idle_parses.clear()
        self.completions.stop_speculation()
        for token in self._completion_tokens.values():
            token.cancel()
        for job in self.solve_jobs.values():
            job.cancel.cancel()
        self.models.close()


def build_server(loader: Any = None) -> AtlasLanguageServer:
    """The server with the real model loader, or ``loader(settings) -> ModelBackend`` in tests."""
    return AtlasLanguageServer(loader=loader or load_backend)


__all__ = ["AtlasLanguageServer", "ModelBackend", "build_server"]
