"""The Emacs package in a real Emacs 28 (batch), against the real server and the bundled model: with eglot 1.9
(attach, completion-at-point with a multi-line suggestion, M-x atlas-solve-function with progress and the edit)
and with lsp-mode 8 (start as an add-on client, status, solve)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.editors.conftest import CALC, ROOT, emacs

HERE = Path(__file__).parent
METHOD = "class Basket:\n    def total(self, prices):\n        "


def run_session(session: str, project: Path, tmp_path: Path) -> dict[str, Any]:
    """Run an Emacs session script in batch against the real server; its JSON result."""
    out = tmp_path / "result.json"
    env = {
        **os.environ,
        "ATLAS_EL": str(ROOT / "editors" / "emacs" / "atlas-lsp.el"),
        "ATLAS_PYTHON": sys.executable,
        "ATLAS_PROJECT": str(project),
        "ATLAS_OUT": str(out),
        "HOME": str(tmp_path),  # no user init, no package state outside the test
    }
    done = subprocess.run(
        [emacs(), "--batch", "-q", "-l", str(HERE / session)], cwd=project, env=env, capture_output=True, text=True,
        timeout=400,
    )  # fmt: skip
    assert out.exists(), f"Emacs wrote no result (exit {done.returncode}): {done.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(out.read_text())
    log = (project.parent / "server.log").read_text() if (project.parent / "server.log").exists() else ""
    assert "error" not in result, f"{result.get('error')}\n{done.stderr[-2000:]}\n{log[-2000:]}"
    return result


def test_package_in_a_real_emacs_with_eglot(project: Path, tmp_path: Path) -> None:
    (project / "rev.py").write_text("def reverse(text):\n    return \n" + METHOD + "\n")
    result = run_session("emacs_session.el", project, tmp_path)
    assert result["emacs"].startswith("28.")
    assert result["managed"] is True and result["server-class"] == "atlas-lsp-eglot-server"
    assert result["ready"] is True and result["mode-line"] == " atlas:ready"
    lines = result["after-completion"].split("\n")
    assert lines[1].startswith("    return ") and len(lines[1].strip()) > len("return"), lines
    inserted = result["method-completion"]
    assert inserted.strip(), result
    for line in inserted.split("\n")[1:]:
        assert line == "" or line.startswith("        "), inserted  # following lines keep the body's indentation
    assert result["job"] and result["solved"] is True
    progress = result["progress"]
    # eglot may answer the progress create late; progress then begins with the latest step
    assert any(m.startswith(("writing candidate", "running 2 tests on candidate")) for m in progress), progress
    assert "2/2 selected tests pass" in progress[-1], progress
    after = result["after-solve"]
    assert "    pass\n" not in after and "return" in after.split("def add")[1] and after.endswith("LIMIT = 3\n")
    assert result["modified"] is True  # applied to the buffer; the file is saved by the user
    assert (project / "calc.py").read_text() == CALC


def test_package_with_lsp_mode(project: Path, tmp_path: Path) -> None:
    """The lsp-mode registration (Debian's lsp-mode 8.0.0): an add-on client that starts the server and solves."""
    installed = list(Path("/usr/share/emacs/site-lisp/elpa").glob("lsp-mode-*"))
    assert installed, "lsp-mode is missing: apt-get install -y elpa-lsp-mode"
    result = run_session("emacs_lsp_mode_session.el", project, tmp_path)
    assert result["lsp-mode"] is True and result["ready"] is True and result["status"] == "ready"
    assert result["job"] and result["solved"] is True, result
    after = result["after-solve"]
    assert "    pass\n" not in after and "return" in after.split("def add")[1] and after.endswith("LIMIT = 3\n")
    assert (project / "calc.py").read_text() == CALC
