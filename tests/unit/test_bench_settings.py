"""`atlas-lsp bench --set`: settings for the measured server and model, checked strictly and named in the section."""

from __future__ import annotations

import argparse
import io
import subprocess
from pathlib import Path

import pytest

from atlas_lsp.bench.cli import describe_overrides, parse_overrides, run_bench
from atlas_lsp.bench.completion import model_settings, server_command
from atlas_lsp.bench.lsp_client import RawLspProcess
from atlas_lsp.bench.report import with_settings


def test_values_are_read_as_json_or_taken_as_strings() -> None:
    raw = parse_overrides(["model.threads=1", "model.flashAttention=off", "completion.maxTokens=8"])
    assert raw == {"model": {"threads": 1, "flashAttention": "off"}, "completion": {"maxTokens": 8}}
    assert describe_overrides(raw) == 'model.threads=1, model.flashAttention="off", completion.maxTokens=8'


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("model.thread=1", "known setting"),  # a typo is not silently ignored
        ("model.threads", "SECTION.KEY=VALUE"),
        ("model.threads=-1", "model.threads: -1 must be at least 0"),
        ("model.flashAttention=sometimes", "model.flashAttention"),
    ],
)
def test_a_setting_the_server_would_not_take_stops_the_benchmark(item: str, message: str) -> None:
    with pytest.raises(SystemExit, match=message):
        parse_overrides([item])


def test_suites_without_settings_refuse_them() -> None:
    args = argparse.Namespace(suite="context", overrides=["model.threads=1"], output="-", files=10)
    with pytest.raises(SystemExit, match="completion and decode"):
        run_bench(args, io.StringIO())


@pytest.mark.parametrize(("suite", "output"), [("completion", "docs/benchmarks.md"), ("decode", "-")])
def test_a_server_log_is_for_printed_completion_runs_only(suite: str, output: str) -> None:
    """Debug logging costs the server time: such a run is not recorded."""
    args = argparse.Namespace(suite=suite, overrides=[], output=output, server_log="/tmp/x.log")
    with pytest.raises(SystemExit, match="--server-log applies to bench completion printed only"):
        run_bench(args, io.StringIO())


def test_the_measured_server_writes_its_debug_log_where_asked(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    assert server_command()[-2:] == ["--log-level", "warning"]
    server = RawLspProcess(server_command(str(log)), stderr=subprocess.DEVNULL)
    try:
        server.initialize({}, tmp_path.as_uri(), {})
    finally:
        server.close()
    assert " DEBUG " in log.read_text()


def test_the_model_section_reaches_the_in_process_model() -> None:
    settings = model_settings("/models/x.gguf", {"model": {"threads": 1, "draftTokens": 0}, "completion": {}})
    assert (settings.path, settings.threads, settings.draft_tokens) == ("/models/x.gguf", 1, 0)
    assert model_settings(None).threads == 0
    # the raw baseline is always the in-process model, whatever the server is told to use
    assert model_settings(None, {"model": {"backend": "openai"}}).backend == "llama-cpp"


def test_the_section_names_its_settings_after_its_header() -> None:
    body = "## Title\n\n- date: 2026-11-26\n- commit: abc\n\n| measure |\n|---|\n- not a header line\n"
    assert with_settings(body, "model.threads=1").split("\n")[:6] == [
        "## Title",
        "",
        "- date: 2026-11-26",
        "- commit: abc",
        "- settings: model.threads=1",
        "",
    ]
