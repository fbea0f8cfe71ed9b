"""The Node.js a project pins (.nvmrc, .node-version, .tool-versions, package.json's volta) runs its tests, as a
version manager installed it; the newest installed where no node is on PATH (an editor started from a desktop
launcher)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atlas_lsp.solve.runners.node_versions import NodeChoice, choose_node, installed_versions, matching, project_pin


def node_at(folder: Path) -> Path:
    """A stand-in ``node`` file where a version manager keeps one (these tests only look for it)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "node").write_text("#!/bin/sh\n")
    (folder / "node").chmod(0o755)
    return folder / "node"


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An environment whose HOME holds versions from nvm, fnm, asdf and Volta, and no node on PATH."""
    home = tmp_path / "home"
    node_at(home / ".nvm" / "versions" / "node" / "v20.11.1" / "bin")
    node_at(home / ".nvm" / "versions" / "node" / "v22.12.0" / "bin")
    node_at(home / ".local" / "share" / "fnm" / "node-versions" / "v22.3.0" / "installation" / "bin")
    node_at(home / ".asdf" / "installs" / "nodejs" / "18.20.4" / "bin")
    node_at(home / ".volta" / "tools" / "image" / "node" / "23.6.1" / "bin")
    (home / ".nvm" / "versions" / "node" / "v24.0.0").mkdir()  # (a folder without its node: passed over)
    return {"HOME": str(home), "PATH": str(tmp_path / "empty-bin"), "N_PREFIX": str(tmp_path / "no-n")}


def test_installed_versions_and_what_a_pin_names(home: dict[str, str]) -> None:
    versions = installed_versions(home)
    assert sorted(versions) == [(18, 20, 4), (20, 11, 1), (22, 3, 0), (22, 12, 0), (23, 6, 1)]
    cases = {
        "22": (22, 12, 0), "v22": (22, 12, 0), "22.3": (22, 3, 0), "v20.11.1": (20, 11, 1), "18.20.4": (18, 20, 4),
        "node": (23, 6, 1), "latest": (23, 6, 1), "lts/*": (22, 12, 0), "lts/jod": (22, 12, 0),
        "lts/iron": (20, 11, 1), "lts/hydrogen": (18, 20, 4), "lts/gallium": None,
        "lts/-1": (20, 11, 1), "lts/-9": None,
        "21": None, "22.4": None, "system": None, "": None,
    }  # fmt: skip
    for pin, version in cases.items():
        found = matching(pin, versions)
        assert (found[0] if found else None) == version, pin


def test_where_a_project_pins_its_node(tmp_path: Path) -> None:
    package, root = tmp_path / "packages" / "web", tmp_path
    package.mkdir(parents=True)
    folders = [package, package.parent, root]
    assert project_pin(folders) is None
    (root / "package.json").write_text(json.dumps({"volta": {"node": "20.11.1"}}))
    assert project_pin(folders) == ("20.11.1", root / "package.json")
    (root / ".tool-versions").write_text("python 3.12.1\nnodejs 22.3.0  # the team's\n")
    assert project_pin(folders) == ("22.3.0", root / ".tool-versions")
    (root / ".node-version").write_text("v22\n")
    assert project_pin(folders) == ("v22", root / ".node-version")
    (package / ".nvmrc").write_text("lts/*\n")  # (nearest the file first)
    assert project_pin(folders) == ("lts/*", package / ".nvmrc")


def test_the_node_a_project_pins_runs_its_tests(home: dict[str, str], tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    nvm = Path(home["HOME"]) / ".nvm" / "versions" / "node"
    newest = choose_node([project], home)  # no node on PATH, nothing pinned: the newest installed
    volta = Path(home["HOME"]) / ".volta" / "tools" / "image" / "node" / "23.6.1" / "bin" / "node"
    assert newest == NodeChoice(str(volta), "Node.js 23.6.1, the newest a version manager installed (none on PATH)")
    (project / ".nvmrc").write_text("20\n")
    pinned = NodeChoice(str(nvm / "v20.11.1" / "bin" / "node"), "Node.js 20.11.1 (.nvmrc asks for 20)")
    assert choose_node([project], home) == pinned
    system = node_at(tmp_path / "system-bin")
    on_path = {**home, "PATH": str(system.parent)}
    assert choose_node([project], on_path) == pinned  # (the pin wins over PATH's)
    (project / ".nvmrc").write_text("16\n")  # not installed: the one on PATH, and the progress says so
    missing = ".nvmrc asks for Node.js 16, which no version manager here has installed"
    assert choose_node([project], on_path) == NodeChoice(str(system), f"{missing}: the tests run with {system}")
    assert choose_node([project], home) == NodeChoice(str(volta), f"{missing}: {newest.note}")
    (project / ".nvmrc").unlink()
    assert choose_node([project], on_path) == NodeChoice(str(system), "")  # nothing pinned: PATH's, said nothing
    assert choose_node([project], {"HOME": str(tmp_path / "nobody"), "PATH": ""}) == NodeChoice(None, "")


def test_a_project_that_accepts_only_some_node_versions_runs_on_one_of_them(
    home: dict[str, str], tmp_path: Path
) -> None:
    """package.json's engines.node (no pin file): node on PATH where it is one of the versions it accepts, else the
    newest installed one that is, and the progress says why; a range npm cannot read is passed over."""
    project = tmp_path / "project"
    project.mkdir()
    system = node_at(tmp_path / "system-bin")
    system.write_text("#!/bin/sh\necho v20.20.2\n")  # (these choices ask PATH's node its version)
    on_path = {**home, "PATH": str(system.parent)}
    nvm = Path(home["HOME"]) / ".nvm" / "versions" / "node"
    (project / "package.json").write_text(json.dumps({"engines": {"node": ">=18 <21"}}))
    assert choose_node([project], on_path) == NodeChoice(str(system), "")  # (PATH's is accepted)
    (project / "package.json").write_text(json.dumps({"engines": {"node": "^22.6.0"}}))
    accepted = NodeChoice(
        str(nvm / "v22.12.0" / "bin" / "node"),
        "Node.js 22.12.0 (package.json's engines.node asks for ^22.6.0; node on PATH is 20.20.2)",
    )
    assert choose_node([project], on_path) == accepted
    (project / "package.json").write_text(json.dumps({"engines": {"node": ">=25"}}))
    nowhere = "package.json's engines.node asks for Node.js >=25, which neither node on PATH (20.20.2) nor a version"
    assert choose_node([project], on_path) == NodeChoice(
        str(system), f"{nowhere} manager here has: the tests run with {system}"
    )
    (project / "package.json").write_text(json.dumps({"engines": {"node": "the latest please"}}))
    assert choose_node([project], on_path) == NodeChoice(str(system), "")
    (project / "package.json").write_text(json.dumps({"engines": {"node": "^22.6.0"}}))
    (project / ".nvmrc").write_text("20\n")  # (a pin file says exactly which: it wins)
    assert choose_node([project], on_path).note == "Node.js 20.11.1 (.nvmrc asks for 20)"
