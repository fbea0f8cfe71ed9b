"""Solve this function, end to end: the real server, the real bundled model, the project's tests in the sandbox."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.e2e.conftest import open_document, start_session, wait_for_status

# every test here runs with the in-process model and through a real OpenAI-compatible endpoint
pytestmark = pytest.mark.usefixtures("model_backend")

CALC = 'import time\n\n\ndef add(a, b):\n    """Return the sum of a and b."""\n    pass\n\n\nLIMIT = 3\n'
TESTS = (
    "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\n"
    "def test_add_negative():\n    assert add(-1, 1) == 0\n"
)


def project(root: Path, tests: str = TESTS) -> Path:
    (root / "tests").mkdir()
    (root / "calc.py").write_text(CALC)
    (root / "tests" / "test_calc.py").write_text(tests)
    return root / "calc.py"


def record_edits(client: LanguageClient, applied: bool = True) -> list[types.ApplyWorkspaceEditParams]:
    edits: list[types.ApplyWorkspaceEditParams] = []

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def on_apply(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        edits.append(params)
        return types.ApplyWorkspaceEditResult(applied=applied)

    return edits


async def code_actions(client: LanguageClient, uri: str, line: int) -> list[Any]:
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line, 0), end=types.Position(line, 0)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    return list(result or [])


def _command_of(action: Any) -> types.Command:
    # lsprotocol may decode a CodeAction that carries a command as a Command on the client side
    return action.command if isinstance(action, types.CodeAction) else action


SOLVE_ADD = {"uri": "", "version": 1, "name": "add", "line": 3}  # (the arguments of atlas.solveFunction for add)


async def solve_add(client: LanguageClient, uri: str) -> Any:
    """Ask the server to solve ``add`` in the open document ``uri``; its answer (started, or running)."""
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="atlas.solveFunction", arguments=[{**SOLVE_ADD, "uri": uri}])
    )


async def open_and_solve_add(client: LanguageClient, root: Path, path: Path, candidates: int, rounds: int) -> str:
    """A session on ``root`` with these solve settings, ``path`` opened (CALC) and ``add`` asked for; its uri."""
    await start_session(client, root, options={"solve": {"candidates": candidates, "repairRounds": rounds}})
    await wait_for_status(client, {"ready"})
    uri = open_document(client, path, CALC)
    await solve_add(client, uri)
    return uri


async def wait_for_end(client: LanguageClient, prefix: str, timeout: float = 240) -> list[Any]:
    for _ in range(int(timeout * 10)):
        for token, reports in client.progress_reports.items():
            if str(token).startswith(prefix) and reports and isinstance(reports[-1], types.WorkDoneProgressEnd):
                return reports
        await asyncio.sleep(0.1)
    raise AssertionError(f"no progress end for {prefix}: {client.progress_reports}")


async def test_action_is_offered_inside_a_function_only(client: LanguageClient, tmp_path: Path) -> None:
    path = project(tmp_path)
    await start_session(client, tmp_path)
    await wait_for_status(client, {"ready"})
    uri = open_document(client, path, CALC)
    inside = await code_actions(client, uri, 5)
    assert len(inside) == 1
    command = _command_of(inside[0])
    assert command.command == "atlas.solveFunction"
    assert command.arguments[0]["name"] == "add" and command.arguments[0]["version"] == 1
    if isinstance(inside[0], types.CodeAction):
        assert inside[0].kind == types.CodeActionKind.QuickFix  # the body is a stub
    assert await code_actions(client, uri, 8) == []  # LIMIT = 3: not in a function
    assert await code_actions(client, uri, 0) == []


@pytest.mark.parametrize("profile", ["visual-studio-code", "neovim"])
async def test_no_action_where_the_tests_runner_is_not_supported(
    client: LanguageClient, tmp_path: Path, profile: str
) -> None:
    """Where no supported runner can run the function's tests (jest not installed, TSX with node --test, a Go file
    outside any module, a Rust file outside any crate, a Java file outside any Maven project, C and C++, which have
    no runner), there is no light bulb that would only fail: a client that
    shows disabled code actions (VS Code) gets the action disabled with the reason, others none; the command says
    why."""
    await start_session(client, tmp_path, profile=profile)
    await wait_for_status(client, {"ready"})
    jest = tmp_path / "web"
    jest.mkdir()
    (jest / "package.json").write_text('{"devDependencies": {"jest": "^29.0.0"}}')
    sources = {
        "web/calc.js": ("javascript", "function add(a, b) {\n  return 0;\n}\n", "this project's tests run with jest"),
        "calc.tsx": ("typescriptreact", "export function add(a: number): number {\n  return 0;\n}\n", "TSX"),
        "calc.go": ("go", "package calc\n\nfunc Add(a int, b int) int {\n\treturn 0\n}\n", "no go.mod above calc.go"),
        "calc.rs": ("rust", "pub fn add(a: i32, b: i32) -> i32 {\n    0\n}\n", "no Cargo.toml above calc.rs"),
        "calc.c": ("c", "int add(int a, int b) {\n    return 0;\n}\n", "no test runner for c"),
        "calc.cpp": ("cpp", "int add(int a, int b) {\n    return 0;\n}\n", "no test runner for cpp"),
        "Calc.java": (
            "java",
            "class Calc {\n  int add(int a) {\n    return 0;\n  }\n}\n",
            "no pom.xml above Calc.java",
        ),
    }
    for name, (language, text, why) in sources.items():
        uri = open_document(client, tmp_path / name, text, language)
        actions = await code_actions(client, uri, text.count("\n") - 2)
        if profile == "visual-studio-code":  # (announces codeAction.disabledSupport)
            (action,) = actions
            assert action.command is None and action.disabled is not None and why in action.disabled.reason, name
        else:
            assert actions == [], name
        answer = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="atlas.solveFunction", arguments=[{"uri": uri, "version": 1, "line": 0}])
        )
        assert answer["status"] == "error" and why in answer["message"], answer


async def test_solve_with_the_bundled_model_applies_a_verified_edit(
    client: LanguageClient, tmp_path: Path, model_backend: str
) -> None:
    path = project(tmp_path)
    edits = record_edits(client)
    await start_session(client, tmp_path, options={"solve": {"candidates": 4, "repairRounds": 1}})
    await wait_for_status(client, {"ready"})
    uri = open_document(client, path, CALC)
    (action,) = await code_actions(client, uri, 4)
    command = _command_of(action)
    answer = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command.command, arguments=command.arguments)
    )
    assert answer["status"] == "started" and answer["job"]
    reports = await wait_for_end(client, "atlas-solve-")
    messages = [getattr(r, "message", "") or "" for r in reports]
    assert isinstance(reports[0], types.WorkDoneProgressBegin) and reports[0].cancellable
    # the in-process model writes one candidate after another; an endpoint gets all four requests at once
    writing = "writing candidate 1/4" if model_backend == "llama-cpp" else "writing 4 candidates (4 at a time)"
    assert any(m.startswith(writing) for m in messages), messages
    assert any(m.startswith("running 2 tests on candidate") for m in messages)
    end = messages[-1]
    assert "2/2 selected tests pass" in end, messages  # SmolLM2 writes add() correctly
    (edit,) = edits
    change = edit.edit.document_changes[0]
    assert change.text_document.version == 1
    new_text = change.edits[0].new_text
    assert new_text.startswith("def add(a, b):") and "return" in new_text
    assert change.edits[0].range.start.line == 3 and change.edits[0].range.end.line == 5
    assert any("2/2 selected tests pass: test_add, test_add_negative" in m.message for m in client.messages)
    assert (tmp_path / "calc.py").read_text() == CALC  # the user's file is changed only by the editor


async def test_cancel_kills_the_work(client: LanguageClient, tmp_path: Path) -> None:
    hanging = (
        "from calc import add\n\n\ndef test_add():\n    import time\n    time.sleep(600)\n    assert add(1, 1) == 2\n"
    )
    path = project(tmp_path, hanging)
    edits = record_edits(client)
    await start_session(client, tmp_path, options={"solve": {"candidates": 4, "repairRounds": 2}})
    await wait_for_status(client, {"ready"})
    uri = open_document(client, path, CALC)
    answer = await solve_add(client, uri)
    for _ in range(600):  # wait until the tests are running
        reports = next((r for t, r in client.progress_reports.items() if str(t).startswith("atlas-solve-")), [])
        if any("running" in (getattr(r, "message", "") or "") for r in reports):
            break
        await asyncio.sleep(0.1)
    again = await solve_add(client, uri)
    assert again == {"status": "running", "job": answer["job"]}  # asked twice: one job
    # a malformed argument cancels nothing (it used to cancel every job)
    for malformed in ([42], [{"job": 7}], [None], [{}]):
        result = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="atlas.cancelSolve", arguments=malformed)
        )
        assert result["cancelled"] == [] and "expected" in result["message"]
    started = asyncio.get_running_loop().time()
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="atlas.cancelSolve", arguments=[{"job": answer["job"]}])
    )
    assert result["cancelled"] == [answer["job"]]
    reports = await wait_for_end(client, "atlas-solve-", timeout=30)
    assert reports[-1].message == "cancelled"
    assert asyncio.get_running_loop().time() - started < 10  # the sleeping test process was killed
    assert edits == []


async def test_a_buffer_edited_during_the_solve_refuses_the_stale_edit(client: LanguageClient, tmp_path: Path) -> None:
    path = project(tmp_path)
    edits = record_edits(client)
    uri = await open_and_solve_add(client, tmp_path, path, 2, 0)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(start=types.Position(8, 0), end=types.Position(8, 0)), text="# edited\n"
                )
            ],
        )
    )
    reports = await wait_for_end(client, "atlas-solve-")
    assert "buffer changed" in reports[-1].message
    assert edits == []


async def test_no_tests_and_no_examples_says_so(client: LanguageClient, tmp_path: Path) -> None:
    (tmp_path / "lone.py").write_text("def lonely(x):\n    pass\n")
    await start_session(client, tmp_path)
    await wait_for_status(client, {"ready"})
    uri = open_document(client, tmp_path / "lone.py", "def lonely(x):\n    pass\n")
    await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="atlas.solveFunction", arguments=[{"uri": uri, "version": 1, "name": "lonely", "line": 0}]
        )
    )
    reports = await wait_for_end(client, "atlas-solve-")
    assert "no test in the workspace refers to lonely" in reports[-1].message


async def test_nothing_passes_offers_apply_anyway_and_marks_the_function(
    client: LanguageClient, tmp_path: Path
) -> None:
    impossible = "from calc import add\n\n\ndef test_add():\n    assert add(2, 2) == 'five'\n"
    path = project(tmp_path, impossible)
    edits = record_edits(client)
    asked: list[types.ShowMessageRequestParams] = []

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def on_request(params: types.ShowMessageRequestParams) -> types.MessageActionItem:
        asked.append(params)
        return types.MessageActionItem(title="Apply anyway")

    uri = await open_and_solve_add(client, tmp_path, path, 1, 0)
    await wait_for_end(client, "atlas-solve-")
    (question,) = asked
    assert "no candidate for add passed" in question.message and "0/1" in question.message
    assert [a.title for a in question.actions or []] == ["Apply anyway", "Show diff"]
    assert len(edits) == 1  # applied only because the user chose to
    diagnostics = client.diagnostics.get(uri, [])
    assert diagnostics and diagnostics[0].source == "atlas" and "0/1 selected tests pass" in diagnostics[0].message
    (action,) = await code_actions(client, uri, 3)
    assert isinstance(action, types.CodeAction) and action.kind == types.CodeActionKind.QuickFix


async def test_tests_that_cannot_be_collected_stop_the_job_early(client: LanguageClient, tmp_path: Path) -> None:
    """Tests that import what the environment lacks cannot run whatever the model writes: after the first candidate
    the function as it is is tested once, gives the same, and the job stops there (not four candidates and two
    repairs fed an import error), saying why."""
    path = project(tmp_path, TESTS + "\n\nimport leftpad_not_installed\n")
    edits = record_edits(client)
    asked: list[types.ShowMessageRequestParams] = []

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def on_request(params: types.ShowMessageRequestParams) -> None:
        asked.append(params)
        return None  # (the user dismisses the question)

    await open_and_solve_add(client, tmp_path, path, 4, 2)
    reports = await wait_for_end(client, "atlas-solve-")
    messages = [getattr(r, "message", "") or "" for r in reports]
    assert "running the tests on the function as it is (they could not be collected)" in messages, messages
    assert not any(m.startswith("repair round") for m in messages), messages
    stopped = [m for m in messages if m.startswith("stopped after ")]
    assert stopped and stopped[0].endswith(": the tests cannot be collected whatever the function's code"), messages
    (question,) = asked
    assert "No module named 'leftpad_not_installed'" in question.message and "stopped after" in question.message
    assert not edits and (tmp_path / "calc.py").read_text() == CALC
