"""The installed package (not only the editable checkout) carries every module."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_subpackage_is_listed_for_the_wheel() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "atlas_lsp").rglob("__init__.py")}
    assert on_disk <= listed, f"missing from [tool.setuptools] packages: {sorted(on_disk - listed)}"


def test_every_data_file_is_listed_for_the_wheel() -> None:
    """A file the package reads at run time (the benchmark's pinned input, py.typed) is in the wheel only when a
    package-data pattern of its package names it."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns: dict[str, list[str]] = setuptools["package-data"]
    package_root = ROOT / "atlas_lsp"
    data_files = [
        path
        for path in package_root.rglob("*")
        if path.is_file() and path.suffix not in {".py", ".pyc"} and "grammars" not in path.relative_to(ROOT).parts
    ]
    assert any(path.name == "completion_input.txt" for path in data_files)
    missing = []
    for path in data_files:
        package_folder = path.parent
        while not (package_folder / "__init__.py").exists():
            package_folder = package_folder.parent
        package = ".".join(package_folder.relative_to(ROOT).parts)
        inside = path.relative_to(package_folder).as_posix()
        if not any(fnmatch(inside, pattern) for pattern in patterns.get(package, [])):
            missing.append(path.relative_to(ROOT).as_posix())
    assert not missing, f"missing from [tool.setuptools.package-data]: {missing}"
