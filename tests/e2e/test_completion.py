"""Inline completion end to end: both protocol paths, cancellation, superseding, the cache, FIM prompts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from atlas_lsp.lsp.documents import SUMMARY_DELAY_S
from tests.e2e.conftest import model_on_gpu, open_document, start_session, wait_for_status
from tests.support.openai_server import OpenAIServer
from tests.support.tiny_fim_model import FIM_TOKENS, build

# every test here runs with the in-process model and through a real OpenAI-compatible endpoint
pytestmark = pytest.mark.usefixtures("model_backend")

LONG_LINE = "# 1 2 3 4 5 6 7 8 9 10 11 12"  # SmolLM2 counts on for hundreds of tokens
# maxTokens for the generations a test catches part-way: seconds on a CPU; on a GPU (about a millisecond a token)
# the most the setting allows, a second or so
LONG_GENERATION = 1024 if model_on_gpu() else 400


def inline_params(uri: str, line: int, character: int) -> types.InlineCompletionParams:
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=line, character=character),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
    )


async def status(client: LanguageClient) -> dict[str, Any]:
    return await client.workspace_execute_command_async(types.ExecuteCommandParams(command="atlas.status"))


async def last_completion(client: LanguageClient) -> dict[str, Any]:
    return await client.workspace_execute_command_async(types.ExecuteCommandParams(command="atlas.lastCompletion"))


async def test_completion_fallback_for_clients_without_inline_completion(
    client: LanguageClient, tmp_path: Path
) -> None:
    await start_session(client, tmp_path, profile="neovim", inline=False)
    await wait_for_status(client, {"ready"})
    uri = open_document(client, tmp_path / "rev.py", "def reverse(text):\n    return tex")
    result = await client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=1, character=14)
        )
    )
    assert result is not None
    items = result.items if isinstance(result, types.CompletionList) else result
    assert len(items) == 1
    item = items[0]
    assert item.text_edit is not None and item.text_edit.new_text.startswith("tex")  # the edit starts at the word
    assert item.text_edit.range.start.character == 11
    assert item.insert_text_format == types.InsertTextFormat.PlainText
    assert item.command is not None and item.command.command == "atlas.didAcceptCompletion"
    await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=item.command.command, arguments=item.command.arguments)
    )
    counts = (await status(client))["completions"]
    assert counts["accepted"] == 1 and counts["shown"] >= 1


async def test_inline_clients_get_no_duplicate_completion_items(client: LanguageClient, tmp_path: Path) -> None:
    await start_session(client, tmp_path)
    await wait_for_status(client, {"ready"})
    uri = open_document(client, tmp_path / "a.py", "def f():\n    return ")
    result = await client.text_document_completion_async(
        types.CompletionParams(text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(1, 11))
    )
    assert result is None


async def test_cancel_request_stops_the_generation(client: LanguageClient, tmp_path: Path) -> None:
    cap = LONG_GENERATION
    options = {"completion": {"debounceMs": 0, "maxTokens": cap, "maxLines": 50, "timeLimitMs": 60000}}
    await start_session(client, tmp_path, options=options)
    await wait_for_status(client, {"ready"})
    uri = open_document(client, tmp_path / "n.py", LONG_LINE)
    params = inline_params(uri, 0, len(LONG_LINE))
    # pytest-lsp sends nothing until awaited: run the request as a task so it can be cancelled mid-way
    request = asyncio.ensure_future(
        client.protocol.send_request_async("textDocument/inlineCompletion", params, msg_id="long-one")
    )
    await _completion_counters(client, lambda c: c["generations"] >= 1)  # it reached the model
    client.protocol.notify("$/cancelRequest", types.CancelParams(id="long-one"))
    try:
        await asyncio.wait_for(request, 30)
    except Exception:  # noqa: BLE001 - pygls answers a cancelled request with an error
        pass
    for _ in range(50):
        counts = (await status(client))["completions"]
        if counts["generationsCancelled"]:
            break
        await asyncio.sleep(0.1)
    assert counts["cancelled"] == 1 and counts["generationsCancelled"] == 1, counts
    last = await last_completion(client)
    assert last["generatedTokens"] < cap  # stopped early, not run to its cap


async def test_a_newer_request_supersedes_the_older(client: LanguageClient, tmp_path: Path) -> None:
    options = {"completion": {"debounceMs": 150, "maxTokens": 16}}
    await start_session(client, tmp_path, options=options)
    await wait_for_status(client, {"ready"})
    uri = open_document(client, tmp_path / "s.py", "def add(a, b):\n    return a")
    first = asyncio.ensure_future(client.text_document_inline_completion_async(inline_params(uri, 1, 11)))
    await asyncio.sleep(0.02)
    second = asyncio.ensure_future(client.text_document_inline_completion_async(inline_params(uri, 1, 12)))
    older, newer = await asyncio.gather(first, second)
    assert older is None  # superseded during its debounce: it never reached the model
    assert newer is not None and newer.items
    counts = (await status(client))["completions"]
    assert counts["generationsSkipped"] == 1 and counts["generations"] == 1, counts


async def test_typing_the_suggestion_is_answered_from_the_cache(client: LanguageClient, tmp_path: Path) -> None:
    await start_session(client, tmp_path)
    await wait_for_status(client, {"ready"})
    text = "def reverse(text):\n    return "
    uri = open_document(client, tmp_path / "r.py", text)
    first = await client.text_document_inline_completion_async(inline_params(uri, 1, 11))
    assert first is not None and first.items
    suggestion = first.items[0].insert_text
    assert isinstance(suggestion, str) and len(suggestion) > 1
    typed = suggestion[0]
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(start=types.Position(1, 11), end=types.Position(1, 11)), text=typed
                )
            ],
        )
    )
    second = await client.text_document_inline_completion_async(inline_params(uri, 1, 12))
    assert second is not None and second.items[0].insert_text == suggestion[1:]
    assert (await last_completion(client))["cached"] is True
    assert (await status(client))["completions"]["cacheHits"] == 1


async def test_fim_prompt_for_a_vocabulary_with_fim_tokens(
    client: LanguageClient, tmp_path: Path, model_backend: str
) -> None:
    model = build(tmp_path / "tiny-fim.gguf")
    served = OpenAIServer(str(model)).start() if model_backend == "openai" else None
    where = {"url": served.url} if served else {"path": str(model)}  # the endpoint's tokenizer names the markers
    options = {"model": {**where, "contextSize": 512}, "completion": {"debounceMs": 0, "maxTokens": 8}}
    try:
        await _check_fim_prompt(client, tmp_path, options)
    finally:
        if served:
            served.kill()


async def _check_fim_prompt(client: LanguageClient, tmp_path: Path, options: dict[str, Any]) -> None:
    await start_session(client, tmp_path, options=options)
    ready = await wait_for_status(client, {"ready", "error"})
    assert ready["state"] == "ready" and ready["fim"] is True
    text = "def area(r):\n    return 3.14 * r\n\nprint(area(2))\n"
    uri = open_document(client, tmp_path / "geo.py", text)
    await client.text_document_inline_completion_async(inline_params(uri, 1, 11))
    last = await last_completion(client)
    assert last["promptKind"] == "fim-repo"  # the vocabulary also declares <|repo_name|> and <|file_sep|>
    prompt = last["prompt"]
    pre, suf, mid = FIM_TOKENS["prefix"], FIM_TOKENS["suffix"], FIM_TOKENS["middle"]
    assert prompt.index(FIM_TOKENS["repo_name"]) < prompt.index(FIM_TOKENS["file_sep"]) < prompt.index(pre)
    assert prompt.index(pre) < prompt.index(suf) < prompt.index(mid)
    assert prompt.endswith(f"{mid}    return ")  # the current line's prefix comes last, after the middle token
    if "path" in options["model"]:  # the in-process model says where its time went (an endpoint cannot)
        assert set(last["modelPhasesMs"]) == {"tokenize", "arrange", "first token", "decode"}
        assert sum(last["modelPhasesMs"].values()) <= last["modelMs"] + 0.1
    else:
        assert last["modelPhasesMs"] == {}
    assert f"{pre}def area(r):\n{suf}3.14 * r\n\nprint(area(2))" in prompt


async def _inline_with_selected_item(
    client: LanguageClient, uri: str, position: types.Position, selected: types.Range, text: str
) -> types.InlineCompletionList | list[types.InlineCompletionItem] | None:
    """An inline request while the editor's completion popup has an item selected (LSP 3.18)."""
    return await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=position,
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Automatic,
                selected_completion_info=types.SelectedCompletionInfo(range=selected, text=text),
            ),
        )
    )


async def test_selected_completion_item_is_extended(client: LanguageClient, tmp_path: Path) -> None:
    await start_session(client, tmp_path)
    await wait_for_status(client, {"ready"})
    text = "def reverse(text):\n    return te"
    uri = open_document(client, tmp_path / "sel.py", text)
    selected_range = types.Range(start=types.Position(1, 11), end=types.Position(1, 13))
    result = await _inline_with_selected_item(client, uri, types.Position(1, 13), selected_range, "text")
    assert result is not None and result.items
    item = result.items[0]
    assert item.range == selected_range
    assert isinstance(item.insert_text, str) and item.insert_text.startswith("text") and len(item.insert_text) > 4
    last = await last_completion(client)
    assert last["prompt"].endswith("    return text")  # the prompt saw the selected item already applied


async def test_a_selected_item_outside_the_document_is_ignored(client: LanguageClient, tmp_path: Path) -> None:
    """A selectedCompletionInfo whose range is not in the document (a client's bug) is not echoed back for the
    editor to replace: the suggestion goes at the cursor."""
    await start_session(client, tmp_path)
    await wait_for_status(client, {"ready"})
    uri = open_document(client, tmp_path / "sel.py", "def reverse(text):\n    return ")
    bogus = types.Range(start=types.Position(9, 0), end=types.Position(9, 4))
    result = await _inline_with_selected_item(client, uri, types.Position(1, 11), bogus, "zzz")
    assert result is not None and result.items
    assert result.items[0].range == types.Range(start=types.Position(1, 11), end=types.Position(1, 11))
    assert "zzz" not in (await last_completion(client))["prompt"]


async def test_a_file_whose_path_has_a_space_and_an_accent(client: LanguageClient, tmp_path: Path) -> None:
    """Its uri comes percent-encoded (`my%20proj%C3%A9t`); pygls keeps documents under the decoded one."""
    root = tmp_path / "my projét"
    root.mkdir()
    await start_session(client, root)
    await wait_for_status(client, {"ready"})
    uri = open_document(client, root / "a b.py", "def reverse(text):\n    return ")
    assert "%20" in uri and "%C3%A9" in uri
    shown = await client.text_document_inline_completion_async(inline_params(uri, 1, 11))
    assert shown is not None and shown.items
    assert (await last_completion(client))["prompt"].endswith("def reverse(text):\n    return ")


async def test_an_empty_file_gets_no_suggestion_and_no_error(client: LanguageClient, tmp_path: Path) -> None:
    """Nothing to continue (no text, no context): no model call, no error in the editor's log. (The empty prompt
    used to reach llama.cpp, whose sampler asserted, and every such request logged an error.)"""
    await start_session(client, tmp_path)
    await wait_for_status(client, {"ready"})
    uri = open_document(client, tmp_path / "empty.py", "")
    before = (await status(client))["completions"]
    result = await client.text_document_inline_completion_async(inline_params(uri, 0, 0))
    after = (await status(client))["completions"]
    assert result is None or not _items(result)
    assert after["generations"] == before["generations"]
    assert after["empty"] == before["empty"] + 1
    assert not [m for m in client.log_messages if m.type == types.MessageType.Error]


async def test_the_empty_last_line_of_a_file_is_where_the_suggestion_goes(
    client: LanguageClient, tmp_path: Path
) -> None:
    """After Enter at the end of a file (VS Code's cursor on the empty line after the final newline), the prompt
    ends with that newline: the model writes the next line, not more of the line above (pygls's conversion put the
    cursor at the end of the line before)."""
    await start_session(client, tmp_path)
    await wait_for_status(client, {"ready"})
    uri = open_document(client, tmp_path / "add.py", "def add(a, b):\n    return a + b\n\n")
    await client.text_document_inline_completion_async(inline_params(uri, 3, 0))
    last = await last_completion(client)
    assert last["prompt"].endswith("    return a + b\n\n"), last["prompt"][-40:]


async def test_a_line_longer_than_the_budget_is_cut_near_the_cursor(
    client: LanguageClient, tmp_path: Path, model_backend: str
) -> None:
    """A minified file's one line: the prompt is the line's end before the cursor, within the token budget (the
    whole line used to reach the model, which kept the last tokens of a prompt far over its context: seconds of
    tokenizing and a full context evaluated per keystroke), and typing on evaluates only what was typed."""
    options = {"completion": {"debounceMs": 0, "timeLimitMs": 60000}, "context": {"budgetTokens": 300}}
    await start_session(client, tmp_path, options=options)
    await wait_for_status(client, {"ready"})
    line = "DATA = [" + ", ".join(str(n % 10) for n in range(30_000))  # 90,000 characters
    uri = open_document(client, tmp_path / "data.py", line + "]\n")
    await client.text_document_inline_completion_async(inline_params(uri, 0, len(line)))
    cold = await last_completion(client)
    assert cold["promptTokens"] <= 300 and 0 < len(cold["prompt"]) < 3_000
    assert line.endswith(cold["prompt"])
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(start=types.Position(0, len(line)), end=types.Position(0, len(line))),
                    text=", 8, 8",
                )
            ],
        )
    )
    await client.text_document_inline_completion_async(inline_params(uri, 0, len(line) + 6))
    typed = await last_completion(client)
    assert not typed["cached"] and typed["prompt"] == cold["prompt"] + ", 8, 8"  # the same start: the cache covers it
    if model_backend != "openai":
        assert typed["evaluatedTokens"] <= 4


def _items(result: Any) -> list[Any]:
    return result.items if isinstance(result, types.InlineCompletionList) else list(result)


REPEATING = "".join(f"    settings.option_{n} = load_setting(raw, 'option_{n}', default={n})\n" for n in range(1, 8))


async def test_repeating_code_is_decoded_in_fewer_model_steps_than_tokens(
    client: LanguageClient, tmp_path: Path, model_backend: str
) -> None:
    """Prompt-lookup guesses on the real model through the real server: in code that repeats a shape, guessed
    tokens are confirmed and several tokens come out of one model step (`decodeSteps` < `generatedTokens`)."""
    await start_session(client, tmp_path)
    await wait_for_status(client, {"ready"})
    body = "def load(raw, settings, defaults):\n" + REPEATING + "    settings.option_"
    uri = open_document(client, tmp_path / "settings.py", body)
    generated = steps = 0
    modes: set[str] = set()
    for version in range(2, 5):  # the same position after an edit above it: the model is asked each time
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=f"# v{version}\n" + body)],
            )
        )
        # the first steps measure what a plain step costs; later ones may guess
        result = await client.text_document_inline_completion_async(inline_params(uri, 9, 20))
        assert result is not None and result.items
        last = await last_completion(client)
        assert not last["cached"]
        generated += last["generatedTokens"]
        steps += last["decodeSteps"]
        modes.add(last["decodeMode"])
    if model_backend == "openai":
        assert steps == 0 and modes == {""}  # the endpoint decodes on its own side and reports no steps
    else:
        assert 0 < steps < generated - 3, (steps, generated)
        if model_on_gpu():  # every step of one shape (guesses, padded): what a GPU's captured graph reuses
            assert "fixed" in modes and modes <= {"fixed", "guess", "plain"}, modes
        else:  # no fixed-shape steps on a CPU (a step costs by its tokens there)
            assert "guess" in modes and modes <= {"guess", "plain"}, modes


def _module(name: str, count: int) -> str:
    return "".join(
        f"def {name}_{number}(values: list[int]) -> int:\n    total = sum(values) * {number}\n    return total\n\n\n"
        for number in range(count)
    )


async def test_going_back_to_a_file_reuses_its_prompt_from_the_cache(
    client: LanguageClient, tmp_path: Path, model_backend: str
) -> None:
    """Switching files replaces the prompt the model holds; the in-process backend parks the old prompt in its KV
    cache, so coming back evaluates only what changed (`reusedTokens` near the whole prompt), not the file again."""
    await start_session(client, tmp_path)
    await wait_for_status(client, {"ready"})
    first_text = _module("scale", 20) + "def scale_all(values):\n    "
    second_text = _module("offset", 20) + "def offset_all(values):\n    "
    first = open_document(client, tmp_path / "scale.py", first_text)
    second = open_document(client, tmp_path / "offset.py", second_text)
    first_line = first_text.count("\n")
    await client.text_document_inline_completion_async(inline_params(first, first_line, 4))
    cold = await last_completion(client)
    await client.text_document_inline_completion_async(inline_params(second, second_text.count("\n"), 4))
    elsewhere = await last_completion(client)
    client.text_document_did_change(  # a character typed where the user left off: the cached suggestion misses
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=first, version=2),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(
                        start=types.Position(line=first_line, character=4),
                        end=types.Position(line=first_line, character=4),
                    ),
                    text="r",
                )
            ],
        )
    )
    await client.text_document_inline_completion_async(inline_params(first, first_line, 5))
    back = await last_completion(client)
    assert not back["cached"] and cold["promptTokens"] > 300
    assert elsewhere["reusedTokens"] < elsewhere["promptTokens"] // 2  # the other file's prompt is another text
    if model_backend == "openai":
        return  # the endpoint keeps (or not) its own cache; what it reused is its business
    assert back["reusedTokens"] >= cold["promptTokens"] - 8, (back, cold)
    assert back["evaluatedTokens"] <= 8


async def test_a_file_opened_meanwhile_leaves_the_prompt_as_it_was(
    client: LanguageClient, tmp_path: Path, model_backend: str
) -> None:
    """A similar file opened while the user works in another (a definition looked up) joins that file's context at
    its next block of lines, not at the next keystroke: the context comes first in the prompt, so taking it at once
    meant evaluating the whole prompt again (6.5 s for 1,645 tokens on a 2-core CPU). Also after a request in the
    new file, coming back finds the prompt's start as it was; in a new block the new file is in the context."""
    await start_session(client, tmp_path)
    await wait_for_status(client, {"ready"})
    text = _module("scale", 20) + "def scale_all(values):\n    "
    uri = open_document(client, tmp_path / "scale.py", text)
    line = text.count("\n")
    shown = await client.text_document_inline_completion_async(inline_params(uri, line, 4))
    suggestion = shown.items[0].insert_text if shown is not None and shown.items else ""
    typed = "z" if not str(suggestion).startswith("z") else "q"  # not what the suggestion shows (no cache hit)
    cold = await last_completion(client)
    assert "scale_more.py" not in cold["prompt"]
    more_text = _module("scale", 12) + "def scale_more(values):\n    "
    more = open_document(client, tmp_path / "scale_more.py", more_text)
    await asyncio.sleep(5 * SUMMARY_DELAY_S)  # summarised by now (a moment after it opened)
    await client.text_document_inline_completion_async(inline_params(more, more_text.count("\n"), 4))
    client.text_document_did_change(  # a character typed back where the user left off
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(start=types.Position(line=line, character=4), end=types.Position(line, 4)),
                    text=typed,
                )
            ],
        )
    )
    await client.text_document_inline_completion_async(inline_params(uri, line, 5))
    back = await last_completion(client)
    assert not back["cached"] and "scale_more.py" not in back["prompt"]
    assert back["prompt"].startswith(cold["prompt"][: cold["prompt"].index("def scale_all")])
    if model_backend != "openai":  # (the endpoint keeps, or not, its own cache)
        assert back["evaluatedTokens"] <= 8, (back["evaluatedTokens"], back["promptTokens"])
    await client.text_document_inline_completion_async(inline_params(uri, 2, 4))  # another block of lines
    assert "scale_more.py" in (await last_completion(client))["prompt"]


async def test_writing_new_lines_evaluates_only_the_new_text(
    client: LanguageClient, tmp_path: Path, model_backend: str
) -> None:
    """Pressing Enter and writing the next lines of a file longer than the prompt's window: the window's start
    stays on its multiple of `context.stepLines` and the other files' context stays as chosen, so each new line's
    request evaluates only what was added (the window slid with every line before, and the whole prompt was
    evaluated again: seconds on a CPU)."""
    options = {"completion": {"debounceMs": 0, "maxTokens": 4}, "context": {"prefixLines": 80, "stepLines": 16}}
    await start_session(client, tmp_path, options=options)
    await wait_for_status(client, {"ready"})
    open_document(client, tmp_path / "offset.py", _module("offset", 12))  # similar open file: context
    text = _module("scale", 30)  # 150 lines
    line = 97  # (97 - 80) % 16 == 1 and 97 % 16 == 1: the next lines keep the window's start and context block
    assert text.split("\n")[line] == "    return total"
    uri = open_document(client, tmp_path / "scale.py", text)
    await client.text_document_inline_completion_async(inline_params(uri, line, 16))
    cold = await last_completion(client)
    assert "offset.py" in cold["prompt"] and cold["promptTokens"] > 400
    for version in range(2, 5):
        statement = f"    total_{version} = total * {version}"
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(start=types.Position(line, 16), end=types.Position(line, 16)),
                        text="\n" + statement,
                    )
                ],
            )
        )
        line += 1
        await client.text_document_inline_completion_async(inline_params(uri, line, len(statement)))
        last = await last_completion(client)
        assert statement in last["prompt"] and last["prompt"].startswith(cold["prompt"][:200])
        if model_backend == "openai":
            continue  # the endpoint keeps (or not) its own cache; what it reused is its business
        assert last["evaluatedTokens"] <= 24, (last["evaluatedTokens"], last["promptTokens"])


async def _code_action_at(client: LanguageClient, uri: str, line: int, character: int) -> None:
    """What an editor sends where the cursor rests (VS Code's light bulb, lsp-mode's modeline)."""
    where = types.Position(line=line, character=character)
    await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=where, end=where),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )


async def _completion_counters(client: LanguageClient, ready: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    for _ in range(600):
        counters = (await status(client))["completions"]
        if ready(counters):
            return counters
        await asyncio.sleep(0.05)
    raise AssertionError(f"the counters never got there: {counters}")


async def test_where_the_cursor_rests_the_prompt_is_evaluated_ahead(
    client: LanguageClient, tmp_path: Path, model_backend: str
) -> None:
    """`completion.warmUp: on`: the code-action request an editor sends where the cursor rests starts a warm-up of
    the prompt's start; the first request there then evaluates only the cursor's line."""
    options = {"completion": {"debounceMs": 0, "maxTokens": 4, "timeLimitMs": 60000, "warmUp": "on"}}
    await start_session(client, tmp_path, options=options)
    await wait_for_status(client, {"ready"})
    text = _module("scale", 30) + "def scale_all(values):\n    "
    uri = open_document(client, tmp_path / "scale.py", text)
    line = text.count("\n")
    await _code_action_at(client, uri, line, 4)
    if model_backend == "openai":  # an endpoint has no prefill: nothing is warmed up, nothing breaks
        await asyncio.sleep(1.0)
        assert (await status(client))["completions"]["warmUps"] == 0
        return
    counters = await _completion_counters(client, lambda c: c["warmUps"] >= 1)
    assert counters["warmUpTokens"] > 300 and counters["warmUpsStopped"] == 0
    await client.text_document_inline_completion_async(inline_params(uri, line, 4))
    last = await last_completion(client)
    assert last["promptTokens"] > 300 and last["evaluatedTokens"] <= 8, last


async def test_a_request_stops_a_running_warm_up_and_reuses_what_it_evaluated(
    client: LanguageClient, tmp_path: Path, model_backend: str
) -> None:
    options = {
        "completion": {"debounceMs": 0, "maxTokens": 4, "timeLimitMs": 60000, "warmUp": "on"},
        "context": {"prefixLines": 400},
    }
    await start_session(client, tmp_path, options=options)
    await wait_for_status(client, {"ready"})
    text = _module("scale", 70) + "def scale_all(values):\n    "  # a prompt of ~2,000 tokens: seconds on a CPU
    uri = open_document(client, tmp_path / "scale.py", text)
    line = text.count("\n")
    await _code_action_at(client, uri, line, 4)
    await asyncio.sleep(1.2)  # the warm-up starts after 0.3 s and is part-way through
    if model_backend == "openai":  # (no prefill through an endpoint)
        assert (await status(client))["completions"]["warmUps"] == 0
        return
    await client.text_document_inline_completion_async(inline_params(uri, line, 4))
    last = await last_completion(client)
    counters = await _completion_counters(client, lambda c: c["warmUps"] >= 1)
    assert last["reusedTokens"] >= counters["warmUpTokens"] > 0, (last, counters)
    if model_on_gpu():  # (its ~2,000 tokens took tens of milliseconds: it had ended, the request reused all of it)
        assert counters["warmUps"] == 1 and counters["warmUpsStopped"] == 0, counters
        assert last["evaluatedTokens"] <= 8, last
        return
    assert counters["warmUps"] == 1 and counters["warmUpsStopped"] == 1, counters
    assert last["evaluatedTokens"] > 0  # the rest was left to the request


async def test_warm_up_auto_is_on_for_a_model_on_a_gpu_only(client: LanguageClient, tmp_path: Path) -> None:
    """The default (`auto`) warms up only a model on a GPU: on the CPU a warm-up costs seconds of the user's CPU."""
    await start_session(client, tmp_path)
    await wait_for_status(client, {"ready"})
    on_gpu = (await status(client))["device"].startswith("gpu")
    assert on_gpu == model_on_gpu()
    text = _module("scale", 10) + "def scale_all(values):\n    "
    uri = open_document(client, tmp_path / "scale.py", text)
    await _code_action_at(client, uri, text.count("\n"), 4)
    await asyncio.sleep(1.0)
    assert (await status(client))["completions"]["warmUps"] == (1 if on_gpu else 0)


async def test_after_an_edit_the_prompt_where_the_user_types_is_evaluated_ahead(
    client: LanguageClient, tmp_path: Path, model_backend: str
) -> None:
    """`completion.warmUp: on`, a client that asks for completions only by hand (Eglot): an edit says where the
    cursor is, and a quiet moment after it warms up the prompt there."""
    options = {"completion": {"debounceMs": 0, "maxTokens": 4, "timeLimitMs": 60000, "warmUp": "on"}}
    await start_session(client, tmp_path, options=options)
    await wait_for_status(client, {"ready"})
    text = _module("scale", 30)
    uri = open_document(client, tmp_path / "scale.py", text)
    end = types.Position(line=text.count("\n"), character=0)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(start=end, end=end), text="def scale_all(values):\n    "
                )
            ],
        )
    )
    if model_backend == "openai":
        await asyncio.sleep(1.0)
        assert (await status(client))["completions"]["warmUps"] == 0
        return
    await _completion_counters(client, lambda c: c["warmUps"] >= 1)
    await client.text_document_inline_completion_async(inline_params(uri, end.line + 1, 4))
    last = await last_completion(client)
    assert last["promptTokens"] > 300 and last["evaluatedTokens"] <= 8, last


def _insert(client: LanguageClient, uri: str, version: int, line: int, character: int, text: str) -> None:
    at = types.Position(line=line, character=character)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangePartial(range=types.Range(start=at, end=at), text=text)],
        )
    )


def _end_of(line: int, character: int, inserted: str) -> tuple[int, int]:
    rows = inserted.split("\n")
    return line + len(rows) - 1, (character if len(rows) == 1 else 0) + len(rows[-1])


async def test_accepting_a_suggestion_is_answered_from_its_speculation(
    client: LanguageClient, tmp_path: Path, model_backend: str
) -> None:
    """`completion.speculate: on`: while the user reads a suggestion, the server computes the one that follows it;
    accepting it (the edit, then the editor's request at its end) is answered from memory, without the model."""
    options = {"completion": {"debounceMs": 0, "timeLimitMs": 60000, "speculate": "on"}}
    await start_session(client, tmp_path, options=options)
    await wait_for_status(client, {"ready"})
    uri = open_document(client, tmp_path / "rev.py", "def reverse(text):\n    return ")
    shown = await client.text_document_inline_completion_async(inline_params(uri, 1, 11))
    assert shown is not None and shown.items
    suggestion = shown.items[0].insert_text
    assert isinstance(suggestion, str) and suggestion
    counters = await _completion_counters(client, lambda c: c["speculations"] >= 1 and not c["speculating"])
    assert counters["speculationsStopped"] == 0 and counters["generations"] == 1, counters
    _insert(client, uri, 2, 1, 11, suggestion)  # the user accepts it
    end_line, end_character = _end_of(1, 11, suggestion)
    await client.text_document_inline_completion_async(inline_params(uri, end_line, end_character))
    assert (await last_completion(client))["cached"] is True
    counters = (await status(client))["completions"]
    assert counters["speculationHits"] == 1 and counters["generations"] == 1, counters
    if model_backend == "llama-cpp":  # what `auto` decides by: the in-process model's measured step time
        assert counters["stepMs"] > 0, counters
    assert counters["stepsCutShort"] == 0, counters  # nothing needed the model while it speculated


PART_WAY = 0.1 if model_on_gpu() else 0.3  # seconds into a long speculation: generating, far from its end


async def _long_suggestion_shown(client: LanguageClient, tmp_path: Path) -> tuple[str, str]:
    """A session with `speculate: on` and long generations, and a suggestion shown at the end of LONG_LINE (its
    speculation then counts on for seconds on a CPU): the document's uri and the suggestion."""
    cap = LONG_GENERATION if model_on_gpu() else 160
    options = {
        "completion": {"debounceMs": 0, "maxTokens": cap, "maxLines": 50, "timeLimitMs": 60000, "speculate": "on"}
    }
    await start_session(client, tmp_path, options=options)
    await wait_for_status(client, {"ready"})
    uri = open_document(client, tmp_path / "n.py", LONG_LINE)
    shown = await client.text_document_inline_completion_async(inline_params(uri, 0, len(LONG_LINE)))
    assert shown is not None and shown.items
    suggestion = shown.items[0].insert_text
    assert isinstance(suggestion, str) and suggestion
    await _completion_counters(client, lambda c: c["speculating"])
    return uri, suggestion


async def test_a_request_stops_a_running_speculation(client: LanguageClient, tmp_path: Path) -> None:
    """A keystroke that does not accept the suggestion needs the model: the speculation makes way (part-way through
    its current model step on a CPU) and caches nothing."""
    uri, _ = await _long_suggestion_shown(client, tmp_path)
    await asyncio.sleep(PART_WAY)  # it is generating by now (SmolLM2 counts on for hundreds of tokens)
    assert (await status(client))["completions"]["speculations"] == 0
    _insert(client, uri, 2, 0, len(LONG_LINE), "#")  # not what was suggested
    await client.text_document_inline_completion_async(inline_params(uri, 0, len(LONG_LINE) + 1))
    assert (await last_completion(client))["cached"] is False
    counters = await _completion_counters(client, lambda c: c["speculationsStopped"] >= 1)
    assert counters["speculationHits"] == 0 and counters["generations"] == 2, counters


async def test_accepting_before_the_speculation_ends_waits_for_it(client: LanguageClient, tmp_path: Path) -> None:
    """The user accepts while the speculation is still generating: the request at the end of the accepted text takes
    its answer when it ends, instead of stopping it and generating the same again."""
    uri, suggestion = await _long_suggestion_shown(client, tmp_path)
    await asyncio.sleep(PART_WAY)  # it started 50 ms after the answer, and counts on (SmolLM2: hundreds of tokens)
    assert (await status(client))["completions"]["speculations"] == 0
    _insert(client, uri, 2, 0, len(LONG_LINE), suggestion)
    end_line, end_character = _end_of(0, len(LONG_LINE), suggestion)
    await client.text_document_inline_completion_async(inline_params(uri, end_line, end_character))
    assert (await last_completion(client))["cached"] is True
    counters = (await status(client))["completions"]
    assert counters["speculations"] == 1 and counters["speculationHits"] == 1, counters
    assert counters["speculationsStopped"] == 0 and counters["generations"] == 1, counters
