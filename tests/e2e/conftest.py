"""End-to-end fixtures: the real `atlas-lsp` process, the real bundled model, a pytest-lsp client."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Union

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities, make_test_lsp_client

from atlas_lsp.model.llama import gpu_offload_supported
from atlas_lsp.model.locate import bundled_model
from tests.support.openai_server import OpenAIServer

SERVER = [sys.executable, "-m", "atlas_lsp", "--log-level", "debug"]
BACKEND_OPTIONS: dict[str, Any] = {}  # model settings merged into every session of the running test


@pytest.fixture(scope="session")
def openai_endpoint() -> Iterator[OpenAIServer]:
    """llama-cpp-python's OpenAI-compatible server with the bundled model, on loopback, for the whole run."""
    server = OpenAIServer(bundled_model().path).start()
    yield server
    server.kill()


@pytest.fixture(params=["llama-cpp", "openai"])
def model_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test once with the in-process model and once through the OpenAI-compatible endpoint."""
    if request.param == "openai":
        server: OpenAIServer = request.getfixturevalue("openai_endpoint")
        BACKEND_OPTIONS.update(backend="openai", url=server.url)
    yield request.param
    BACKEND_OPTIONS.clear()


def model_on_gpu() -> bool:
    """Whether the server's in-process model runs on a GPU here: llama.cpp built with GPU offload (CUDA, Metal),
    where the default `model.gpuLayers` (-1) offloads every layer. A GPU decodes hundreds of tokens in the time a CPU
    evaluates one prompt, so the tests that catch a generation part-way make it longer there, and `auto` settings
    decide differently (warm-ups, fixed-shape model steps)."""
    return gpu_offload_supported()


def make_client() -> LanguageClient:
    """A pytest-lsp client that also records `atlas/status` notifications and answers applyEdit."""
    client = make_test_lsp_client()
    client.statuses: list[dict[str, Any]] = []  # type: ignore[misc]

    @client.feature("atlas/status")
    def on_status(params: Any) -> None:
        raw = params._asdict() if hasattr(params, "_asdict") else params
        client.statuses.append(dict(raw))

    client.registrations: list[types.Registration] = []  # type: ignore[misc]
    converter = client.protocol._converter

    def code_action_or_command(obj: Any, _: Any) -> Any:
        # lsprotocol would decode a CodeAction that carries a command as a Command (CLIENTS.md)
        if isinstance(obj, dict) and not isinstance(obj.get("command"), str):
            return converter.structure(obj, types.CodeAction)
        return converter.structure(obj, types.Command)

    converter.register_structure_hook(Union[types.Command, types.CodeAction], code_action_or_command)  # noqa: UP007

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def on_register(params: types.RegistrationParams) -> None:
        client.registrations.extend(params.registrations)  # type: ignore[attr-defined]

    return client


def capabilities(
    profile: str = "visual-studio-code", inline: bool = True, notebooks: bool = False
) -> types.ClientCapabilities:
    """A stored client profile; LSP 3.18 inline completion and 3.17 notebook sync (as VS Code announces them) are
    set by hand (the stored profiles predate them)."""
    caps = client_capabilities(profile)
    if inline:
        document = caps.text_document or types.TextDocumentClientCapabilities()
        document.inline_completion = types.InlineCompletionClientCapabilities(dynamic_registration=False)
        caps.text_document = document
    if notebooks:
        sync = types.NotebookDocumentSyncClientCapabilities(dynamic_registration=True, execution_summary_support=True)
        caps.notebook_document = types.NotebookDocumentClientCapabilities(synchronization=sync)
    return caps


async def wait_for_status(client: LanguageClient, states: set[str], timeout: float = 60) -> dict[str, Any]:
    """The first `atlas/status` whose state is in ``states`` (already received or still to come)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        for status in client.statuses:  # type: ignore[attr-defined]
            if status.get("state") in states:
                return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"no atlas/status in {states} within {timeout}s: {client.statuses}")  # type: ignore[attr-defined]


async def start_session(
    lsp_client: LanguageClient,
    root: Path,
    options: dict[str, Any] | None = None,
    profile: str = "visual-studio-code",
    inline: bool = True,
    notebooks: bool = False,
) -> types.InitializeResult:
    options = dict(options) if options is not None else {"completion": {"debounceMs": 0, "timeLimitMs": 60000}}
    if BACKEND_OPTIONS:
        options["model"] = {**BACKEND_OPTIONS, **options.get("model", {})}
    return await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities(profile, inline, notebooks),
            root_uri=root.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="ws")],
            initialization_options=options,
        )
    )


def open_document(lsp_client: LanguageClient, path: Path, text: str, language: str = "python") -> str:
    uri = path.as_uri()
    lsp_client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id=language, version=1, text=text)
        )
    )
    return uri


def server_config(env: dict[str, str] | None = None) -> ClientServerConfig:
    return ClientServerConfig(server_command=SERVER, client_factory=make_client, server_env=env)


def lsp_fixture(**kwargs: Any) -> Callable[..., Any]:
    return pytest_lsp.fixture(config=server_config(), **kwargs)


@lsp_fixture()
async def client(lsp_client: LanguageClient) -> AsyncIterator[LanguageClient]:
    """A started server; each test initializes it as it needs."""
    yield lsp_client
    if lsp_client.capabilities is not None and lsp_client.error is None:
        await lsp_client.shutdown_session()
