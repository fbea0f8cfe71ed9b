"""Cross-file context end to end: a completion in one file sees a class defined in another, unopened file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.e2e.conftest import open_document, start_session, wait_for_status

SHAPES = '''class Circle:
    """A circle of a given radius."""

    def __init__(self, radius: float) -> None:
        self.radius = radius

    def area(self) -> float:
        """The area of the circle."""
        return 3.14159 * self.radius ** 2
'''
MAIN = "from geometry.shapes import Circle\n\n\ndef unit_area():\n    circle = Circle(1.0)\n    return circle."


async def index_messages(client: LanguageClient, count: int) -> list[str]:
    """The end messages of the first ``count`` index builds (the index builds in the background, with progress)."""
    for _ in range(200):
        ended = [
            reports[-1].message or ""
            for token, reports in client.progress_reports.items()
            if str(token).startswith("atlas-index") and type(reports[-1]).__name__ == "WorkDoneProgressEnd"
        ]
        if len(ended) >= count:
            return ended
        await asyncio.sleep(0.1)
    raise AssertionError("no index build ended")


async def context_after_circle_dot(client: LanguageClient, uri: str) -> list[dict[str, str]]:
    """The context parts of a completion after `circle.` in MAIN."""
    await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=5, character=18),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        )
    )
    parts: list[dict[str, str]] = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="atlas.lastContext")
    )
    return parts


async def test_completion_prompt_includes_a_class_from_an_unopened_file(client: LanguageClient, tmp_path: Path) -> None:
    (tmp_path / "geometry").mkdir()
    (tmp_path / "geometry" / "shapes.py").write_text(SHAPES)
    (tmp_path / "main.py").write_text(MAIN)
    await start_session(client, tmp_path)
    await wait_for_status(client, {"ready"})
    assert (await index_messages(client, 1))[0].startswith("2 files")
    watched = [r for r in client.registrations if r.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES]  # type: ignore[attr-defined]
    assert watched, "the server asks to be told about file changes, to refresh the index"
    uri = open_document(client, tmp_path / "main.py", MAIN)
    parts = await context_after_circle_dot(client, uri)
    circle = [p for p in parts if "class Circle" in p["text"]]
    assert circle, parts
    assert circle[0]["file"].endswith("shapes.py")
    assert "def area(self) -> float:" in circle[0]["text"] or "A circle" in circle[0]["text"]
    assert "self.radius = radius" not in circle[0]["text"]


async def test_edits_keep_the_tree_current(client: LanguageClient, tmp_path: Path) -> None:
    (tmp_path / "lib.py").write_text("def helper(x):\n    return x\n")
    await start_session(client, tmp_path)
    await wait_for_status(client, {"ready"})
    uri = open_document(client, tmp_path / "main.py", "import lib\n\n")
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(start=types.Position(2, 0), end=types.Position(2, 0)),
                    text="def run():\n    return helper(",
                )
            ],
        )
    )
    await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=3, character=18),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        )
    )
    parts = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="atlas.lastContext"))
    assert any("def helper(x):" in p["text"] for p in parts), parts


def _typed(uri: str, version: int, column: int, text: str) -> types.DidChangeTextDocumentParams:
    return types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[
            types.TextDocumentContentChangePartial(
                range=types.Range(start=types.Position(2, column), end=types.Position(2, column)), text=text
            )
        ],
    )


async def test_edits_are_parsed_in_the_pause_after_them(client: LanguageClient, tmp_path: Path) -> None:
    """Typing that no request reads (answered from the suggestion cache, or with suggestions off) is parsed once
    the edits pause, not by the next request that reads the tree; a burst of edits is parsed once."""
    await start_session(client, tmp_path)
    await wait_for_status(client, {"ready"})
    uri = open_document(client, tmp_path / "main.py", "def f(x):\n    return x\n\n")
    await asyncio.sleep(0.5)  # (what opening starts reads the tree: it would parse the edits below itself)
    for column, character in enumerate("total = f(1)"):
        client.text_document_did_change(_typed(uri, column + 2, column, character))
    status = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="atlas.status"))
    assert status["syntax"]["parsedWhileIdle"] == 0  # still typing
    await asyncio.sleep(1.0)
    status = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="atlas.status"))
    assert status["syntax"]["parsedWhileIdle"] == 1  # the twelve keystrokes, parsed once, in the pause
    await asyncio.sleep(0.5)
    status = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="atlas.status"))
    assert status["syntax"]["parsedWhileIdle"] == 1  # nothing more to parse


async def test_a_keystrokes_edit_is_parsed_while_its_request_waits_out_the_debounce(
    client: LanguageClient, tmp_path: Path
) -> None:
    """With `completion.debounceMs` at its default, a keystroke's own edit is parsed in the pause its request waits
    for a newer one (the request then reads a parsed tree); without a debounce the request parses it itself."""
    await start_session(client, tmp_path, {"completion": {"timeLimitMs": 60000}})
    await wait_for_status(client, {"ready"})

    async def keystroke(uri: str, version: int, column: int) -> int:
        client.text_document_did_change(_typed(uri, version, column, "t"))
        await client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=2, character=column + 1),
                context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
            )
        )
        status = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="atlas.status"))
        parsed: int = status["syntax"]["parsedWhileIdle"]
        return parsed

    first = open_document(client, tmp_path / "main.py", "def f(x):\n    return x\n\n")
    second = open_document(client, tmp_path / "other.py", "def g(y):\n    return y\n\n")  # (no cache hit there)
    await asyncio.sleep(0.5)  # (what opening starts reads the tree)
    assert await keystroke(first, 2, 0) == 1  # parsed while the request waited
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"atlas": {"completion": {"debounceMs": 0}}})
    )
    await asyncio.sleep(0.5)
    assert await keystroke(second, 2, 0) == 1  # the request parsed it: nothing left for the pause


async def test_a_folder_added_to_the_workspace_is_indexed(client: LanguageClient, tmp_path: Path) -> None:
    """VS Code's "Add Folder to Workspace": the index is built again with the new folder (it kept the first set)."""
    first, second = tmp_path / "app", tmp_path / "lib"
    (first).mkdir()
    (first / "main.py").write_text(MAIN)
    (second / "geometry").mkdir(parents=True)
    (second / "geometry" / "shapes.py").write_text(SHAPES)
    await start_session(client, first)
    await wait_for_status(client, {"ready"})

    assert (await index_messages(client, 1))[0].startswith("1 files")
    folder = types.WorkspaceFolder(uri=second.as_uri(), name="lib")
    client.workspace_did_change_workspace_folders(
        types.DidChangeWorkspaceFoldersParams(event=types.WorkspaceFoldersChangeEvent(added=[folder], removed=[]))
    )
    assert (await index_messages(client, 2))[1].startswith("2 files")
    uri = open_document(client, first / "main.py", MAIN)
    parts = await context_after_circle_dot(client, uri)
    assert [p for p in parts if "class Circle" in p["text"]], parts
