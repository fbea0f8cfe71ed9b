"""Which `atlas.solveFunction` requests start a job: one job per function while it is being solved."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcMethodNotFound

from atlas_lsp.lsp import solve
from atlas_lsp.server import AtlasLanguageServer, build_server
from atlas_lsp.solve.loop import Candidate, SolveResult
from atlas_lsp.solve.runs import TestOutcome, TestReport
from atlas_lsp.solve.target import find_function
from atlas_lsp.syntax.document import SyntaxDocument
from atlas_lsp.syntax.registry import load_registry

URI = "file:///w/calc.py"
ARGUMENTS = [{"uri": URI, "version": 1, "name": "add", "line": 0}]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Any:
    server = build_server()
    steps = server.protocol.lsp_initialize(
        types.InitializeParams(capabilities=types.ClientCapabilities(), root_uri=None)
    )
    next(steps)  # pygls has built the workspace
    steps.close()
    server.workspace.put_text_document(
        types.TextDocumentItem(uri=URI, language_id="python", version=1, text="def add(a, b):\n    pass\n")
    )
    shown: list[str] = []
    server.shown = shown

    def started(work: Coroutine[Any, Any, Any]) -> None:
        work.close()  # (the job itself is not what this tests)

    monkeypatch.setattr(server, "run_in_background", started)
    monkeypatch.setattr(server, "window_show_message", lambda params: shown.append(params.message))
    yield server
    server.close_services()


def test_asking_again_while_it_is_solved_answers_with_the_running_job(server: AtlasLanguageServer) -> None:
    first = solve.solve_command(server, ARGUMENTS)
    assert first["status"] == "started"
    again = solve.solve_command(server, ARGUMENTS)
    assert again == {"status": "running", "job": first["job"]}
    assert server.shown == ["atlas: already solving add"]  # type: ignore[attr-defined]
    other = solve.solve_command(server, [{**ARGUMENTS[0], "name": "sub"}])
    assert other["status"] == "started"  # another function: its own job


def test_a_job_that_waits_on_the_users_answer_or_was_cancelled_does_not_hold_the_function(
    server: AtlasLanguageServer,
) -> None:
    """A job proposing its result may wait on the user's answer for as long as they leave the question open; a
    cancelled one is ending: asking again starts a new job."""
    first = solve.solve_command(server, ARGUMENTS)
    server.solve_jobs[first["job"]].solving = False
    second = solve.solve_command(server, ARGUMENTS)
    assert second["status"] == "started" and second["job"] != first["job"]
    server.solve_jobs[second["job"]].cancel.cancel()
    third = solve.solve_command(server, ARGUMENTS)
    assert third["status"] == "started" and third["job"] not in (first["job"], second["job"])


async def test_nothing_passed_with_an_editor_that_cannot_ask_is_said_and_applies_nothing(
    server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client whose answer to window/showMessageRequest is an error (one without it: "method not found") is told
    that nothing passed, with the best score, and the job ends with that rather than with "solve failed"."""
    document = SyntaxDocument(load_registry().languages["python"], "def add(a, b):\n    pass\n")
    target = find_function(document, "calc.py", name="add")
    assert target is not None
    report = TestReport([TestOutcome("test_calc.py::test_add", False, "assert 0 == 4")])
    best = Candidate("def add(a, b):\n    return 0", "candidate 1", report)
    result = SolveResult(target, ["test_calc.py::test_add"], "the project's tests", [best], best)

    async def cannot_ask(params: types.ShowMessageRequestParams) -> None:
        raise JsonRpcMethodNotFound.of("window/showMessageRequest")

    monkeypatch.setattr(server, "window_show_message_request_async", cannot_ask)
    job = solve.SolveJob("j1", URI, 1, "add")
    outcome = await solve._offer_anyway(server, job, "def add(a, b):\n    pass\n", result)
    assert outcome == "not applied: 0/1 selected tests passed (best candidate): test_add, 0.0 s"
    assert server.shown == [f"atlas: no candidate for add passed every selected test; best: {outcome[13:]}"]
