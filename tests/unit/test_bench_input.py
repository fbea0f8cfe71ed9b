"""What `bench completion` and `bench decode` measure in: the pinned input, or a Python file given with --file."""

from __future__ import annotations

import argparse
import hashlib
import io
from pathlib import Path

import pytest

from atlas_lsp.bench.cli import run_bench
from atlas_lsp.bench.completion import (
    FILE_LINES,
    PINNED_INPUT,
    POSITIONS,
    BenchInputError,
    describe_source,
    other_file_text,
    positions,
    source_file,
)
from atlas_lsp.bench.report import header

# the text the recorded runs since 078cbdc measured (docs/benchmarks.md): a change to it makes runs incomparable
PINNED_SHA1 = "094ba732847e06ea4d6ffe3c026a88db1f812948"


def test_the_pinned_input_is_the_text_the_recorded_runs_measured() -> None:
    text = PINNED_INPUT.read_text(encoding="utf-8")
    assert hashlib.sha1(text.encode()).hexdigest() == PINNED_SHA1
    measured, others = source_file(), other_file_text()
    assert len(measured.split("\n")) == FILE_LINES == len(others.split("\n"))
    assert f"{measured}\n{others}" == text
    # the positions of the recorded runs: ends of lines in method bodies, in the file's second half
    places = positions(measured, POSITIONS)
    assert len(places) == POSITIONS and places[:3] == [(1001, 27), (1041, 22), (1094, 51)]
    rows = measured.split("\n")
    assert all(
        line > FILE_LINES // 2 and rows[line].startswith("        ") and column == len(rows[line])
        for line, column in places
    )


def test_the_pinned_input_does_not_follow_the_package_source() -> None:
    """It was this package's live source: each change to a module moved the positions and prompts."""
    package = Path(__file__).resolve().parents[2] / "atlas_lsp"
    live = "\n".join(path.read_text() for path in sorted(package.rglob("*.py")))
    assert source_file() not in live  # (the modules have changed since 078cbdc)
    assert source_file() == source_file()


def test_a_file_of_the_users_is_measured_in_its_first_lines(tmp_path: Path) -> None:
    """Functions at the top level (a body indented once): positions come from any indented line."""
    functions = [
        f"def step_{number}(value):\n    total = value + {number}\n    return total\n" for number in range(900)
    ]
    path = tmp_path / "mine.py"
    path.write_text("\n".join(functions))
    text = source_file(path=path)
    assert len(text.split("\n")) == FILE_LINES and path.read_text().startswith(text)
    places = positions(text, POSITIONS)
    assert len(places) == POSITIONS and all(text.split("\n")[line].startswith("    ") for line, _ in places)
    assert describe_source(text, path) == "mine.py, its first 2,000 lines (`--file`)"  # its name, not its path
    assert describe_source(source_file(), None).startswith("the pinned input (this package's modules at 078cbdc)")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.txt", b"def f():\n    return 1\n", r"measures a Python file \(\.py\)"),
        ("latin.py", "def f():\n    return 'caf\xe9'\n".encode("latin-1"), "cannot be read as UTF-8"),
        ("flat.py", b"x = 1\ny = 2\n" * 50, "no indented code lines in the second half"),
        ("missing.py", None, "cannot be read"),
    ],
)
def test_a_file_that_cannot_be_measured_is_refused(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(BenchInputError, match=message):
        source_file(path=path)


@pytest.mark.parametrize("suite", ["completion", "decode"])
def test_the_command_refuses_such_a_file_before_loading_a_model(tmp_path: Path, suite: str) -> None:
    path = tmp_path / "notes.md"
    path.write_text("# notes\n")
    args = argparse.Namespace(suite=suite, overrides=[], output="-", file=str(path), model="/nonexistent.gguf")
    with pytest.raises(SystemExit, match=r"^--file .*notes\.md: the completion benchmark measures a Python file"):
        run_bench(args, io.StringIO())


def test_other_suites_refuse_a_file(tmp_path: Path) -> None:
    args = argparse.Namespace(suite="context", overrides=[], output="-", files=10, file=str(tmp_path / "a.py"))
    with pytest.raises(SystemExit, match="--file applies to bench completion and decode, not context"):
        run_bench(args, io.StringIO())


def test_the_section_names_its_input() -> None:
    lines = header("Inline completion (`atlas-lsp bench completion`)", "m, cpu", "mine.py, its first 10 lines").split(
        "\n"
    )
    assert lines[4:6] == ["- model: m, cpu", "- input: mine.py, its first 10 lines"]
    assert lines[6].startswith("- commit: ")
    assert "- input:" not in header("Context engine (`atlas-lsp bench context`)")
