"""Which `atlas.solveFunction` requests start a job: one job per function while it is being solved."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

import pytest
from lsprotocol import types

from atlas_lsp.lsp import solve
from atlas_lsp.server import AtlasLanguageServer, build_server

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
