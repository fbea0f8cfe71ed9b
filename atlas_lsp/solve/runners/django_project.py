"""A Django project's tests under pytest: Django's own test files (``tests.py``, ``django.test.TestCase``) need Django
set up (its settings module, its test database) before they import anything. pytest-django does that; a project
that runs its tests with ``manage.py test`` has no pytest-django, so the run gets atlas-lsp's (next to its pytest:
`bundled_pytest`) and the settings module its ``manage.py`` names, unless the project's pytest configuration or the
user's ``solve.env`` names one."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

# manage.py's own line: os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
_SETTINGS = re.compile(r"""setdefault\(\s*["']DJANGO_SETTINGS_MODULE["']\s*,\s*["']([\w.]+)["']""")
# where a pytest-django project's own configuration names its settings
PYTEST_CONFIGS = ("pytest.ini", "pyproject.toml", "setup.cfg", "tox.ini")


@dataclass(frozen=True)
class DjangoProject:
    settings: str  # the settings module manage.py names ("" when the project's pytest configuration names one)
    folder: str  # manage.py's folder, relative to the project (pytest-django puts it on the import path)


def django_project(root: Path, folders: list[Path]) -> DjangoProject | None:
    """The Django project whose ``manage.py`` is in one of ``folders`` (from the file's folder up to ``root``)."""
    for folder in folders:
        try:
            found = _SETTINGS.search((folder / "manage.py").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
        if found is None:
            continue
        configured = any(_names_settings(place / name) for place in {folder, root} for name in PYTEST_CONFIGS)
        return DjangoProject("" if configured else found.group(1), folder.relative_to(root).as_posix())
    return None


def _names_settings(path: Path) -> bool:
    try:
        return "DJANGO_SETTINGS_MODULE" in path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False


def has_pytest_django(python: str) -> bool:
    """Whether the environment of ``python`` has pytest-django (its plugin then loads by itself)."""
    try:
        done = subprocess.run([python, "-c", "import pytest_django"], capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0
