"""The foundation, end to end: the real server, the real bundled model, LSP over stdio."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.e2e.conftest import open_document, start_session, wait_for_status

SOURCE = "def add(a, b):\n    return "


async def inline(client: LanguageClient, uri: str, line: int, character: int) -> types.InlineCompletionList | None:
    result = await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        )
    )
    return result if not isinstance(result, list) else types.InlineCompletionList(items=result)


async def test_inline_completion_from_the_warm_model(client: LanguageClient, tmp_path: Path) -> None:
    result = await client_ready(client, tmp_path)
    assert result["state"] == "ready"
    assert result["device"] == "cpu" and result["contextSize"] == 4096 and result["loadSeconds"] > 0
    assert "mollm2" in result["model"]
    uri = open_document(client, tmp_path / "add.py", SOURCE)
    completion = await inline(client, uri, 1, 11)
    assert completion is not None and completion.items
    text = completion.items[0].insert_text
    assert isinstance(text, str) and text.strip()
    assert completion.items[0].command is not None
    assert completion.items[0].command.command == "atlas.didAcceptCompletion"
    # The model stays loaded: a second request is served without another load.
    again = await inline(client, uri, 1, 11)
    assert again is not None and again.items
    assert [s["state"] for s in client.statuses].count("loading") == 1  # type: ignore[attr-defined]


async def client_ready(client: LanguageClient, root: Path, **kwargs: object) -> dict[str, object]:
    await start_session(client, root, **kwargs)  # type: ignore[arg-type]
    return await wait_for_status(client, {"ready", "error"})


async def test_model_load_reports_progress(client: LanguageClient, tmp_path: Path) -> None:
    await client_ready(client, tmp_path)
    kinds: list[str] = []
    for _ in range(100):  # the end is sent once the client has answered the progress's creation: it may come after
        # the "ready" status (the suite's run on a busy 2-core machine saw Begin alone at that point)
        reports = [r for token, r in client.progress_reports.items() if str(token).startswith("atlas-model")]
        kinds = [type(value).__name__ for value in reports[0]] if reports else []
        if kinds and kinds[-1] == "WorkDoneProgressEnd":
            break
        await asyncio.sleep(0.05)
    assert kinds and kinds[0] == "WorkDoneProgressBegin" and kinds[-1] == "WorkDoneProgressEnd", kinds


async def test_settings_change_at_run_time(client: LanguageClient, tmp_path: Path) -> None:
    await client_ready(client, tmp_path)
    uri = open_document(client, tmp_path / "add.py", SOURCE)
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"atlas": {"completion": {"enabled": False}}})
    )
    await asyncio.sleep(0.2)
    assert await inline(client, uri, 1, 11) is None
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"atlas": {"completion": {"enabled": True, "maxTokens": "x"}}})
    )
    await asyncio.sleep(0.2)
    completion = await inline(client, uri, 1, 11)
    assert completion is not None and completion.items
    warnings = [m.message for m in client.messages if "completion.maxTokens" in m.message]
    assert len(warnings) == 1, client.messages


async def test_bad_initialization_option_is_named_once(client: LanguageClient, tmp_path: Path) -> None:
    await client_ready(client, tmp_path, options={"completion": {"debounceMs": -5}, "bogus": {"x": 1}})
    messages = [m.message for m in client.messages if "atlas.completion.debounceMs" in m.message]
    assert len(messages) == 1, client.messages
    status = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="atlas.status"))
    assert status["state"] == "ready"


async def test_unknown_documents_and_positions_still_get_answers(client: LanguageClient, tmp_path: Path) -> None:
    await client_ready(client, tmp_path)
    unknown = await inline(client, (tmp_path / "never-opened.py").as_uri(), 0, 0)
    assert unknown is None
    uri = open_document(client, tmp_path / "add.py", SOURCE)
    out_of_range = await inline(client, uri, 99, 99)
    assert out_of_range is None or out_of_range.items is not None
    completion = await inline(client, uri, 1, 11)
    assert completion is not None and completion.items


async def test_request_before_the_model_is_ready_is_empty(client: LanguageClient, tmp_path: Path) -> None:
    await start_session(client, tmp_path)
    uri = open_document(client, tmp_path / "add.py", SOURCE)
    early = await inline(client, uri, 1, 11)  # may or may not beat the load; must never fail
    assert early is None or early.items
    await wait_for_status(client, {"ready"})


async def test_bad_model_path_is_an_error_status_not_a_crash(client: LanguageClient, tmp_path: Path) -> None:
    missing = tmp_path / "missing.gguf"
    status = await client_ready(client, tmp_path, options={"model": {"path": str(missing)}})
    assert status["state"] == "error"
    assert "missing.gguf" in status["message"]
    assert any("missing.gguf" in m.message and m.type == types.MessageType.Error for m in client.messages)
    uri = open_document(client, tmp_path / "add.py", SOURCE)
    assert await inline(client, uri, 1, 11) is None  # still answering, with nothing
    # Fixing the setting at run time loads the bundled model.
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"atlas": {"model": {"path": None}}})
    )
    client.statuses.clear()  # type: ignore[attr-defined]
    assert (await wait_for_status(client, {"ready", "error"}))["state"] == "ready"


async def test_corrupt_model_file_is_an_error_status(client: LanguageClient, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x00" * 64)
    status = await client_ready(client, tmp_path, options={"model": {"path": str(corrupt)}})
    assert status["state"] == "error" and "corrupt.gguf" in status["message"]
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="atlas.status"))
    assert result["state"] == "error"
