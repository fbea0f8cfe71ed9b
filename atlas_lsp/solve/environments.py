"""Which Python runs a project's tests when `solve.python` is unset: the project's own environment, where its
dependencies are installed, found the way the project's own tools find it.

In this order: a virtualenv folder at the project's root (``.venv``, ``venv``, ``env``, ``.env``: python -m venv,
uv, PDM, Poetry with in-project environments); the environment Poetry, Pipenv or Hatch keeps for the project
elsewhere (asked of the tool itself, ``poetry env info -p``, ``pipenv --venv``, ``hatch env find``, when the project
declares it uses that tool; Hatch's environment for tests first, ``hatch-test`` (``hatch test``'s) or ``test``, where
it was created, then its default); the pyenv version or pyenv-virtualenv environment its
``.python-version`` names; the conda environment its ``environment.yml`` names; the environment that was active
when the server started (``VIRTUAL_ENV``, conda's ``CONDA_PREFIX``: an editor started from an activated shell),
when it is not atlas-lsp's own. The first that can run pytest (its own, else atlas-lsp's) is used; none: the
interpreter atlas-lsp runs on."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from atlas_lsp.solve.runners.pytest_runner import pytest_problem

logger = logging.getLogger(__name__)

PROJECT_ENVIRONMENTS = (".venv", "venv", "env", ".env")  # virtualenv folders looked for at a project's root
TOOL_TIMEOUT_S = 20  # Poetry starts in about half a second; a tool that hangs (a lock, a prompt) is given up on


@dataclass(frozen=True)
class Environment:
    python: str  # absolute, not resolved (a virtualenv's python is a link to the one it was made from)
    origin: str  # where it was found, for the log and the progress: "the project's .venv", "Poetry's environment"


def _python_in(prefix: Path) -> Path:
    return prefix / "bin" / "python"


def _tool(name: str) -> str | None:
    """``name`` on PATH, else where pipx and the official installers put it (an editor started from a desktop
    launcher often has a PATH without ~/.local/bin)."""
    found = shutil.which(name)
    if found:
        return found
    local = Path.home() / ".local" / "bin" / name
    return str(local) if local.is_file() and os.access(local, os.X_OK) else None


@dataclass(frozen=True)
class EnvironmentTool:
    """A tool that keeps a project's environment outside it (by default), and how it is asked where."""

    command: str  # its executable's name
    name: str  # as the progress names it
    marks: tuple[str, ...]  # files at the project's root that say it uses the tool
    pyproject_section: str  # a pyproject.toml section that says so too ("" for none)
    # the arguments that print the folders of its environments for the project: for tests first, its default last
    where: tuple[tuple[str, ...], ...]


TOOLS = (
    EnvironmentTool("poetry", "Poetry", ("poetry.lock",), "[tool.poetry", (("env", "info", "-p", "--no-ansi", "-n"),)),
    EnvironmentTool("pipenv", "Pipenv", ("Pipfile",), "", (("--venv",),)),
    EnvironmentTool(
        "hatch", "Hatch", ("hatch.toml",), "[tool.hatch",
        (("env", "find", "hatch-test"), ("env", "find", "test"), ("env", "find", "default")),
    ),  # (hatch-test: `hatch test`'s, one folder per Python of its matrix; test: the usual name of one's own)
)  # fmt: skip


def _declares(root: Path, tool: EnvironmentTool) -> bool:
    if any((root / mark).is_file() for mark in tool.marks):
        return True
    try:
        return bool(tool.pyproject_section) and tool.pyproject_section in (root / "pyproject.toml").read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return False


def _asked(root: Path, tool: EnvironmentTool, where: tuple[str, ...], environ: Mapping[str, str]) -> list[Path]:
    """The folders of the environments that ``tool`` keeps for the project at ``root`` and prints when run with the
    arguments ``where`` (none where it says none). The tool is asked without the active environment in its view
    (Poetry and Pipenv would answer with that one)."""
    binary = _tool(tool.command)
    if binary is None or not _declares(root, tool):
        return []
    variables = {k: v for k, v in environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX", "PIPENV_ACTIVE")}
    variables.update({"PIPENV_IGNORE_VIRTUALENVS": "1", "PIPENV_VERBOSITY": "-1", "NO_COLOR": "1"})
    try:
        done = subprocess.run(
            [binary, *where],
            cwd=root,
            env=variables,
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError) as error:
        logger.info("solve: %s could not say where the project's environment is: %s", tool.name, error)
        return []
    lines = [line.strip() for line in done.stdout.strip().split("\n") if line.strip()]
    if done.returncode != 0 or not lines:
        logger.debug("solve: %s knows no environment for %s (%s, exit %s)", tool.name, root, where, done.returncode)
        return []
    return [Path(lines[-1])] if where == tool.where[-1] else [Path(line) for line in lines]  # (its default: one)


def _pyenv_version(root: Path, environ: Mapping[str, str]) -> tuple[Path, str] | None:
    """The pyenv version (or pyenv-virtualenv environment) that the project's ``.python-version`` names first, when
    pyenv has it installed ("system" and versions pyenv does not have: None)."""
    try:
        names = (root / ".python-version").read_text(encoding="utf-8").split()
    except (OSError, UnicodeDecodeError):
        return None
    pyenv_root = Path(environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    name = names[0] if names else "system"
    if name == "system" or "/" in name or name in (".", ".."):
        return None
    return pyenv_root / "versions" / name, f"the pyenv version the project names ({name}, in .python-version)"


CONDA_FILES = ("environment.yml", "environment.yaml")
# where conda, mamba and their installers keep named environments, under the home folder
CONDA_HOMES = ("miniconda3", "anaconda3", "miniforge3", "mambaforge", "micromamba", ".conda")


def _conda_environment(root: Path, environ: Mapping[str, str]) -> tuple[Path, str] | None:
    """The conda environment the project's ``environment.yml`` names (``name: …``), where conda keeps it: a folder
    of that name under one of conda's ``envs`` folders, or a prefix listed in ``~/.conda/environments.txt``."""
    for file in CONDA_FILES:
        try:
            text = (root / file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        name = next(
            (line.split(":", 1)[1].strip().strip("'\"") for line in text.split("\n") if line.startswith("name:")), ""
        )
        if not name or "/" in name or name in (".", ".."):
            return None
        home = Path(environ.get("HOME") or Path.home())
        folders = [Path(p) for p in environ.get("CONDA_ENVS_PATH", "").split(os.pathsep) if p]
        folders += [home / conda / "envs" for conda in CONDA_HOMES] + [Path("/opt/conda/envs")]
        try:
            listed = (home / ".conda" / "environments.txt").read_text(encoding="utf-8").split()
        except (OSError, UnicodeDecodeError):
            listed = []
        prefixes = [folder / name for folder in folders] + [Path(p) for p in listed if Path(p).name == name]
        found = next((prefix for prefix in prefixes if _python_in(prefix).is_file()), None)
        return (found, f"the conda environment the project names ({name}, in {file})") if found else None
    return None


def _active(environ: Mapping[str, str]) -> Iterator[tuple[Path, str]]:
    own = Path(sys.prefix).resolve()
    for variable in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        value = environ.get(variable)
        if value and Path(value).resolve() != own:
            yield Path(value), f"the environment active when atlas-lsp started ({variable})"


def candidates(root: Path, environ: Mapping[str, str] | None = None) -> Iterator[Environment]:
    """The project's environments in the order they are preferred (only those with a ``bin/python``)."""
    environ = os.environ if environ is None else environ
    found: list[tuple[Path, str]] = [(root / folder, f"the project's {folder}") for folder in PROJECT_ENVIRONMENTS]
    for prefix, origin in found:
        if _python_in(prefix).is_file():
            yield Environment(os.path.abspath(_python_in(prefix)), origin)
    for tool in TOOLS:
        for where in tool.where:
            for prefix in _asked(root, tool, where, environ):
                if _python_in(prefix).is_file():
                    kind = "" if where == tool.where[-1] else f"{prefix.name} "  # (the tests' own: which)
                    yield Environment(
                        os.path.abspath(_python_in(prefix)), f"{tool.name}'s {kind}environment for the project"
                    )
    for named in (_pyenv_version(root, environ), _conda_environment(root, environ)):
        if named is not None and _python_in(named[0]).is_file():
            yield Environment(os.path.abspath(_python_in(named[0])), named[1])
    for prefix, origin in _active(environ):
        if _python_in(prefix).is_file():
            yield Environment(os.path.abspath(_python_in(prefix)), origin)


@dataclass(frozen=True)
class Choice:
    """The environment that runs the tests (None: atlas-lsp's interpreter) and, when none could, the first one found
    that cannot run pytest (a Python older than atlas-lsp's pytest supports, say), to say so."""

    chosen: Environment | None
    unusable: Environment | None


def choose(root: Path, environ: Mapping[str, str] | None = None) -> Choice:
    unusable: Environment | None = None
    seen: set[str] = set()
    for environment in candidates(root, environ):
        if environment.python in seen:
            continue
        seen.add(environment.python)
        problem = pytest_problem(environment.python)
        if not problem:
            return Choice(environment, None)
        logger.info("solve: %s (%s) cannot run pytest: %s", environment.origin, environment.python, problem)
        unusable = unusable or environment
    return Choice(None, unusable)
