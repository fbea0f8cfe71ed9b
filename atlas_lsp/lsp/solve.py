"""The solve action over LSP: code actions, a command that answers at once, a background job with progress and
cancel, a versioned edit with the evidence, and diagnostics for functions whose selected tests failed."""

from __future__ import annotations

import asyncio
import difflib
import logging
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path
from pygls.workspace.position_codec import ServerTextPosition, ServerTextRange

from atlas_lsp.lsp.completion import schedule_warm_up
from atlas_lsp.lsp.documents import uri_to_path
from atlas_lsp.lsp.progress import BackgroundProgress
from atlas_lsp.model.backend import CancelToken
from atlas_lsp.solve.loop import SolveResult, replace_function
from atlas_lsp.solve.service import SolveError, SolveRequest, project_root, unsupported
from atlas_lsp.solve.target import find_function

if TYPE_CHECKING:
    from atlas_lsp.server import AtlasLanguageServer

logger = logging.getLogger(__name__)
SOLVE_COMMAND = "atlas.solveFunction"
CANCEL_COMMAND = "atlas.cancelSolve"
TITLE = "Solve this function (verify with tests)"


@dataclass
class SolveJob:
    id: str
    uri: str
    version: int
    name: str
    cancel: CancelToken = field(default_factory=CancelToken)
    task: asyncio.Task[None] | None = None
    solving: bool = True  # False once it proposes its result (it may wait on the user's answer from then on)


def is_file(uri: str) -> bool:
    """``uri`` names a file (not an unsaved buffer, ``untitled:``, nor a notebook cell)."""
    return uri.startswith("file:")


def project_of(ls: AtlasLanguageServer, path: str) -> Path:
    """The project the file at ``path`` belongs to (see `project_root`), from the workspace folders."""
    folders = [Path(uri_to_path(folder.uri)) for folder in (ls.workspace.folders or {}).values()]
    return project_root(Path(path), folders)


def on_code_action(ls: AtlasLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
    """Cheap: a tree-sitter lookup, no model call. The command carries the document version and the function.
    Editors ask where the cursor rests: a completion there may be warmed up (`completion.warmUp`)."""
    uri = params.text_document.uri
    schedule_warm_up(ls, uri, params.range.end)
    if not is_file(uri):
        return None  # an unsaved buffer or a notebook cell: no project file to test (see solve_command)
    path = uri_to_path(uri)
    document = ls.context.documents.get(path)
    lsp_document = ls.open_document(uri)
    if document is None or lsp_document is None:
        return None
    target = find_function(document, path, line=params.range.start.line)
    if target is None:
        return None
    reason = unsupported(document.spec, project_of(ls, path), Path(path))
    if reason is not None:  # no supported runner for its tests here: no light bulb that would only fail
        return disabled_action(ls, reason)
    arguments = [{"uri": uri, "version": lsp_document.version, "name": target.name, "line": target.start_line}]
    command = types.Command(title=TITLE, command=SOLVE_COMMAND, arguments=arguments)
    failed = any(
        d.source == "atlas" and d.range.start.line == target.start_line for d in ls.solve_diagnostics.get(uri, [])
    )
    kind = types.CodeActionKind.QuickFix if (target.is_stub or failed) else types.CodeActionKind.RefactorRewrite
    return [
        types.CodeAction(title=TITLE, kind=kind, command=command, is_preferred=kind == types.CodeActionKind.QuickFix)
    ]


def disabled_action(ls: AtlasLanguageServer, reason: str) -> list[types.CodeAction] | None:
    """The solve action, disabled with ``reason``, for clients that show such actions (greyed, with the reason: VS
    Code, in its refactor menu and to its "solve at cursor" command); nothing for the others (the command says
    why)."""
    text_document = ls.client_capabilities.text_document
    code_action = text_document.code_action if text_document is not None else None
    if code_action is None or not code_action.disabled_support:
        return None
    disabled = types.CodeActionDisabled(reason=reason)
    return [types.CodeAction(title=TITLE, kind=types.CodeActionKind.RefactorRewrite, disabled=disabled)]


def solve_command(server: LanguageServer, *args: Any) -> dict[str, Any]:
    """`atlas.solveFunction {uri, version, name, line}`: answers at once with a job id; the job runs on. Asked
    again for a function that a job is solving, it answers with that job's id."""
    ls = cast("AtlasLanguageServer", server)
    raw = args[0] if len(args) == 1 and isinstance(args[0], list | tuple) else args
    spec = raw[0] if raw else None
    spec = spec._asdict() if hasattr(spec, "_asdict") else spec
    if not isinstance(spec, dict) or "uri" not in spec:
        return {"status": "error", "message": "expected {uri, version, name, line}"}
    uri = str(spec["uri"])
    document = ls.open_document(uri)
    if document is None:
        return {"status": "error", "message": f"{uri} is not open"}
    if not is_file(uri):
        return {"status": "error", "message": f"solving runs the project's tests on a saved file; {uri} is not one"}
    path = uri_to_path(uri)
    language = ls.context.registry.for_document(path, document.language_id)
    problem = unsupported(language, project_of(ls, path), Path(path)) if language is not None else None
    if problem is not None:
        return {"status": "error", "message": problem}
    name = str(spec.get("name"))
    running = next(
        (job for job in ls.solve_jobs.values() if (job.uri, job.name) == (uri, name) and job.solving),
        None,
    )
    if running is not None and not running.cancel.cancelled:  # asked again (the menu chosen twice): one job
        ls.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Info, message=f"atlas: already solving {name}")
        )
        return {"status": "running", "job": running.id}
    job = SolveJob(uuid.uuid4().hex[:8], uri, int(spec.get("version") or document.version or 0), name)
    ls.solve_jobs[job.id] = job
    job.task = ls.run_in_background(run_job(ls, job, spec.get("line")))
    return {"status": "started", "job": job.id}


def cancel_command(server: LanguageServer, *args: Any) -> dict[str, Any]:
    """`atlas.cancelSolve {job}` (or the job id alone; no argument: every job). Anything else cancels nothing."""
    ls = cast("AtlasLanguageServer", server)
    raw = args[0] if len(args) == 1 and isinstance(args[0], list | tuple) else args
    wanted: str | None = None  # every job
    if raw:
        spec = raw[0]._asdict() if hasattr(raw[0], "_asdict") else raw[0]
        wanted = spec.get("job") if isinstance(spec, dict) else spec
        if not isinstance(wanted, str):
            return {"cancelled": [], "message": "expected {job}, a job id or no argument"}
    cancelled = [job.id for job in ls.solve_jobs.values() if wanted in (None, job.id)]
    for job_id in cancelled:
        ls.solve_jobs[job_id].cancel.cancel()
    return {"cancelled": cancelled}


async def run_job(ls: AtlasLanguageServer, job: SolveJob, line: Any) -> None:
    progress = BackgroundProgress(
        ls, f"atlas-solve-{job.id}", f"atlas: solving {job.name}", cancellable=True, on_cancel=job.cancel.cancel
    )

    def report(message: str) -> None:
        logger.info("solve %s: %s", job.id, message)
        progress.report(message)

    outcome = "failed"
    try:
        outcome = await _solve_and_propose(ls, job, line, report)
    except SolveError as error:
        outcome = str(error)
        ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=f"atlas: {error}"))
    except Exception as error:
        logger.exception("solve failed")
        outcome = f"solve failed: {error}"
        ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=f"atlas: {outcome}"))
    finally:
        ls.solve_jobs.pop(job.id, None)
        progress.end(outcome)


async def _solve_and_propose(ls: AtlasLanguageServer, job: SolveJob, line: Any, report: Any) -> str:
    document = ls.open_document(job.uri)
    if document is None:
        raise SolveError("the document was closed")
    path = uri_to_path(job.uri)
    buffers = {uri_to_path(uri): doc.source for uri, doc in ls.workspace.text_documents.items() if is_file(uri)}
    line_number = int(line) if isinstance(line, int | float) else None
    request = SolveRequest(path, document.source, project_of(ls, path), buffers, line=line_number,
                           name=None if line_number is not None else job.name)  # fmt: skip
    info = ls.models.info
    if not ls.models.ready:
        raise SolveError(f"the model is not ready ({ls.models.status.message})")
    result = await asyncio.to_thread(
        ls.solver.solve, request, ls.settings.solve, report, job.cancel, info.chat_template if info else None
    )
    job.solving = False
    if result.cancelled:
        return "cancelled"
    _publish_diagnostics(ls, job.uri, result)
    if result.best is None:
        ls.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Warning, message=f"atlas: {result.evidence()}")
        )
        return result.evidence()
    if result.passed:
        return await _apply(ls, job, document.source, result)
    return await _offer_anyway(ls, job, document.source, result)


def _edit(ls: AtlasLanguageServer, job: SolveJob, result: SolveResult) -> types.WorkspaceEdit:
    """A versioned edit of exactly the function's range, in the client's position encoding."""
    target = result.target
    assert result.best is not None
    area = ServerTextRange(
        ServerTextPosition(target.start_line, target.start_column),
        ServerTextPosition(target.end_line, target.end_column),
    )
    document = ls.open_document(job.uri)
    client_range = (
        document.range_to_client_units(area)
        if document is not None
        else types.Range(
            start=types.Position(area.start.line, area.start.character),
            end=types.Position(area.end.line, area.end.character),
        )
    )
    return types.WorkspaceEdit(
        document_changes=[
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(uri=job.uri, version=job.version),
                edits=[types.TextEdit(range=client_range, new_text=result.best.code)],
            )
        ]
    )


async def _apply(ls: AtlasLanguageServer, job: SolveJob, text: str, result: SolveResult) -> str:
    document = ls.open_document(job.uri)
    if document is None or document.version != job.version:
        message = f"the buffer changed while solving {job.name}; the edit was not applied ({result.evidence()})"
        ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=f"atlas: {message}"))
        return message
    answer = await ls.workspace_apply_edit_async(
        types.ApplyWorkspaceEditParams(edit=_edit(ls, job, result), label=f"atlas: solve {job.name}")
    )
    if not answer.applied:
        message = f"the editor refused the edit ({answer.failure_reason or 'the buffer changed'})"
        ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=f"atlas: {message}"))
        return message
    evidence = result.evidence()
    ls.window_show_message(
        types.ShowMessageParams(type=types.MessageType.Info, message=f"atlas: {job.name}: {evidence}")
    )
    return evidence


async def _offer_anyway(ls: AtlasLanguageServer, job: SolveJob, text: str, result: SolveResult) -> str:
    """Nothing passed: say so, with the best score, and let the user choose; never apply silently."""
    message = f"atlas: no candidate for {job.name} passed every selected test; best: {result.evidence()}"
    try:
        choice = await ls.window_show_message_request_async(
            types.ShowMessageRequestParams(
                type=types.MessageType.Warning,
                message=message,
                actions=[types.MessageActionItem("Apply anyway"), types.MessageActionItem("Show diff")],
            )
        )
    except JsonRpcException as error:  # (a client that cannot ask: it is told, and nothing is applied)
        logger.info("solve %s: the editor cannot ask whether to apply anyway (%s)", job.id, error)
        ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=message))
        choice = None
    if choice is not None and choice.title == "Apply anyway":
        return await _apply(ls, job, text, result)
    if choice is not None and choice.title == "Show diff":
        assert result.best is not None
        proposed = replace_function(text, result.target, result.best.code)
        diff = "".join(difflib.unified_diff(text.splitlines(True), proposed.splitlines(True), "current", "proposed"))
        with tempfile.NamedTemporaryFile("w", suffix=".diff", prefix=f"atlas-{job.name}-", delete=False) as handle:
            handle.write(diff)
        uri = from_fs_path(handle.name) or handle.name
        await ls.window_show_document_async(types.ShowDocumentParams(uri=uri, take_focus=True))
    return f"not applied: {result.evidence()}"


def _publish_diagnostics(ls: AtlasLanguageServer, uri: str, result: SolveResult) -> None:
    target = result.target
    kept = [d for d in ls.solve_diagnostics.get(uri, []) if d.range.start.line != target.start_line]
    if not result.passed and result.best is not None and result.best.report is not None:
        report = result.best.report
        failing = [o for o in report.outcomes if not o.passed]
        first = failing[0].message.strip().split("\n")[0] if failing else report.problem
        kept.append(
            types.Diagnostic(
                range=types.Range(
                    start=types.Position(target.start_line, target.start_column),
                    end=types.Position(target.start_line, target.start_column + len(target.signature.split("\n")[0])),
                ),
                message=f"{report.passed}/{report.total} selected tests pass for the best candidate; "
                f"{failing[0].node_id if failing else ''}: {first}",
                severity=types.DiagnosticSeverity.Information,
                source="atlas",
            )
        )
    ls.solve_diagnostics[uri] = kept
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=kept))
