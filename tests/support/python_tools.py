"""Python command-line tools the tests run (Poetry), installed from PyPI once per machine into a virtualenv of their
own in a cache folder, as npm_packages.py installs the JavaScript runners."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

CACHE = Path(os.environ.get("ATLAS_TEST_TOOL_CACHE", Path.home() / ".cache" / "atlas-lsp-tests" / "tools"))


def installed_tool(*requirements: str) -> Path:
    """The ``bin`` folder of a virtualenv holding ``requirements`` (e.g. ``poetry==2.5.1``), installed on first use."""
    folder = CACHE / "+".join(requirements).replace("=", "-").replace("/", "_")
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{folder}.lock", "w") as lock:  # (two sessions, or pytest-xdist workers, install once)
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".installed").exists():
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(folder)], check=True, timeout=300)
            done = subprocess.run(
                [str(folder / "bin" / "python"), "-m", "pip", "install", "-q", *requirements],
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert done.returncode == 0, f"pip install {' '.join(requirements)} failed:\n{done.stderr[-3000:]}"
            (folder / ".installed").write_text("\n".join(requirements))
    return folder / "bin"
