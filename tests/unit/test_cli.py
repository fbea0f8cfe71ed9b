"""The command line as a user runs it: real processes, the real bundled model."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "atlas_lsp"]


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_doctor_reports_a_working_setup() -> None:
    done = run("doctor", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    checks = report["checks"]
    assert report["problems"] == []
    assert checks["architecture"] == "llama" and checks["context_size"] == 4096
    assert checks["fim_tokens"] is None and checks["chat_template"] is True
    assert checks["tokens_per_second"] > 0 and checks["load_seconds"] > 0
    assert checks["draft_tokens"] == 8 and 0 < checks["model_steps"] <= checks["generated_tokens"]
    assert checks["parked_prompts"] == 3
    # a one-token model step, measured by the sample's generation; `completion.speculate: auto` decides by it
    assert checks["step_ms"] > 0 and checks["speculate_auto"] == ("on" if checks["step_ms"] <= 30 else "off")
    assert checks["prompt_tokenization"] == "before-newline"  # the bundled vocabulary passes the piece check
    assert isinstance(checks["gpu_offload_supported"], bool)
    assert checks["llama-cpp-python"].startswith("0.3")
    # what "solve this function" runs each language's tests with here (the machine has Node.js 20 and cargo; CI
    # installs Debian's Go)
    assert re.search(r"node:test: node \d+\.\d+ \(", checks["solve_runners"]), checks["solve_runners"]
    assert re.search(r"cargo test: cargo \d+\.\d+", checks["solve_runners"]), checks["solve_runners"]
    assert re.search(r"go test: go version go\d+\.\d+", checks["solve_runners"]), checks["solve_runners"]
    assert checks["solve_sandbox"].startswith("isolated (") and "through an overlay" in checks["solve_sandbox"]
    assert re.search(r"without pytest runs its tests with atlas-lsp's pytest \d+\.\d+", checks["solve_runners"])


def test_doctor_fails_with_the_reason(tmp_path: Path) -> None:
    done = run("doctor", "--model", str(tmp_path / "nope.gguf"))
    assert done.returncode == 1
    assert "PROBLEM: model file not found" in done.stdout


def test_complete_prints_the_line_with_the_suggestion() -> None:
    done = run("complete", "examples/demo.py:11")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("    return") and len(done.stdout.strip()) > len("return")


def test_complete_rejects_a_bad_location() -> None:
    assert run("complete", "examples/demo.py:999").returncode == 2
    assert run("complete", "no-such-file.py:1").returncode == 2
    assert run("complete", "examples/demo.py").returncode == 2
    binary = run("complete", f"{sys.executable}:1")
    assert binary.returncode == 2 and "is not UTF-8 text" in binary.stderr


NOTEBOOK = {
    "nbformat": 4,
    "nbformat_minor": 5,
    "metadata": {"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}},
    "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Geometry\n", "Areas of shapes."]},
        {
            "cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
            "source": ["import math\n", "\n", "\n", "def circle_area(r):\n", "    return math.pi * r * r"],
        },
        {
            "cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
            "source": ["def ring_area(outer, inner):\n", "    return "],
        },
    ],
}  # fmt: skip


def test_complete_in_a_notebook_cell(tmp_path: Path) -> None:
    """NOTEBOOK.ipynb:CELL:LINE[:COL]: the completion is made in the whole notebook laid out as one text (the cells
    above are in its prompt), as the server makes one in a cell; a markdown cell or a cell or line outside the
    notebook is refused with why."""
    from atlas_lsp.oneshot import read_location

    notebook = tmp_path / "geometry.ipynb"
    notebook.write_text(json.dumps(NOTEBOOK))
    place = read_location(f"{notebook}:3:2")
    rows = place.text.split("\n")
    assert rows[place.line] == "    return " and place.column is None and place.language == "python"
    assert "import math" in "\n".join(rows[: place.line]) and "# Geometry" in place.text
    assert read_location(f"{notebook}:3:1:5").column == 4
    done = run("complete", f"{notebook}:3:2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("    return") and len(done.stdout.strip()) > len("return")
    assert "prefix prompt" in done.stderr and "markdown" not in done.stderr
    for location, why in [
        (f"{notebook}:1:1", "cell 1 of .* is a markdown cell"),
        (f"{notebook}:9:1", "has 3 cells; cell 9 is outside it"),
        (f"{notebook}:3:7", "cell 3 of .* has 2 lines; line 7 is outside it"),
        (f"{notebook}:3", r"expected NOTEBOOK\.ipynb:CELL:LINE\[:COL\]"),
    ]:
        refused = run("complete", location)
        assert refused.returncode == 2 and re.search(why, refused.stderr), (location, refused.stderr)
    (tmp_path / "broken.ipynb").write_text("{not json")
    broken = run("context", f"{tmp_path / 'broken.ipynb'}:1:1")
    assert broken.returncode == 2 and "is not a notebook (not JSON" in broken.stderr


def test_serves_over_tcp() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([*CLI, "--tcp", f"127.0.0.1:{port}"], cwd=ROOT, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline, "server never listened"
                time.sleep(0.2)
        with connection:
            body = json.dumps(
                {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"processId": None, "capabilities": {}}}
            ).encode()
            connection.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            reply = b""
            while b"capabilities" not in reply:
                chunk = connection.recv(65536)
                assert chunk, "connection closed"
                reply += chunk
            assert b"inlineCompletionProvider" in reply
    finally:
        server.kill()
        server.wait(timeout=30)


def test_context_shows_parts_with_tokens_and_reasons(tmp_path: Path) -> None:
    (tmp_path / "geometry").mkdir()
    (tmp_path / "geometry" / "shapes.py").write_text(
        'class Circle:\n    """A circle."""\n\n    def area(self):\n        return 1\n'
    )
    (tmp_path / "main.py").write_text(
        "from geometry.shapes import Circle\n\n\ndef unit():\n    c = Circle()\n    return c.\n"
    )
    done = run("context", str(tmp_path / "main.py") + ":6:14", "--root", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "2 files indexed" in done.stdout
    assert "definition  geometry/shapes.py" in done.stdout and "tokens)" in done.stdout
    assert "Circle: imported and used near the cursor" in done.stdout
    assert "class Circle:" in done.stdout and "return 1" not in done.stdout


def test_context_of_an_unknown_language_is_plain_text(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello\n")
    done = run("context", str(tmp_path / "notes.txt") + ":1:1")
    assert done.returncode == 0 and "plain text" in done.stdout


def test_solve_from_a_shell(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    source = 'def add(a, b):\n    """Return the sum of a and b."""\n    pass\n'
    (tmp_path / "calc.py").write_text(source)
    (tmp_path / "tests" / "test_calc.py").write_text(
        "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
    )
    done = run("solve", str(tmp_path / "calc.py") + "::add", "--k", "2", "--rounds", "1", "--json")
    assert done.returncode in (0, 3), done.stderr
    result = json.loads(done.stdout)
    assert result["function"] == "add" and result["tests"] == ["tests/test_calc.py::test_add"]
    assert result["tests_label"] == "the project's tests" and result["model_calls"] >= 1
    assert "writing candidate 1/2" in done.stderr  # progress goes to stderr
    assert (tmp_path / "calc.py").read_text() == source  # without --apply the file is untouched
    if result["passed"]:
        applied = run("solve", str(tmp_path / "calc.py") + "::add", "--k", "2", "--apply")
        assert applied.returncode == 0 and "return" in (tmp_path / "calc.py").read_text()


def test_solve_reports_a_missing_function(tmp_path: Path) -> None:
    (tmp_path / "calc.py").write_text("x = 1\n")
    done = run("solve", str(tmp_path / "calc.py") + "::nope")
    assert done.returncode == 1 and "no function" in done.stderr


def test_solve_check_lists_and_runs_the_selected_tests_without_a_model(tmp_path: Path) -> None:
    """--check: which tests a solve would select and how they fare on the function as it is, with the variables
    the tests need from --pass-env and --env (the runs' environment is scrubbed otherwise)."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "calc.py").write_text("import os\n\n\ndef add(a, b):\n    return a + b + int(os.environ['OFFSET'])\n")
    (tmp_path / "tests" / "test_calc.py").write_text(
        "import os\n\nimport pytest\n\nfrom calc import add\n\n\n"
        "def test_add():\n    assert add(2, 3) == 5\n\n\n"
        "def test_add_from_the_shell():\n    assert add(1, 1) == 2 and os.environ['ATLAS_CHECK_SHELL'] == 'yes'\n\n\n"
        "@pytest.mark.skipif(True, reason='not here')\ndef test_add_elsewhere():\n    assert add(0, 0) == 0\n"
    )
    location = str(tmp_path / "calc.py") + "::add"
    scrubbed = run("solve", location, "--check")
    assert scrubbed.returncode == 1, scrubbed.stderr  # OFFSET is not there: both fail
    assert "add in " in scrubbed.stdout and "run with pytest" in scrubbed.stdout and "KeyError" in scrubbed.stdout
    done = subprocess.run(
        [*CLI, "solve", location, "--check", "--json", "--env", "OFFSET=0", "--pass-env", "ATLAS_CHECK_*"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "ATLAS_CHECK_SHELL": "yes"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["runner"] == "pytest" and (result["passed"], result["total"], result["skipped"]) == (2, 2, 1)
    assert [t["id"] for t in result["tests"]] == [
        "tests/test_calc.py::test_add",
        "tests/test_calc.py::test_add_from_the_shell",
        "tests/test_calc.py::test_add_elsewhere",
    ]
    assert run("solve", location, "--check", "--env", "OFFSET").returncode != 0  # (NAME=VALUE)
