"""npm packages the tests need (jest, vitest, a Node.js that runs TypeScript), installed from the npm registry once per
machine into a cache folder, as the VS Code extension's test installs its own (`npm ci`)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

CACHE = Path(os.environ.get("ATLAS_TEST_NPM_CACHE", Path.home() / ".cache" / "atlas-lsp-tests" / "npm"))


def installed(*packages: str) -> Path:
    """A folder whose node_modules holds ``packages`` (npm specs, e.g. ``vitest@3.2.7``), installed on first use."""
    folder = CACHE / "+".join(package.replace("/", "_") for package in packages)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:  # (pytest-xdist workers, or two sessions, install once)
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".installed").exists():
            npm = shutil.which("npm")
            assert npm is not None, "npm is missing: these tests install their JavaScript runners with it"
            done = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", str(folder), *packages],
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert done.returncode == 0, f"npm install {' '.join(packages)} failed:\n{done.stderr[-3000:]}"
            (folder / ".installed").write_text("\n".join(packages))
    return folder


def link_node_modules(project: Path, *packages: str) -> None:
    """Give ``project`` a node_modules with ``packages`` (a link to the installed cache folder's)."""
    (project / "node_modules").symlink_to(installed(*packages) / "node_modules", target_is_directory=True)
