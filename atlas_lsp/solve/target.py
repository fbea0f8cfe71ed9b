"""The function to solve: found with tree-sitter text objects, with its signature, docstring and examples."""

from __future__ import annotations

import re
from dataclasses import dataclass

from atlas_lsp.syntax.document import SyntaxDocument
from atlas_lsp.syntax.symbols import Definition, definitions, enclosing, signature_of, text_objects

_NOT_WRITTEN = r"[\"'`][^\"'`]*\b(todo|fixme|not (yet )?implemented|unimplemented)\b[^\"'`]*[\"'`]"  # ("TODO")
# The statements of a body not written yet, one per line: Python's `pass`, `...` and NotImplementedError, Rust's
# todo!() and unimplemented!(), Java's UnsupportedOperationException, Go's panic("not implemented"), an error thrown
# that says so (JavaScript, Java), and a to-do comment
_STUB_LINE = re.compile(
    r"^\s*(pass|\.\.\.|raise NotImplementedError(\(.*\))?"
    r"|(todo|unimplemented)!\(.*\);?"
    r"|throw new (java\.lang\.)?UnsupportedOperationException\(.*\);?"
    rf"|throw new \w+\(\s*{_NOT_WRITTEN}\s*\);?"
    rf"|panic\(\s*{_NOT_WRITTEN}\s*\)"
    r"|(#|//|/\*).*\b(TODO|FIXME)\b.*)\s*$",
    re.I,
)
_BRACES = re.compile(r"^\s*\{|\}\s*$")  # a body's own braces (Java, Go, Rust, JavaScript), around its statements


@dataclass(frozen=True)
class FunctionTarget:
    """A function in a document: where it is, and what the model is told about it."""

    name: str
    start_byte: int
    end_byte: int
    start_line: int
    start_column: int
    end_line: int
    end_column: int
    text: str  # the whole definition (@function.around), from its first character
    signature: str
    doc: str
    indent: str  # the definition's own indentation

    @property
    def examples(self) -> list[tuple[str, str]]:
        return docstring_examples(self.doc)

    @property
    def is_stub(self) -> bool:
        """Its body is only a docstring and statements that say it is not written yet (`pass`, `...`, `raise
        NotImplementedError`, `todo!()`, `throw new UnsupportedOperationException()`, `panic("not implemented")`, a
        TODO comment: _STUB_LINE)."""
        body = self.text[len(self.signature) :]
        if self.doc:
            body = body.replace(self.doc, "", 1)
        lines = [stripped for line in body.split("\n") if (stripped := _BRACES.sub("", line).strip())]
        return all(_STUB_LINE.match(line) for line in lines) if lines else True


def _same(signature: str, other: str) -> bool:
    """Two signatures alike but for their spacing."""
    return " ".join(signature.split()) == " ".join(other.split())


def docstring_examples(doc: str) -> list[tuple[str, str]]:
    """(expression, expected output) pairs from `>>>` lines of a docstring."""
    examples: list[tuple[str, str]] = []
    lines = [line.strip() for line in doc.strip("\"'").split("\n")]
    for index, line in enumerate(lines):
        if line.startswith(">>> "):
            expected = lines[index + 1] if index + 1 < len(lines) else ""
            if expected and not expected.startswith(">>>"):
                examples.append((line[4:], expected))
    return examples


def _definition_for(document: SyntaxDocument, path: str, start: int, end: int) -> Definition | None:
    found = definitions(document.spec, document.roots, document.source, path)
    return next((d for d in found if d.start_byte == start and d.end_byte == end), None)


def find_function(
    document: SyntaxDocument,
    path: str,
    line: int | None = None,
    name: str | None = None,
    signature: str | None = None,
) -> FunctionTarget | None:
    """The innermost function around ``line``, or the function called ``name``; given both (the solve command, which
    names the function and the line it starts on), the one of that name there: another of the same name (Java's
    overloads, the same method in two classes of one file) is not it. Given a ``signature`` (a model's reply with
    several of that name), the one written with it, else the first."""
    objects = text_objects(document.spec, document.roots, "function")
    chosen = None
    if name is not None:
        named = [
            obj
            for obj in objects
            if (definition := _definition_for(document, path, obj.around_start, obj.around_end)) is not None
            and definition.name == name.split(".")[-1]
        ]
        at_line = [
            obj for obj in named if line is not None and obj.node.start_point.row <= line <= obj.node.end_point.row
        ]
        alike = [o for o in named if signature is not None and _same(signature_of(document.source, o.node), signature)]
        chosen = (at_line or alike or named or [None])[-1 if at_line else 0]  # (the innermost there, else the first)
    elif line is not None:
        byte, _ = document.point(line, 0)
        end, _ = document.point(line + 1, 0)
        containing = [o for o in objects if o.around_start <= end and byte <= o.around_end]
        chosen = enclosing(containing, max(byte, min(o.around_start for o in containing))) if containing else None
    if chosen is None:
        return None
    node = chosen.node
    definition = _definition_for(document, path, node.start_byte, node.end_byte)
    if definition is None:
        return None
    line_start, _ = document.point(node.start_point.row, 0)
    indent = document.source[line_start : node.start_byte].decode("utf-8", errors="replace")
    return FunctionTarget(
        name=definition.name,
        start_byte=node.start_byte,
        end_byte=node.end_byte,
        start_line=node.start_point.row,
        start_column=len(indent),
        end_line=node.end_point.row,
        end_column=len(document.source[document.point(node.end_point.row, 0)[0] : node.end_byte].decode("utf-8")),
        text=document.node_text(node),
        signature=signature_of(document.source, node),  # (its own: `function f(…)` of an `export function f(…)`)
        doc=definition.doc,
        indent=indent if not indent.strip() else "",
    )
