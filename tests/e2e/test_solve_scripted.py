"""The verified loop's logic over LSP with a scripted model: the real server and its real OpenAI backend talk to an
endpoint that answers with queued replies, so the outcome is known: the first candidate fails, the repair (which
must be shown the failing assertion) passes and is proposed with its evidence."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.e2e.conftest import open_document, server_config, start_session, wait_for_status
from tests.e2e.test_solve import CALC, _command_of, code_actions, project, record_edits, wait_for_end
from tests.support.scripted_openai import ScriptedEndpoint

WRONG = "```python\ndef add(a, b):\n    return a - b\n```"
RIGHT = "```python\ndef add(a, b):\n    return a + b\n```"


async def solve_through_the_action(client: LanguageClient, uri: str, line: int) -> list[Any]:
    """Choose the solve action at ``line`` (the only one there) and wait for the job's progress to end."""
    (action,) = await code_actions(client, uri, line)
    command = _command_of(action)
    await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command.command, arguments=command.arguments)
    )
    return await wait_for_end(client, "atlas-solve-")


async def test_a_failing_candidate_is_repaired_from_its_failure_and_the_repair_proposed(
    client: LanguageClient, tmp_path: Path
) -> None:
    path = project(tmp_path)
    edits = record_edits(client)
    with ScriptedEndpoint([WRONG, RIGHT]).running() as endpoint:
        options = {
            "model": {"backend": "openai", "url": endpoint.url},
            "solve": {"candidates": 1, "repairRounds": 2},
        }
        await start_session(client, tmp_path, options=options)
        ready = await wait_for_status(client, {"ready", "error"})
        assert ready["state"] == "ready" and ready["model"] == "scripted", ready
        uri = open_document(client, path, CALC)
        reports = await solve_through_the_action(client, uri, 4)
    messages = [getattr(r, "message", "") or "" for r in reports]
    assert "repair round 1" in messages, messages
    assert "2/2 selected tests pass" in messages[-1], messages
    (edit,) = edits
    # the model dropped the docstring; the proposal keeps the original
    proposed = edit.edit.document_changes[0].edits[0].new_text
    assert proposed == 'def add(a, b):\n    """Return the sum of a and b."""\n    return a + b'
    assert len(endpoint.requests) == 2  # one candidate, one repair; it stopped at the first pass
    repair = "\n".join(m["content"] for m in endpoint.requests[1]["messages"])
    assert "return a - b" in repair  # the failed candidate goes back to the model
    assert "assert -1 == 5" in repair and "test_add" in repair  # with the failing test and its assertion
    assert any("2/2 selected tests pass: test_add, test_add_negative" in m.message for m in client.messages)


async def test_a_project_whose_path_has_a_space_and_an_accent(client: LanguageClient, tmp_path: Path) -> None:
    """Clients send such paths percent-encoded (`my%20proj%C3%A9t`): the file is found open, the action offered
    and the function solved (its tests found and run in the sandbox), with the completions (test_completion); an
    unsaved buffer and a file of another project open meanwhile do not stop it (their paths are not the project's:
    the copy raised ValueError)."""
    root = tmp_path / "my projét"
    root.mkdir()
    path = project(root)
    edits = record_edits(client)
    with ScriptedEndpoint([RIGHT]).running() as endpoint:
        options = {"model": {"backend": "openai", "url": endpoint.url}, "solve": {"candidates": 1, "repairRounds": 0}}
        await start_session(client, root, options=options)
        await wait_for_status(client, {"ready"})
        uri = open_document(client, path, CALC)
        assert "%20" in uri and "%C3%A9" in uri
        # other open buffers: unsaved, and of another project (they are not the project's: the copy leaves them out)
        open_document(client, tmp_path / "elsewhere.py", "def add(a, b):\n    return 0\n")
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri="untitled:Untitled-1", language_id="python", version=1, text="x"
                )
            )
        )
        reports = await solve_through_the_action(client, uri, 4)
    messages = [getattr(r, "message", "") or "" for r in reports]
    assert "2/2 selected tests pass" in messages[-1], messages
    (edit,) = edits
    assert edit.edit.document_changes[0].text_document.uri == uri


SERVER_SECRET = "ATLAS_TEST_DATABASE_URL"


@pytest_lsp.fixture(config=server_config({**os.environ, SERVER_SECRET: "sqlite:///from-the-editor.db"}))
async def client_with_a_variable(lsp_client: LanguageClient) -> AsyncIterator[LanguageClient]:
    """A server started with a variable in its environment (as an editor started from a shell has)."""
    yield lsp_client
    if lsp_client.capabilities is not None and lsp_client.error is None:
        await lsp_client.shutdown_session()


async def test_the_variables_the_tests_need_come_through_the_settings(
    client_with_a_variable: LanguageClient, tmp_path: Path
) -> None:
    """Test runs start from a scrubbed environment: a test that needs the server's DATABASE_URL-like variable
    (`solve.passEnv`, by pattern) and a settings module (`solve.env`) gets both; HOME stays the sandbox's."""
    client = client_with_a_variable
    edits = record_edits(client)
    (tmp_path / "tests").mkdir()
    path = tmp_path / "config.py"
    path.write_text("import os\n\n\ndef database():\n    return None\n")
    (tmp_path / "tests" / "test_config.py").write_text(
        "import os\n\nfrom config import database\n\n\n"
        "def test_database():\n"
        f"    assert database() == os.environ['{SERVER_SECRET}'] + '?mode=' + os.environ['APP_MODE']\n"
        "    assert os.environ['HOME'] != '/not/the/sandbox'\n"
    )
    answer = (
        f"```python\ndef database():\n    return os.environ['{SERVER_SECRET}'] + '?mode=' + os.environ['APP_MODE']\n```"
    )
    with ScriptedEndpoint([answer]).running() as endpoint:
        solve = {
            "candidates": 1,
            "repairRounds": 0,
            "passEnv": ["ATLAS_TEST_*"],
            "env": {"APP_MODE": "test", "HOME": "/not/the/sandbox"},
        }
        await start_session(
            client, tmp_path, options={"model": {"backend": "openai", "url": endpoint.url}, "solve": solve}
        )
        await wait_for_status(client, {"ready"})
        uri = open_document(client, path, path.read_text())
        reports = await solve_through_the_action(client, uri, 3)
    messages = [getattr(r, "message", "") or "" for r in reports]
    assert "1/1 selected tests pass" in messages[-1], messages
    (edit,) = edits
    assert "os.environ['APP_MODE']" in edit.edit.document_changes[0].edits[0].new_text
