"""The OpenAI-compatible backend against a real server on loopback (llama-cpp-python's, with the bundled model)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from atlas_lsp.model.backend import CancelToken, GenerationRequest, ModelError
from atlas_lsp.model.locate import bundled_model
from atlas_lsp.model.openai import EndpointError, EndpointOptions, OpenAIBackend
from tests.support.openai_server import OpenAIServer, free_port
from tests.support.tiny_fim_model import FIM_TOKENS, build

COUNTING = "# 1 2 3 4 5 6 7 8 9 10 11 12"  # SmolLM2 counts on for hundreds of tokens


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIServer]:
    running = OpenAIServer(bundled_model().path).start()
    yield running
    running.kill()


def connect(url: str, **options: object) -> OpenAIBackend:
    return OpenAIBackend.connect(EndpointOptions(url=url, **options))  # type: ignore[arg-type]


def test_connects_and_reports_the_served_model(server: OpenAIServer) -> None:
    backend = connect(server.url + "/v1")  # with or without /v1
    info = backend.info
    assert info.backend == "openai" and info.name == "SmolLM2-135M-Instruct.Q4_1"
    assert info.path == server.url + "/v1" and info.device.startswith("remote")
    assert info.latency_ms is not None and info.latency_ms > 0
    assert info.chat_messages and info.max_parallel == 4
    assert info.fim is None  # SmolLM2's vocabulary has no FIM markers
    assert backend.count_tokens("def add(a, b):") == 5  # short tails: estimated, no round trip
    backend.close()


def test_long_texts_are_counted_from_the_servers_own_ratio_without_a_round_trip(server: OpenAIServer) -> None:
    """A prompt's stable part is estimated from the tokens per byte the server's tokenizer showed (at connect,
    then on each opened document), with a margin that errs on the side of fewer tokens in the prompt. (An
    estimate from another kind of text can be low: near the context size the completion asks the exact count.)"""
    backend = connect(server.url)
    route = backend._tokenize_route
    assert route is not None
    document = "".join(f"def add_{n}(a, b):\n    return a + b + {n}  # sum\n\n" for n in range(80))
    exact = len(backend._tokens_via(route, document, backend.info.name))
    counted = backend.exact_counts
    estimate = backend.count_tokens(document)
    assert backend.exact_counts == counted  # no round trip
    assert 0.7 * exact <= estimate <= 1.4 * exact  # from the connect-time sample: a different kind of code
    backend.prepare(document)  # the user opens it: its exact count teaches the ratio
    assert backend.exact_counts == counted + 1
    assert exact <= backend.count_tokens(document) <= 1.12 * exact
    huge = document * (backend.info.context_size // max(1, exact))  # about the context size
    before = backend.exact_counts
    assert backend.count_tokens_exact(huge) == len(backend._tokens_via(route, huge, backend.info.name))
    assert backend.exact_counts == before + 1  # asked for near the context size (tests/unit/test_prompt_budget.py)
    backend.close()


def test_streams_prefix_and_chat_generations(server: OpenAIServer) -> None:
    backend = connect(server.url)
    stream = backend.generate(GenerationRequest("def add(a, b):\n    return", max_tokens=8), CancelToken())
    pieces = list(stream)
    assert len(pieces) > 1 and stream.stats.generated_tokens >= 2  # streamed, not one blob
    assert "".join(pieces) == stream.stats.text and stream.stats.text.strip()
    chat = GenerationRequest(
        "unused", max_tokens=60, messages=(("user", "Write a Python function add(a, b) that returns a + b."),)
    )
    stream = backend.generate(chat, CancelToken())
    assert "def add" in "".join(stream)
    stopped = backend.generate(GenerationRequest(COUNTING, max_tokens=60, stop=(" 14",)), CancelToken())
    assert "".join(stopped) == " 13" and stopped.stats.stop_reason in ("stop", "eos")
    backend.close()


def test_cancel_closes_the_stream_and_the_server_stops(server: OpenAIServer) -> None:
    backend = connect(server.url)
    cancel = CancelToken()
    stream = backend.generate(GenerationRequest(COUNTING, max_tokens=1000), cancel)
    for _piece in stream:
        cancel.cancel()
    assert stream.stats.stop_reason == "cancelled" and stream.stats.generated_tokens < 5
    assert backend.streams_closed_early == 1
    deadline = time.monotonic() + 10
    while "Disconnected from client" not in server.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "Disconnected from client" in server.log.read_text()  # the server saw the stream close and stopped
    follow_up = backend.generate(GenerationRequest("def f():\n    return", max_tokens=4), CancelToken())
    assert "".join(follow_up) and follow_up.stats.stop_reason in ("length", "eos")  # the server serves the next one
    backend.close()


def test_fim_markers_come_from_the_servers_vocabulary(tmp_path: Path) -> None:
    fim_server = OpenAIServer(str(build(tmp_path / "tiny-fim.gguf"))).start()
    try:
        info = connect(fim_server.url).info
        assert info.fim is not None
        assert (info.fim.prefix, info.fim.suffix, info.fim.middle) == (
            FIM_TOKENS["prefix"], FIM_TOKENS["suffix"], FIM_TOKENS["middle"],
        )  # fmt: skip
        assert (info.fim.repo_name, info.fim.file_sep) == (FIM_TOKENS["repo_name"], FIM_TOKENS["file_sep"])
        forced = connect(fim_server.url, fim_tokens=("<a>", "<b>", "<c>")).info.fim  # settings win
        assert forced is not None and forced.prefix == "<a>" and forced.repo_name is None
    finally:
        fim_server.kill()


def test_api_key_comes_from_the_environment_and_never_reaches_the_log(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    locked = OpenAIServer(bundled_model().path, api_key="s3cret-key-123").start()
    caplog.set_level(logging.DEBUG)
    try:
        monkeypatch.delenv("TEAM_KEY", raising=False)
        with pytest.raises(EndpointError, match="TEAM_KEY") as refused:
            connect(locked.url, api_key_env="TEAM_KEY")
        assert "401" in str(refused.value)
        monkeypatch.setenv("TEAM_KEY", "s3cret-key-123")
        backend = connect(locked.url, api_key_env="TEAM_KEY")
        assert "".join(backend.generate(GenerationRequest("x =", max_tokens=3), CancelToken()))
        backend.close()
    finally:
        locked.kill()
    assert "s3cret-key-123" not in caplog.text


def test_unreachable_endpoint_fails_fast_with_the_reason() -> None:
    started = time.monotonic()
    with pytest.raises(EndpointError, match="unreachable"):
        connect(f"http://127.0.0.1:{free_port()}", retries=2)
    assert time.monotonic() - started < 5  # bounded retries with a short backoff


def test_endpoint_killed_mid_request_is_reported_and_recovery_is_noticed() -> None:
    endpoint = OpenAIServer(bundled_model().path).start()
    backend = connect(endpoint.url, retries=1)
    events: list[str | None] = []
    back = threading.Event()

    def on_health(problem: str | None) -> None:
        events.append(problem)
        if problem is None:
            back.set()

    backend.set_health_listener(on_health)
    try:
        stream = backend.generate(GenerationRequest(COUNTING, max_tokens=1000), CancelToken())
        with pytest.raises(EndpointError, match="broke"):
            for _piece in stream:
                endpoint.kill()
        assert stream.stats.stop_reason == "error"
        assert events and events[0] is not None
        with pytest.raises(EndpointError):  # while down, requests fail at once instead of hanging
            "".join(backend.generate(GenerationRequest("x", max_tokens=2), CancelToken()))
        endpoint.start()
        assert back.wait(30), events
        assert backend.down is None
        assert "".join(backend.generate(GenerationRequest("def f():\n    return", max_tokens=4), CancelToken()))
    finally:
        backend.close()
        endpoint.kill()


def test_doctor_reports_the_endpoint_and_its_latency(server: OpenAIServer) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "atlas_lsp", "--log-level", "error", "doctor", "--endpoint", server.url, "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    report = json.loads(done.stdout)
    assert done.returncode == 0, report
    checks = report["checks"]
    assert checks["backend"] == "openai" and checks["endpoint"] == server.url
    assert checks["model"] == "SmolLM2-135M-Instruct.Q4_1" and checks["endpoint_latency_ms"] > 0
    assert checks["generated_tokens"] > 0 and "gpu_offload_supported" not in checks  # nothing loaded locally


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "ftp://host", "http://[::1", "http://"])
def test_a_bad_url_is_named_at_once(url: str) -> None:
    with pytest.raises(ModelError, match=r"atlas\.model\.url .* is not a usable URL"):
        connect(url)
    done = subprocess.run(
        [sys.executable, "-m", "atlas_lsp", "--log-level", "error", "doctor", "--endpoint", url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1 and "is not a usable URL" in done.stdout and "Traceback" not in done.stderr


async def test_an_unreachable_endpoint_is_retried_a_bad_url_is_not() -> None:
    from atlas_lsp.config import ModelSettings
    from atlas_lsp.model.service import ModelService

    statuses: list[str] = []
    models = ModelService(on_status=lambda status: statuses.append(status.message))
    try:
        bad = await models.load(ModelSettings(backend="openai", url="ftp://host"))
        assert bad.state == "error" and "not a usable URL" in bad.message
        assert models._retry is None  # a setting will not mend by itself: no retries, one message
        down = await models.load(ModelSettings(backend="openai", url=f"http://127.0.0.1:{free_port()}", retries=0))
        assert down.state == "error" and "unreachable" in down.message
        assert models._retry is not None  # tried again in the background until it answers or settings change
    finally:
        models.close()
