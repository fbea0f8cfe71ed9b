"""Which Node.js runs a project's JavaScript and TypeScript tests: the version the project pins, as a version manager
installed it, else ``node`` on PATH, else the newest a version manager installed.

A project pins its Node.js in ``.nvmrc`` or ``.node-version`` (nvm, fnm, n, nodenv), ``.tool-versions`` (asdf, mise)
or package.json's ``volta.node`` (Volta), in the file's folder or one above it up to the project's root; one that pins
none but whose package.json accepts only some versions (``engines.node``: ``>=22``) runs on node from PATH where it
is one of them, else on the newest installed one that is. Version
managers put each version in a folder of its own (nvm's ``$NVM_DIR/versions/node/v22.12.0``, fnm's, asdf's, mise's,
Volta's), and put one on PATH only in a shell that loaded them: an editor started from a desktop launcher has no
``node`` on PATH at all, or the system's older one. A pin is a version or its start (``22``, ``v22.12``), or an
alias (``node``, ``latest``; ``lts/iron``, ``lts/*``: a long-term-support line): the newest installed version that
matches it is used."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import nodesemver

logger = logging.getLogger(__name__)

PIN_FILES = (".nvmrc", ".node-version")
NEWEST_ALIASES = ("node", "stable", "latest", "current")  # the newest installed version
# nvm's names of Node.js's long-term-support lines (lts/iron): their major version; lts/* is the newest such line
# installed (they are the even majors); a line named after these is taken as the newest installed even major
LTS_LINES = {
    "argon": 4, "boron": 6, "carbon": 8, "dubnium": 10, "erbium": 12, "fermium": 14, "gallium": 16,
    "hydrogen": 18, "iron": 20, "jod": 22, "krypton": 24,
}  # fmt: skip


@dataclass(frozen=True)
class NodeChoice:
    node: str | None  # the binary (None: no Node.js at all)
    note: str  # what the solve's progress says of it ("" when it is plainly the one on PATH)


def _version_key(name: str) -> tuple[int, ...] | None:
    found = re.fullmatch(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", name.strip())
    return tuple(int(part) for part in found.groups() if part is not None) if found else None


def installed_versions(environ: Mapping[str, str]) -> dict[tuple[int, ...], Path]:
    """Each Node.js version a version manager installed for this user -> its ``node`` binary."""
    home = Path(environ.get("HOME") or Path.home())
    data = Path(environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    places = [
        (Path(environ.get("NVM_DIR") or home / ".nvm") / "versions" / "node", "bin/node"),
        (Path(environ.get("FNM_DIR") or data / "fnm") / "node-versions", "installation/bin/node"),
        (home / ".fnm" / "node-versions", "installation/bin/node"),
        (Path(environ.get("ASDF_DATA_DIR") or home / ".asdf") / "installs" / "nodejs", "bin/node"),
        (Path(environ.get("MISE_DATA_DIR") or data / "mise") / "installs" / "node", "bin/node"),
        (Path(environ.get("VOLTA_HOME") or home / ".volta") / "tools" / "image" / "node", "bin/node"),
        (Path(environ.get("N_PREFIX") or "/usr/local") / "n" / "versions" / "node", "bin/node"),
    ]
    found: dict[tuple[int, ...], Path] = {}
    for folder, binary in places:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            key = _version_key(name)
            node = folder / name / binary
            if key is not None and len(key) == 3 and key not in found and node.is_file():
                found[key] = node
    return found


def _read(path: Path) -> str:
    """The file's text ("" when it cannot be read)."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _pin_in(folder: Path) -> tuple[str, Path] | None:
    for name in PIN_FILES:
        words = _read(folder / name).split()
        if words:
            return words[0], folder / name
    for line in _read(folder / ".tool-versions").split("\n"):
        words = line.split("#", 1)[0].split()
        if len(words) >= 2 and words[0] in ("nodejs", "node"):
            return words[1], folder / ".tool-versions"
    try:
        package = json.loads(_read(folder / "package.json") or "null")
    except ValueError:
        return None
    volta = package.get("volta") if isinstance(package, dict) else None
    if isinstance(volta, dict) and isinstance(volta.get("node"), str):
        return volta["node"], folder / "package.json"
    return None


def project_pin(folders: list[Path]) -> tuple[str, Path] | None:
    """The Node.js version the project pins, nearest the file first (``folders``: from the file's folder up to the
    project's root): (the pin as written, the file that says it)."""
    return next((pin for folder in folders if (pin := _pin_in(folder)) is not None), None)


def matching(pin: str, versions: dict[tuple[int, ...], Path]) -> tuple[tuple[int, ...], Path] | None:
    """The newest of ``versions`` that ``pin`` names."""
    wanted = pin.strip().lower()
    line = LTS_LINES.get(wanted.removeprefix("lts/")) if wanted.startswith("lts/") else None
    if wanted in NEWEST_ALIASES:
        keys = sorted(versions)
    elif line is not None:
        keys = sorted(key for key in versions if key[0] == line)
    elif wanted.startswith("lts/"):  # lts/*, lts/-1 (the line before), or a line newer than this table
        lines = sorted({key[0] for key in versions if key[0] % 2 == 0})
        back = int(wanted[5:]) if re.fullmatch(r"lts/-\d+", wanted) else 0
        keys = sorted(key for key in versions if back < len(lines) and key[0] == lines[-1 - back])
    else:
        start = _version_key(wanted)
        keys = sorted(key for key in versions if start is not None and key[: len(start)] == start)
    return (keys[-1], versions[keys[-1]]) if keys else None


def _shown(key: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in key)


def engines_range(folders: list[Path]) -> tuple[str, Path] | None:
    """The Node.js versions the nearest package.json that says so accepts (its ``engines.node``, an npm range such
    as ``>=22`` or ``^20.11 || 22``; one npm cannot read is passed over), and that package.json."""
    for folder in folders:
        try:
            package = json.loads(_read(folder / "package.json") or "null")
        except ValueError:
            continue
        engines = package.get("engines") if isinstance(package, dict) else None
        wanted = engines.get("node") if isinstance(engines, dict) else None
        if isinstance(wanted, str) and nodesemver.valid_range(wanted, loose=True) is not None:
            return wanted, folder / "package.json"
    return None


def node_version_text(node: str) -> str | None:
    """The version ``node`` says it is ("20.20.2"), or None when it cannot be run."""
    try:
        done = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    version = done.stdout.strip().removeprefix("v")
    return version if _version_key(version) is not None else None


def _by_engines(wanted: str, on_path: str | None, environ: Mapping[str, str]) -> NodeChoice | None:
    """For a project whose package.json accepts only some Node.js versions (``engines.node``, no pin file): node on
    PATH where it is one of them (or says no version), else the newest installed one that is (the progress says
    why); None where none is installed."""
    path_version = node_version_text(on_path) if on_path is not None else None
    if on_path is not None and (path_version is None or nodesemver.satisfies(path_version, wanted, loose=True)):
        return NodeChoice(on_path, "")
    versions = installed_versions(environ)
    names = {_shown(key): node for key, node in versions.items()}
    best = nodesemver.max_satisfying(list(names), wanted, loose=True)
    on_path_said = f"; node on PATH is {path_version}" if path_version else ""
    if best is not None:
        return NodeChoice(
            str(names[best]), f"Node.js {best} (package.json's engines.node asks for {wanted}{on_path_said})"
        )
    if on_path is not None:
        note = f"package.json's engines.node asks for Node.js {wanted}, which neither node on PATH ({path_version}) nor"
        return NodeChoice(on_path, f"{note} a version manager here has: the tests run with {on_path}")
    return None


def choose_node(folders: list[Path], environ: Mapping[str, str] | None = None) -> NodeChoice:
    """The Node.js for a project's tests (``folders``: from the file's folder up to the project's root)."""
    environ = os.environ if environ is None else environ
    on_path = shutil.which("node", path=environ.get("PATH"))
    pin = project_pin(folders)
    engines = engines_range(folders) if pin is None else None
    chosen = _by_engines(engines[0], on_path, environ) if engines is not None else None
    if chosen is not None:
        return chosen
    versions = installed_versions(environ) if pin is not None or on_path is None else {}
    missing = ""
    if pin is not None:
        wanted, where = pin
        found = matching(wanted, versions)
        if found is not None:
            return NodeChoice(str(found[1]), f"Node.js {_shown(found[0])} ({where.name} asks for {wanted})")
        missing = f"{where.name} asks for Node.js {wanted}, which no version manager here has installed"
        logger.warning("solve: %s (%s)", missing, where)
        if on_path is not None:
            return NodeChoice(on_path, f"{missing}: the tests run with {on_path}")
    if on_path is not None:
        return NodeChoice(on_path, "")
    if versions:
        newest = max(versions)
        said = f"Node.js {_shown(newest)}, the newest a version manager installed (none on PATH)"
        return NodeChoice(str(versions[newest]), f"{missing}: {said}" if pin is not None else said)
    return NodeChoice(None, "")
