"""The VS Code extension builds, lints, unit-tests and packages (npm), and mirrors every server setting."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

from atlas_lsp.config import settings_reference
from tests.editors.conftest import ROOT

EXTENSION = ROOT / "editors" / "vscode"


def npm(*args: str) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("npm")
    assert executable is not None, "npm is missing: the VS Code extension builds with Node.js 20+ and npm"
    done = subprocess.run([executable, *args], cwd=EXTENSION, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"npm {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_extension_settings_mirror_the_server_settings() -> None:
    properties = json.loads((EXTENSION / "package.json").read_text())["contributes"]["configuration"]["properties"]
    for key, default, _doc in settings_reference():
        assert f"atlas.{key}" in properties, f"atlas.{key} is missing from the extension's settings"
        assert properties[f"atlas.{key}"]["default"] == default, key
    own = {key for key in properties if key.startswith("atlas.server.")}
    server = {f"atlas.{key}" for key, _, _ in settings_reference()}
    assert set(properties) == server | own  # nothing the server does not know


def test_extension_builds_lints_tests_and_packages() -> None:
    npm("ci", "--no-audit", "--no-fund")
    npm("run", "lint")
    tested = npm("test")
    assert "# fail 0" in tested.stdout and "# pass" in tested.stdout
    vsix = EXTENSION / "atlas-lsp.vsix"
    vsix.unlink(missing_ok=True)
    npm("run", "package")
    with zipfile.ZipFile(vsix) as package:
        names = set(package.namelist())
        assert "extension/dist/extension.js" in names
        assert not any(name.startswith("extension/node_modules/") for name in names)  # bundled by esbuild
        bundle = package.read("extension/dist/extension.js").decode()
        assert "atlas/status" in bundle and "vscode-languageclient" in bundle  # the client library is inside
        manifest = json.loads(package.read("extension/package.json"))
        assert manifest["main"] == "./dist/extension.js"
