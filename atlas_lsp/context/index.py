"""Definitions of the workspace's files, built in the background and refreshed file by file."""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from atlas_lsp.syntax.document import LONGEST_PARSED_LINE, has_overlong_line
from atlas_lsp.syntax.registry import LanguageRegistry
from atlas_lsp.syntax.symbols import CONTAINER_KINDS, Definition, class_skeleton, definitions

logger = logging.getLogger(__name__)

SKIPPED_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", "node_modules", ".venv", "venv", "env", "__pycache__", "site-packages",
        "vendor", "third_party", "build", "dist", "target", ".tox", ".nox", ".mypy_cache", ".pytest_cache",
        ".ruff_cache", ".idea", ".vscode", ".eggs",
    }
)  # fmt: skip
MAX_FILE_BYTES = 512 * 1024
# A workspace folder that is a home directory or `/` (an editor that falls back to its working directory): at most
# this many source files are indexed, the shallowest first, and a walk outside git stops after seeing this many
# files, so indexing cannot take the machine for minutes
MAX_INDEXED_FILES = 20_000
MAX_WALKED_FILES = 200_000


@dataclass(frozen=True)
class IndexStats:
    files: int
    definitions: int
    seconds: float
    skipped: int
    left_out: int = 0  # source files over MAX_INDEXED_FILES, not indexed


def _git_files(root: Path) -> list[Path] | None:
    """Tracked and untracked-but-not-ignored files, when ``root`` is in a git work tree."""
    try:
        done = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=root, capture_output=True, timeout=20, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return [root / name for name in done.stdout.decode("utf-8", errors="replace").split("\0") if name]


def _walk(root: Path) -> Iterator[Path]:
    seen = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info")]
        for name in files:
            yield Path(folder) / name
        seen += len(files)
        if seen >= MAX_WALKED_FILES:
            logger.warning("index: stopped walking %s after %d files (no git repository there)", root, seen)
            return


def workspace_files(root: Path, suffixes: set[str]) -> list[Path]:
    """Source files of supported languages under ``root``: git's view when there is one (ignored files
    skipped), else a walk; vendored, virtualenv and node_modules folders are skipped either way."""
    candidates = _git_files(root)
    listing = candidates if candidates is not None else list(_walk(root))
    return [
        path for path in listing
        if path.suffix in suffixes and not SKIPPED_DIRS.intersection(path.relative_to(root).parts[:-1])
    ]  # fmt: skip


def read_source(path: Path, max_bytes: int = MAX_FILE_BYTES) -> str | None:
    """The file's text, or None (logged) when it is huge, binary, not UTF-8 or minified."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            logger.info("index: skipped %s (%d bytes, over the %d-byte cap)", path, size, max_bytes)
            return None
        data = path.read_bytes()
    except OSError as error:
        logger.info("index: skipped %s (%s)", path, error.strerror)
        return None
    if b"\0" in data[:8192]:
        logger.info("index: skipped %s (binary)", path)
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        logger.info("index: skipped %s (not UTF-8)", path)
        return None
    if has_overlong_line(text):
        logger.info("index: skipped %s (a line over %d characters: minified)", path, LONGEST_PARSED_LINE)
        return None
    return text


class WorkspaceIndex:
    """name -> definitions across the workspace. Thread-safe: built on a worker thread, read on the loop."""

    def __init__(self, registry: LanguageRegistry, max_file_bytes: int = MAX_FILE_BYTES) -> None:
        self._registry = registry
        self._max_bytes = max_file_bytes
        self._lock = threading.Lock()
        self._by_file: dict[str, list[Definition]] = {}
        self._by_name: dict[str, list[Definition]] = {}
        # per file: the skeletons shown of its definitions (see `skeleton`), until the file is indexed again
        self._skeletons: dict[str, dict[tuple[Definition, str], str]] = {}
        self.roots: list[Path] = []
        self.ready = False

    def _definitions_of(self, path: Path, text: str | None = None) -> list[Definition] | None:
        spec = self._registry.for_path(path)
        if spec is None:
            return None
        source_text = text if text is not None else read_source(path, self._max_bytes)
        if source_text is None:
            return None
        source = source_text.encode("utf-8")
        tree = spec.parser().parse(source)
        return definitions(spec, [tree.root_node], source, str(path))

    def build(self, roots: list[Path], progress: Callable[[int, int], None] | None = None) -> IndexStats:
        """Index every supported file under ``roots`` (replacing what was there)."""
        started = time.perf_counter()
        self.roots = roots
        files = [path for root in roots for path in workspace_files(root, self._registry.suffixes)]
        left_out = max(0, len(files) - MAX_INDEXED_FILES)
        if left_out:
            files = sorted(files, key=lambda path: (len(path.parts), path))[:MAX_INDEXED_FILES]
            logger.warning("index: %d source files; the %d deepest are not indexed", len(files) + left_out, left_out)
        by_file: dict[str, list[Definition]] = {}
        skipped = 0
        for number, path in enumerate(files, start=1):
            found = self._definitions_of(path)
            if found is None:
                skipped += 1
            else:
                by_file[str(path)] = found
            if progress is not None and (number % 200 == 0 or number == len(files)):
                progress(number, len(files))
        by_name: dict[str, list[Definition]] = {}
        for found in by_file.values():
            for definition in found:
                if definition.kind != "field":  # (a class's fields are shown with it, not looked up by name)
                    by_name.setdefault(definition.name, []).append(definition)
        with self._lock:
            self._by_file, self._by_name, self._skeletons = by_file, by_name, {}
            self.ready = True
        seconds = time.perf_counter() - started
        count = sum(len(found) for found in by_file.values())
        logger.info("index: %d files, %d definitions in %.2f s (%d skipped)", len(by_file), count, seconds, skipped)
        return IndexStats(len(by_file), count, seconds, skipped, left_out)

    def update_file(self, path: Path, text: str | None = None) -> None:
        """Re-index one file (after a save or a watched-file change); a deleted file is dropped."""
        found = self._definitions_of(path, text) if text is not None or path.exists() else None
        key = str(path)
        with self._lock:
            self._skeletons.pop(key, None)
            old = self._by_file.pop(key, [])
            for definition in old:
                bucket = self._by_name.get(definition.name, [])
                self._by_name[definition.name] = [d for d in bucket if d.path != key]
            if found is not None:
                self._by_file[key] = found
                for definition in found:
                    if definition.kind != "field":
                        self._by_name.setdefault(definition.name, []).append(definition)

    def lookup(self, name: str, family: str | None = None) -> list[Definition]:
        """The definitions of ``name``; given a language ``family``, only those in its files (a Python file's
        `Point` is not a Go file's)."""
        with self._lock:
            found = list(self._by_name.get(name, ()))
        if family is None:
            return found
        return [d for d in found if (spec := self._registry.for_path(d.path)) is not None and spec.family == family]

    def skeleton(self, definition: Definition, comment: str) -> str:
        """What a completion's context shows of ``definition``: its skeleton, a class's with its members' inside
        (built from its file's definitions: about 0.05 ms for a class of this project's, once per class). Remembered
        until its file is indexed again."""
        with self._lock:
            shown = self._skeletons.setdefault(definition.path, {})
            known = shown.get((definition, comment))
        if known is None:
            members = self.file_definitions(definition.path) if definition.kind in CONTAINER_KINDS else []
            known = class_skeleton(definition, members, comment)
            with self._lock:
                if self._skeletons.get(definition.path) is shown:  # (not indexed again meanwhile)
                    shown[(definition, comment)] = known
        return known

    def file_definitions(self, path: str) -> list[Definition]:
        with self._lock:
            return list(self._by_file.get(path, ()))

    @property
    def file_count(self) -> int:
        return len(self._by_file)
