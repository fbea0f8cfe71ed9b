"""`atlas-lsp bench context`: incremental reparse, context assembly with a 2,000-file index, index build."""

from __future__ import annotations

import gc
import random
import resource
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from atlas_lsp.bench.report import header, percentile, summary_ms
from atlas_lsp.context.assemble import completion_context, open_file_summary
from atlas_lsp.context.index import WorkspaceIndex
from atlas_lsp.syntax.document import SyntaxDocument, TextEdit
from atlas_lsp.syntax.registry import load_registry

LARGE_OPEN_FILES = 3
LARGE_OPEN_LINES = 2000
OWN_SOURCE_FILE = "completion/service.py"  # a real module of this package, its imports found in the package's index


def synthetic_module(number: int, modules: int, rng: random.Random) -> str:
    """A plausible Python module: imports of other modules, classes with methods, functions."""
    imports = sorted({rng.randrange(modules) for _ in range(3)} - {number})
    lines = [f"from pkg.mod{other} import Model{other}, helper{other}_0" for other in imports]
    lines.append("")
    for cls in range(3):
        lines += [f"class Model{number}{'' if cls == 0 else f'_{cls}'}:", f'    """Model {number}.{cls}."""', ""]
        for method in range(3):
            lines += [
                f"    def method_{method}(self, value: int) -> int:",
                f'        """Method {method}."""',
                f"        total = value * {method + 1}",
                "        return total + 1",
                "",
            ]
    for function in range(4):
        other = imports[0] if imports else number
        lines += [
            f"def helper{number}_{function}(items: list[int]) -> int:",
            f'    """Helper {function}."""',
            f"    model = Model{other}()",
            "    return sum(model.method_0(item) for item in items)",
            "",
        ]
    return "\n".join(lines)


def big_file(lines: int) -> str:
    rng = random.Random(1)
    chunks: list[str] = []
    number = 0
    while sum(chunk.count("\n") + 1 for chunk in chunks) < lines:
        chunks.append(synthetic_module(number, 10_000, rng))
        number += 1
    return "\n".join(chunks)


def one_class(text: str) -> str:
    """The same lines as one class (a file that is one big class has no top-level statements to cut at)."""
    body = ["    " + line if line.strip() else "" for line in text.split("\n")]
    return "\n".join(["class Everything:", *body])


def javascript_file(functions: int, as_class: bool) -> str:
    """JavaScript: ``functions`` functions, or the same bodies as the methods of one class."""
    if not as_class:
        return "".join(
            f"function f{n}(items) {{\n  // sum {n}\n  const total = items.reduce((a, b) => a + b, {n});\n"
            f"  return total + {n};\n}}\n\n"
            for n in range(functions)
        )
    methods = "".join(
        f"  method{n}(items) {{\n    // sum {n}\n    const total = items.reduce((a, b) => a + b, {n});\n"
        f"    return total + {n};\n  }}\n\n"
        for n in range(functions)
    )
    return "class Big {\n" + methods + "}\n"


def cpp_namespace_file(functions: int) -> str:
    """C++: ``functions`` functions inside one namespace (as many projects write every file: one segment, since a
    namespace is not cut into pieces)."""
    body = "".join(
        f"int helper_{n}(int value, const std::vector<int>& items) {{\n    int total = value;\n"
        f"    for (int item : items) {{\n        total += item * {n};\n    }}\n    return total;\n}}\n\n"
        for n in range(functions)
    )
    return f"#include <vector>\n\nnamespace big {{\n\n{body}}}  // namespace big\n"


@dataclass
class ContextBench:
    reparse: list[float]
    reparse_clean: list[float]
    reparse_broken: list[float]
    reparse_one_class: list[float]
    one_class_segments: int
    reparse_javascript: list[float]  # the same functions as top-level functions, then as one class's methods
    reparse_javascript_class: list[float]
    javascript_lines: int
    assembly: list[float]
    index_files: int
    index_seconds: float
    index_rss_mb: float
    file_lines: int
    open_seconds: float
    segments: int
    assembly_large_open: list[float] = field(default_factory=list)  # the same with large files open as well
    large_open_lines: int = 0  # lines of each of those files
    reparse_cpp_namespace: list[float] = field(default_factory=list)  # C++ functions in one namespace
    cpp_lines: int = 0
    cpp_segments: int = 0
    # this package's own source (OWN_SOURCE_FILE open, the package indexed): at each place for the first time (the
    # skeletons of the definitions found built), then again (remembered by the index)
    own_first: list[float] = field(default_factory=list)
    own_again: list[float] = field(default_factory=list)
    own_index_files: int = 0


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(files: int = 2000, file_lines: int = 5000, edits: int = 300, positions: int = 300) -> ContextBench:
    registry = load_registry()
    python = registry.languages["python"]
    text = big_file(file_lines)
    opened = time.perf_counter()
    document = SyntaxDocument(python, text)
    open_seconds = time.perf_counter() - opened
    line_count = text.count("\n") + 1
    reparse_clean: list[float] = []
    reparse_broken: list[float] = []
    reparse = _reparse(document, random.Random(2), edits, reparse_clean, reparse_broken)
    whole_class = SyntaxDocument(python, one_class(text))
    reparse_one_class = _reparse(whole_class, random.Random(2), edits, [], [])
    javascript = registry.languages["javascript"]
    functions = SyntaxDocument(javascript, javascript_file(700, as_class=False))
    reparse_javascript = _reparse(functions, random.Random(2), edits, [], [])
    one_js_class = SyntaxDocument(javascript, javascript_file(700, as_class=True))
    reparse_javascript_class = _reparse(one_js_class, random.Random(2), edits, [], [])
    in_namespace = SyntaxDocument(registry.languages["cpp"], cpp_namespace_file(600))
    reparse_cpp_namespace = _reparse(in_namespace, random.Random(2), edits, [], [])
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "pkg").mkdir()
        rng = random.Random(3)
        for number in range(files):
            (root / "pkg" / f"mod{number}.py").write_text(synthetic_module(number, files, rng))
        gc.collect()
        index = WorkspaceIndex(registry)
        before = _rss_mb()
        stats = index.build([root])
        rss = _rss_mb() - before
        open_path = str(root / "pkg" / "mod0.py")
        current = SyntaxDocument(python, (root / "pkg" / "mod0.py").read_text())
        others = {
            str(root / "pkg" / f"mod{n}.py"): SyntaxDocument(python, (root / "pkg" / f"mod{n}.py").read_text())
            for n in (1, 2, 3)
        }
        open_documents = {open_path: current, **others}
        current_lines = current.text.count("\n") + 1

        def assemble_at_random_lines() -> list[float]:
            seconds: list[float] = []
            for _ in range(positions):
                line = rng.randrange(current_lines)
                started = time.perf_counter()
                completion_context(current, open_path, line, 4, index, open_documents, [], budget=1024)
                seconds.append(time.perf_counter() - started)
            return seconds

        assembly = assemble_at_random_lines()
        # a user's editor often has a few large files open: each is another "open file" candidate, summarised
        # when it opens (ContextService.prepare), not on every request
        large_text = big_file(LARGE_OPEN_LINES)
        for number in range(LARGE_OPEN_FILES):
            path = str(root / f"large{number}.py")
            large = SyntaxDocument(python, f"{large_text}\n# copy {number}\n")
            open_file_summary(large, path, python.line_comment)
            open_documents[path] = large
        assembly_large_open = assemble_at_random_lines()
    own_first, own_again, own_index_files = _own_source_assembly(min(positions, 60))
    return ContextBench(
        reparse,
        reparse_clean,
        reparse_broken,
        reparse_one_class,
        whole_class.segments,
        reparse_javascript,
        reparse_javascript_class,
        functions.text.count("\n") + 1,
        assembly,
        stats.files,
        stats.seconds,
        rss,
        line_count,
        open_seconds,
        document.segments,
        assembly_large_open,
        large_text.count("\n") + 1,
        reparse_cpp_namespace,
        in_namespace.text.count("\n") + 1,
        in_namespace.segments,
        own_first,
        own_again,
        own_index_files,
    )


def _own_source_assembly(positions: int) -> tuple[list[float], list[float], int]:
    """Context assembly in this package's own source: OWN_SOURCE_FILE open, the package indexed, at up to
    ``positions`` ends of indented lines; each place first, then all again. Its imports and the names it uses find
    real definitions (classes with many methods: skeletons built from their files' definitions)."""
    package = Path(__file__).resolve().parents[1]
    registry = load_registry()
    index = WorkspaceIndex(registry)
    index.build([package])
    path = package / OWN_SOURCE_FILE
    text = path.read_text()
    document = SyntaxDocument(registry.languages["python"], text)
    rows = text.split("\n")
    places = [(number, len(row)) for number, row in enumerate(rows) if row.startswith("        ") and row.strip()]
    places = places[:: max(1, len(places) // positions)][:positions]

    def assemble_everywhere() -> list[float]:
        seconds: list[float] = []
        for line, column in places:
            started = time.perf_counter()
            completion_context(document, str(path), line, column, index, {str(path): document}, [], budget=1024)
            seconds.append(time.perf_counter() - started)
        return seconds

    return assemble_everywhere(), assemble_everywhere(), index.file_count


def _reparse(
    document: SyntaxDocument, rng: random.Random, edits: int, clean: list[float], broken: list[float]
) -> list[float]:
    """Seconds per 1-character edit and reparse at random places, each undone before the next."""
    lines = document.text.split("\n")
    times: list[float] = []
    for _ in range(edits):
        line = rng.randrange(len(lines))
        column = rng.randrange(len(lines[line]) + 1)
        started = time.perf_counter()
        document.apply(TextEdit(line, column, line, column, rng.choice("abcxyz_(0 ")))
        document.parse()  # the reparse happens when a tree is read (or here)
        times.append(time.perf_counter() - started)
        (broken if document.has_error else clean).append(times[-1])
        document.apply(TextEdit(line, column, line, column + 1, ""))  # undo: each keystroke starts from clean code
        document.parse()
    return times


def markdown(result: ContextBench) -> str:
    files_per_second = result.index_files / result.index_seconds if result.index_seconds else float("nan")
    reparse_p95 = percentile(result.reparse, 0.95) * 1000
    assembly_p95 = percentile(result.assembly, 0.95) * 1000
    rows = [
        "| measure | result | target |",
        "|---|---|---|",
        f"| incremental reparse after a 1-character edit, {result.file_lines}-line Python file, p50 / p95 ms | "
        f"{summary_ms(result.reparse)} | p95 ≤ 2 ms ({'met' if reparse_p95 <= 2 else 'missed'}) |",
        f"| … of which the file stayed valid ({len(result.reparse_clean)} edits), p50 / p95 ms | "
        f"{summary_ms(result.reparse_clean)} | |",
        f"| … of which the edit made a syntax error ({len(result.reparse_broken)} edits), p50 / p95 ms | "
        f"{summary_ms(result.reparse_broken)} | |",
        f"| … the same lines as one class (no top-level statements: cut between its methods, "
        f"{result.one_class_segments} segments), p50 / p95 ms | {summary_ms(result.reparse_one_class)} | |",
        f"| JavaScript, 700 functions ({result.javascript_lines} lines), p50 / p95 ms | "
        f"{summary_ms(result.reparse_javascript)} | |",
        f"| … the same as the methods of one class (not cut inside: a piece would lack the closing brace), "
        f"p50 / p95 ms | {summary_ms(result.reparse_javascript_class)} | |",
        f"| C++, 600 functions in one namespace ({result.cpp_lines} lines, {result.cpp_segments} segment: a "
        f"namespace is not cut), p50 / p95 ms | {summary_ms(result.reparse_cpp_namespace)} | |",
        f"| opening that file: whole-file parse, then one parse per segment ({result.segments} segments), ms | "
        f"{result.open_seconds * 1000:.1f} | |",
        f"| context assembly with a {result.index_files}-file index, p50 / p95 ms | {summary_ms(result.assembly)} | "
        f"p95 ≤ 10 ms ({'met' if assembly_p95 <= 10 else 'missed'}) |",
        f"| … with {LARGE_OPEN_FILES} more files of {result.large_open_lines} lines open, p50 / p95 ms | "
        f"{summary_ms(result.assembly_large_open)} | p95 ≤ 10 ms "
        f"({'met' if percentile(result.assembly_large_open, 0.95) * 1000 <= 10 else 'missed'}) |",
        f"| … in this package's own source ({OWN_SOURCE_FILE} open, its {result.own_index_files} modules indexed; "
        f"{len(result.own_first)} places), p50 / p95 ms: the first time at each place; again | "
        f"{summary_ms(result.own_first)}; again {summary_ms(result.own_again)} | |",
        f"| index build, {result.index_files} files | {result.index_seconds:.2f} s = {files_per_second:.0f} files/s | "
        f"≥ 1,000 files/s ({'met' if files_per_second >= 1000 else 'missed'}) |",
        f"| index build, peak RSS growth | {result.index_rss_mb:.1f} MB | |",
    ]
    return header("Context engine (`atlas-lsp bench context`)") + "\n" + "\n".join(rows) + "\n"
