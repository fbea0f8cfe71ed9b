"""The team-server mode over LSP: an endpoint that is down, killed or slow to come up gives a status, never a crash,
and the server recovers by itself when the endpoint is back."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from atlas_lsp.model.locate import bundled_model
from tests.e2e.conftest import open_document, start_session, wait_for_status
from tests.e2e.test_completion import inline_params
from tests.e2e.test_solve import CALC, _command_of, code_actions, project, wait_for_end
from tests.support.openai_server import OpenAIServer, free_port


def team_options(url: str) -> dict[str, object]:
    return {"model": {"backend": "openai", "url": url, "retries": 1}, "completion": {"debounceMs": 0}}


async def test_killed_endpoint_gives_a_status_and_the_server_recovers(client: LanguageClient, tmp_path: Path) -> None:
    endpoint = OpenAIServer(bundled_model().path).start()
    try:
        path = project(tmp_path)
        await start_session(client, tmp_path, options=team_options(endpoint.url))
        ready = await wait_for_status(client, {"ready", "error"})
        assert ready["state"] == "ready" and ready["backend"] == "openai", ready
        assert ready["path"] == endpoint.url and ready["latencyMs"] > 0
        assert "round trip" in ready["message"]
        uri = open_document(client, tmp_path / "r.py", "def reverse(text):\n    return ")
        assert await client.text_document_inline_completion_async(inline_params(uri, 1, 11)) is not None

        endpoint.kill()
        client.statuses.clear()  # type: ignore[attr-defined]
        # a new position (not in the suggestion cache, with text before it) must ask the dead endpoint
        quiet = await client.text_document_inline_completion_async(inline_params(uri, 0, 18))
        assert quiet is None  # completions quietly return nothing
        down = await wait_for_status(client, {"error"})
        assert "unreachable" in down["message"] and "retrying" in down["message"], down

        calc = open_document(client, path, CALC)  # a solve while it is down says why, once
        (action,) = await code_actions(client, calc, 4)
        command = _command_of(action)
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=command.command, arguments=command.arguments)
        )
        reports = await wait_for_end(client, "atlas-solve-", timeout=30)
        assert "not ready" in reports[-1].message and "unreachable" in reports[-1].message
        said = [m.message for m in client.messages if "not ready" in m.message]
        assert len(said) == 1, said

        client.statuses.clear()  # type: ignore[attr-defined]
        endpoint.start()
        back = await wait_for_status(client, {"ready"}, timeout=45)
        assert back["backend"] == "openai"
        again = await client.text_document_inline_completion_async(inline_params(uri, 1, 11))
        assert again is not None and again.items
    finally:
        endpoint.kill()


async def test_endpoint_that_is_not_up_yet_is_retried_until_it_answers(client: LanguageClient, tmp_path: Path) -> None:
    port = free_port()
    endpoint = OpenAIServer(bundled_model().path, port=port)
    try:
        await start_session(client, tmp_path, options=team_options(endpoint.url))
        first = await wait_for_status(client, {"ready", "error"})
        assert first["state"] == "error" and "unreachable" in first["message"], first
        endpoint.start()
        ready = await wait_for_status(client, {"ready"}, timeout=60)
        assert ready["model"] == "SmolLM2-135M-Instruct.Q4_1"
    finally:
        endpoint.kill()


async def test_llama_server_infill_fills_in_the_middle_from_parts(client: LanguageClient, tmp_path: Path) -> None:
    """A server that knows its model's FIM markers while we cannot find them (llama-server's /infill): the
    completion goes out as parts, the current line's prefix kept apart for KV reuse, other files as extra context."""
    from tests.support.scripted_openai import ScriptedEndpoint

    (tmp_path / "util.py").write_text("def shout(text):\n    return text.upper()\n")
    with ScriptedEndpoint(["text[::-1]"], llama_server=True).running() as endpoint:
        await start_session(client, tmp_path, options=team_options(endpoint.url))
        ready = await wait_for_status(client, {"ready", "error"})
        assert ready["state"] == "ready" and ready["fim"] is True, ready
        await asyncio.sleep(0.5)  # the workspace index has util.py
        uri = open_document(client, tmp_path / "r.py", "from util import shout\n\ndef reverse(text):\n    return \n")
        result = await client.text_document_inline_completion_async(inline_params(uri, 3, 11))
    assert result is not None and result.items[0].insert_text == "text[::-1]"
    (sent,) = endpoint.infill_requests
    assert sent["input_prefix"].endswith("def reverse(text):\n") and sent["prompt"] == "    return "
    assert sent["input_suffix"] == "" and sent["stream"] is True and sent["cache_prompt"] is True
    assert [chunk["filename"] for chunk in sent["input_extra"]] == ["util.py"]  # the imported name's definition
    assert "def shout(text)" in sent["input_extra"][0]["text"]
    assert not endpoint.requests  # nothing went to /v1/completions
    last = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="atlas.lastCompletion"))
    assert last["promptKind"] == "infill" and last["reusedTokens"] == 7  # llama-server's own cache count
