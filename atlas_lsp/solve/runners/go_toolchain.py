"""Which Go toolchain runs a module's tests: the one ``go`` itself would run there (Go 1.21 on: a newer toolchain
that the module's go.mod or the workspace's go.work asks for with its ``go`` or ``toolchain`` line, unless
GOTOOLCHAIN says ``local``), found where go looks for it (PATH, then the module cache) since the runs are offline and
cannot download it."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Go's version order (cmd/go/internal/gover): a language version 1.N (from 1.21) < 1.Nbeta1 < 1.Nrc1 < 1.N.0
_VERSION = re.compile(r"^(\d+)\.(\d+)(?:(beta|rc)(\d+)|\.(\d+))?$")
_DIRECTIVE = re.compile(r"^\s*(go|toolchain)\s+(\S+)\s*(?://.*)?$", re.M)
TOOLCHAIN_MODULE = "golang.org/toolchain@v0.0.1-"


def version_key(version: str) -> tuple[int, int, int, int] | None:
    """``version`` ("1.22", "1.22rc1", "1.22.3"; no "go") in Go's order; None when it is not one."""
    match = _VERSION.match(version)
    if match is None:
        return None
    major, minor, stage, number, patch = match.groups()
    if patch is not None:
        return int(major), int(minor), 3, int(patch)
    if stage is not None:
        return int(major), int(minor), 1 if stage == "beta" else 2, int(number)
    if (int(major), int(minor)) < (1, 21):  # (before 1.21, "1.20" is the release 1.20.0)
        return int(major), int(minor), 3, 0
    return int(major), int(minor), 0, 0


@dataclass(frozen=True)
class GoEnvironment:
    """What ``go env`` says of a go binary: its release, module cache, GOTOOLCHAIN setting and platform."""

    version: str  # "1.26.6" ("" when go cannot say)
    module_cache: str
    toolchain: str  # GOTOOLCHAIN: "auto" by default; "" before Go 1.21
    platform: str  # "linux-amd64"


@functools.cache
def go_environment(go: str) -> GoEnvironment:
    """``go env`` of ``go``, kept from switching toolchains itself (GOTOOLCHAIN=local, outside any module), with the
    user's GOTOOLCHAIN read where go reads it: the environment, then go's config file (``go env -w``), then
    $GOROOT/go.env."""
    try:
        done = subprocess.run(
            [go, "env", "-json", "GOVERSION", "GOMODCACHE", "GOOS", "GOARCH", "GOENV", "GOROOT"],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=os.path.abspath(os.sep),
            env={**os.environ, "GOTOOLCHAIN": "local"},
        )
        values = {key: str(value) for key, value in json.loads(done.stdout).items()}
    except (OSError, subprocess.SubprocessError, ValueError, AttributeError):
        return GoEnvironment("", "", "", "")
    setting = os.environ.get("GOTOOLCHAIN", "")
    for file in (values.get("GOENV", ""), os.path.join(values.get("GOROOT", ""), "go.env")):
        setting = setting or _setting_in(file, "GOTOOLCHAIN")
    return GoEnvironment(
        values.get("GOVERSION", "").removeprefix("go").split(" ")[0],
        values.get("GOMODCACHE", ""),
        setting,
        f"{values.get('GOOS', '')}-{values.get('GOARCH', '')}",
    )


def _setting_in(file: str, name: str) -> str:
    """``name``'s value in a go env file (``NAME=value`` lines), "" where it has none or cannot be read."""
    try:
        lines = Path(file).read_text(encoding="utf-8", errors="replace").splitlines() if file else []
    except OSError:
        return ""
    return next((line.split("=", 1)[1].strip() for line in lines if line.startswith(f"{name}=")), "")


def _directives(module_folder: Path) -> tuple[Path | None, str, str]:
    """The file go reads its ``go`` and ``toolchain`` lines from (the workspace's go.work above the module, else the
    module's go.mod; GOWORK names another go.work, or "off" none) and those lines' values ("" where absent)."""
    named = os.environ.get("GOWORK", "")
    work = Path(named) if named not in ("", "off") else None
    if not named:
        work = next((f / "go.work" for f in (module_folder, *module_folder.parents) if (f / "go.work").is_file()), None)
    for file in (work, module_folder / "go.mod"):
        if file is None:
            continue
        try:
            text = file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        found = {kind: value for kind, value in _DIRECTIVE.findall(text)}
        return file, found.get("go", ""), found.get("toolchain", "")
    return None, "", ""


class ToolchainMissing(Exception):
    """The toolchain a module asks for is not on this machine (the message says which and what to do)."""


def toolchain_for(go: str, module_folder: Path) -> str:
    """The go binary that runs the tests of the module at ``module_folder``: ``go`` itself unless go would switch
    there (GOTOOLCHAIN auto or path, a go.mod/go.work asking for a newer release than ``go``'s), then that release's
    ``go1.N.P`` on PATH or in the module cache; raises ToolchainMissing where it is neither."""
    environment = go_environment(go)
    local = version_key(environment.version)
    setting = environment.toolchain or "local"
    minimum_name, _, mode = setting.partition("+")
    if local is None or local < (1, 21, 0, 0):  # (go before 1.21 never switches)
        return go
    wanted = ""  # the toolchain go would switch to ("go1.27.3"); "" for go itself
    asked_by = f"GOTOOLCHAIN={setting}"  # (what asks for it)
    minimum = local
    if minimum_name not in ("local", "auto", "path"):
        wanted, minimum = minimum_name, version_key(minimum_name.removeprefix("go")) or local
    elif minimum_name in ("auto", "path"):
        mode = minimum_name
    file, go_line, toolchain_line = _directives(module_folder) if mode in ("auto", "path") else (None, "", "")
    from_file = f"the module's {file.name}" if file is not None else ""
    if toolchain_line == "default":  # ("toolchain default": the toolchain GOTOOLCHAIN names, whatever the go line)
        go_line = toolchain_line = ""
    if toolchain_line and (key := version_key(toolchain_line.removeprefix("go"))):
        if key > minimum:
            wanted, minimum, asked_by = toolchain_line, key, from_file
    go_key = version_key(go_line)
    if go_key is not None and go_key > minimum:
        wanted = f"go{go_line}.0" if go_key[2] == 0 else f"go{go_line}"  # (a language version's first release)
        asked_by = from_file
    if not wanted or version_key(wanted.removeprefix("go")) == local:
        return go
    on_path = shutil.which(wanted)
    if on_path:
        return on_path
    if mode != "path" and environment.module_cache:
        cached = Path(environment.module_cache) / f"{TOOLCHAIN_MODULE}{wanted}.{environment.platform}" / "bin" / "go"
        if os.access(cached, os.X_OK):
            return str(cached)
    raise ToolchainMissing(
        f"go test: {asked_by} asks for {wanted} and the go on PATH is go{environment.version}; the sandbox is "
        f"offline and cannot download {wanted}: run `go test` in the module once (go downloads it into its module "
        f"cache) or put {wanted} on PATH"
    )
