"""Languages as data: each `grammars/<name>/` folder has a language.toml and query files."""

from __future__ import annotations

import fnmatch
import importlib
import logging
import os
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePath

from tree_sitter import Language, Parser, Query

from atlas_lsp.syntax.queries import compile_query

logger = logging.getLogger(__name__)
QUERY_FILES = ("tags", "textobjects", "imports", "references")
# node types whose names are part of the id of a test inside them, where language.toml names none (Python's classes
# and functions, Rust's modules)
TEST_SCOPES = ("function_definition", "class_definition", "function_item", "mod_item")
INHERITS = re.compile(r"^;+\s*inherits:\s*(?P<names>[\w-]+(?:\s*,\s*[\w-]+)*)\s*$")


@dataclass(frozen=True)
class LanguageSpec:
    """One language: what `language.toml` says plus the compiled grammar and queries."""

    name: str
    language_ids: tuple[str, ...]
    suffixes: tuple[str, ...]
    line_comment: str
    test_globs: tuple[str, ...]
    test_command: tuple[str, ...]
    test_runner: str
    language: Language
    queries: dict[str, Query] = field(default_factory=dict)
    attached_to_next: tuple[str, ...] = ("comment",)  # top-level node types that belong to the statement after them
    split_inside: tuple[str, ...] = ()  # definitions a large segment may be cut inside, their header parsed again
    test_scopes: tuple[str, ...] = TEST_SCOPES  # declarations whose names are part of a test's id (its class)
    family: str = ""  # languages whose files use each other's definitions share one (JavaScript, TypeScript, TSX)
    declaration_wrappers: tuple[str, ...] = ()  # statements a definition is written inside (`export`, Go's `type`)

    def parser(self) -> Parser:
        return Parser(self.language)

    def is_test_file(self, path: str | PurePath) -> bool:
        """``path`` (relative to its project) matches one of `test_globs`: a glob without a folder matches the
        file's name, one with folders matches the end of its path, ``**`` standing for any number of folders."""
        parts = PurePath(path).parts
        return any(_glob_matches(parts, tuple(glob.split("/"))) for glob in self.test_globs)


def _tail_matches(parts: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    """``parts`` match ``pattern`` (its segments fnmatch globs, ``**`` any number of them) from first to last."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_tail_matches(parts[skip:], pattern[1:]) for skip in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatch(parts[0], pattern[0]) and _tail_matches(parts[1:], pattern[1:])


def _glob_matches(parts: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    """A relative glob matches a path at any depth: ``test/**/*.js`` matches ``test/a.js`` and ``pkg/test/b/c.js``."""
    return any(_tail_matches(parts[start:], pattern) for start in range(len(parts)))


@dataclass
class LanguageRegistry:
    """Every language that loaded; `problems` says which did not and why."""

    languages: dict[str, LanguageSpec] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # suffix -> its language, for the languages there were then (index lookups ask this per definition found)
    _by_suffix: dict[str, LanguageSpec | None] = field(default_factory=dict, init=False, repr=False, compare=False)
    _cached_for: int = field(default=0, init=False, repr=False, compare=False)

    def for_path(self, path: str | PurePath) -> LanguageSpec | None:
        suffix = PurePath(path).suffix if isinstance(path, PurePath) else os.path.splitext(path)[1]
        if self._cached_for != len(self.languages):
            self._by_suffix, self._cached_for = {}, len(self.languages)
        if suffix not in self._by_suffix:
            self._by_suffix[suffix] = next((s for s in self.languages.values() if suffix in s.suffixes), None)
        return self._by_suffix[suffix]

    def for_language_id(self, language_id: str) -> LanguageSpec | None:
        return next((spec for spec in self.languages.values() if language_id in spec.language_ids), None)

    def for_document(self, uri_or_path: str, language_id: str | None = None) -> LanguageSpec | None:
        return (self.for_language_id(language_id) if language_id else None) or self.for_path(uri_or_path)

    @property
    def suffixes(self) -> set[str]:
        return {suffix for spec in self.languages.values() for suffix in spec.suffixes}


def grammars_dir() -> Path:
    """The installed `grammars/` (shipped as the package data `atlas_lsp.grammars`), or the checkout's."""
    try:
        installed = Path(str(resources.files("atlas_lsp.grammars")))
        if installed.is_dir():
            return installed
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parents[2] / "grammars"


def query_source(folder: Path, kind: str, inheriting: tuple[str, ...] = ()) -> str | None:
    """The text of ``folder``'s ``kind`` query, or None when it has none. A first line ``; inherits: a, b`` puts the
    same query of the sibling folders ``a`` and ``b`` in front of the file's own patterns (a dialect such as TSX
    shares its base language's queries instead of copying them)."""
    path = folder / f"{kind}.scm"
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    match = INHERITS.match(text.split("\n", 1)[0])
    if match is None:
        return text
    parts: list[str] = []
    for name in (part.strip() for part in match["names"].split(",")):
        if name in (*inheriting, folder.name):
            raise ValueError(f"{kind}.scm: inherits {name}, which inherits it back")
        inherited = query_source(folder.parent / name, kind, (*inheriting, folder.name))
        if inherited is None:
            raise ValueError(f"{kind}.scm: inherits {name}, which has no {kind}.scm")
        parts.append(inherited)
    return "\n".join([*parts, text])


def load_language(folder: Path) -> LanguageSpec:
    """Load one grammar folder; raises with a message naming the folder and the problem."""
    meta = tomllib.loads((folder / "language.toml").read_text(encoding="utf-8"))
    module = importlib.import_module(meta["grammar_module"])
    language = Language(getattr(module, meta.get("grammar_function", "language"))())
    queries: dict[str, Query] = {}
    for kind in QUERY_FILES:
        source = query_source(folder, kind)
        if source is not None:
            try:
                queries[kind] = compile_query(language, source)
            except Exception as error:
                raise ValueError(f"{kind}.scm: {error}") from error
    return LanguageSpec(
        name=meta["name"],
        language_ids=tuple(meta.get("language_ids", [meta["name"]])),
        suffixes=tuple(meta["suffixes"]),
        line_comment=meta.get("line_comment", "#"),
        test_globs=tuple(meta.get("test_globs", [])),
        test_command=tuple(meta.get("test_command", [])),
        test_runner=meta.get("test_runner", ""),
        language=language,
        queries=queries,
        attached_to_next=tuple(meta.get("attached_to_next", ["comment"])),
        split_inside=tuple(meta.get("split_inside", [])),
        test_scopes=tuple(meta.get("test_scopes", TEST_SCOPES)),
        family=meta.get("family", meta["name"]),
        declaration_wrappers=tuple(meta.get("declaration_wrappers", [])),
    )


def load_registry(folder: Path | None = None) -> LanguageRegistry:
    """Every language under ``folder``; one that fails is logged, listed in `problems` and left out."""
    registry = LanguageRegistry()
    root = folder or grammars_dir()
    for language_dir in sorted(path for path in root.iterdir() if (path / "language.toml").is_file()):
        try:
            spec = load_language(language_dir)
        except Exception as error:  # noqa: BLE001 - one broken language must not take the others down
            message = f"language {language_dir.name} disabled (plain text): {error}"
            logger.error("%s", message)
            registry.problems.append(message)
            continue
        registry.languages[spec.name] = spec
    return registry
