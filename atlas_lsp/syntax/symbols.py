"""What the queries find in one file: definitions (with signature and doc), text objects, imports, names."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from tree_sitter import Node

from atlas_lsp.syntax.queries import captures, matches
from atlas_lsp.syntax.registry import LanguageSpec

_KIND_PRIORITY = {
    "method": 0, "class": 1, "interface": 1, "type": 2, "function": 3, "constant": 4, "module": 5, "field": 6,
}  # fmt: skip
MAX_FIELDS_SHOWN = 20  # of a class's fields, in its skeleton


@dataclass(frozen=True)
class Definition:
    """A named definition: enough to show a skeleton or find the code again."""

    name: str
    kind: str
    signature: str
    doc: str
    path: str
    start_line: int
    end_line: int
    start_byte: int
    end_byte: int
    has_body: bool = True
    closing: str = ""  # what follows its closing brace on that line: C's `typedef struct {…} point_t;` → "point_t;"
    written: str = ""  # one without a body, as written when it is short (a union type, a dict): its skeleton

    def skeleton(self, comment: str = "#") -> str:
        """Signature and doc, body collapsed (`...` for indentation-based languages, `{ ... }` for braces)."""
        signature = self.signature.rstrip()
        if not self.has_body:  # (a constant, a Go type: its doc comment above it)
            return "\n".join([*(f"{comment} {row}" for row in self.doc.splitlines()), self.written or signature])
        if signature.endswith(":"):
            doc = [f"    {row.strip()}" for row in self.doc.splitlines()]
            return "\n".join([signature, *doc, "    ..."])
        doc = [f"{comment} {row}" for row in self.doc.splitlines()]
        return "\n".join([*doc, f"{signature} {{ ... }}"])


CONTAINER_KINDS = ("class", "interface", "type")  # definitions whose skeletons show their members
WRITTEN_LINES = 6  # a definition without a body is shown whole up to this many lines and WRITTEN_CHARS characters
WRITTEN_CHARS = 400


def class_skeleton(definition: Definition, members: list[Definition], comment: str = "#") -> str:
    """A class's (an interface's, an enum's) skeleton with its own fields (as declared: ``x: int``, ``private int
    side = 1;``, a struct's ``Side int``, an enum's variants; the first MAX_FIELDS_SHOWN; its constants too) and its
    methods' skeletons inside (bodies collapsed), in their order; not those of a class inside it. Another kind of
    definition: its own skeleton."""
    if definition.kind not in CONTAINER_KINDS or (
        not definition.has_body and definition.start_line == definition.end_line
    ):
        return definition.skeleton(comment)  # (one written on one line, `type P struct{ X int }`: its line says it)
    inside = [m for m in members if definition.start_byte < m.start_byte and m.end_byte <= definition.end_byte]
    # a container written on the definition's first line is its body (C's `typedef struct point {…} point_t;`): its
    # members are the definition's own
    inside = [m for m in inside if not (m.kind in CONTAINER_KINDS and m.start_line == definition.start_line)]
    nested = _nested(inside)
    own = [m for m in inside if id(m) not in nested]
    fields = {id(m) for m in [m for m in own if m.kind in ("field", "constant")][:MAX_FIELDS_SHOWN]}
    inner = [m for m in own if m.kind == "method" or id(m) in fields]
    if not inner:
        return definition.skeleton(comment)
    indented = "\n".join(
        "    " + row for m in inner for row in (m.skeleton(comment) if m.kind == "method" else m.signature).split("\n")
    )
    signature = definition.signature.rstrip()
    if signature.endswith(":"):
        doc = [f"    {row.strip()}" for row in definition.doc.splitlines()]
        return "\n".join([signature, *doc, indented])
    doc = [f"{comment} {row}" for row in definition.doc.splitlines()]
    closing = definition.closing
    closing = "}" + ("" if closing[:1] in ("", ";", ",") else " ") + closing  # `} point_t;`, `};`
    return "\n".join([*doc, signature + " {", indented, closing])


def _nested(definitions: list[Definition]) -> set[int]:
    """The ids of the definitions that lie within another of ``definitions`` (two with the same bytes each lie
    within the other). One pass in start order, keeping the farthest end seen: a class of n members took n² checks."""
    ordered = sorted(definitions, key=lambda d: (d.start_byte, -d.end_byte))
    spans = [(d.start_byte, d.end_byte) for d in ordered]
    nested: set[int] = set()
    reach = -1
    for number, (definition, span) in enumerate(zip(ordered, spans, strict=True)):
        twin = (number > 0 and spans[number - 1] == span) or (number + 1 < len(spans) and spans[number + 1] == span)
        if span[1] <= reach or twin:
            nested.add(id(definition))
        reach = max(reach, span[1])
    return nested


@dataclass(frozen=True)
class TextObject:
    around_start: int
    around_end: int
    inside_start: int | None
    inside_end: int | None
    node: Node


def _text(source: bytes, node: Node) -> str:
    return source[node.start_byte : node.end_byte].decode("utf-8", errors="replace")


def _body(node: Node) -> Node | None:
    body = node.child_by_field_name("body")
    if body is None and node.type == "variable_declarator":
        value = node.child_by_field_name("value")
        body = value.child_by_field_name("body") if value is not None else None
    if body is None or body.start_byte <= node.start_byte or body.type == "ordered_field_declaration_list":
        return None  # (a Rust tuple struct's `(i32, String)` is its fields, not a body to collapse)
    return body


def _declaration(node: Node, wrappers: tuple[str, ...]) -> Node:
    """The statement a definition is written as: ``node`` itself, or the declaration of a type in ``wrappers`` (the
    language's `declaration_wrappers`) around it that starts on its line: `export function f`, `const f = () =>`,
    Go's `type Point struct`. Its signature starts there, and its doc comment is above it."""
    parent = node.parent
    while parent is not None and parent.type in wrappers and parent.start_point.row == node.start_point.row:
        node, parent = parent, parent.parent
    return node


def _grouping_keyword(node: Node, declaration: Node | None, wrappers: tuple[str, ...]) -> str:
    """The keyword of a grouped declaration that ``node`` is one of (Go's `type ( A struct{…}; B int )`: `type`),
    which its own text lacks; "" for a definition written on its declaration's line, or not in one."""
    parent = node.parent
    if declaration is not node or parent is None or parent.type not in wrappers:
        return ""
    first = parent.child(0)
    return first.type if first is not None and not first.is_named and first.type.isidentifier() else ""


def signature_of(source: bytes, node: Node, declaration: Node | None = None, wrappers: tuple[str, ...] = ()) -> str:
    """What a definition's skeleton starts with: from its declaration's start up to its body (a definition without
    one: its first line, less the brace that opens a Go struct's fields); one of a grouped declaration (a `type`
    block of ``wrappers``) after the group's keyword."""
    start = (declaration or node).start_byte
    keyword = _grouping_keyword(node, declaration or node, wrappers)
    prefix = f"{keyword} " if keyword else ""
    body = _body(node)
    if body is None:
        text = source[start : node.end_byte].decode("utf-8", errors="replace")
        return prefix + text.split("\n", 1)[0].rstrip().removesuffix("{").rstrip()
    return prefix + source[start : body.start_byte].decode("utf-8", errors="replace").rstrip()


def _comment_doc(source: bytes, node: Node, comment: str, passed_over: tuple[str, ...] = ()) -> str:
    """Line comments directly above ``node`` (Go, Rust, JS doc comments), past the statements of ``passed_over``
    types between them that are not comments (Rust's attributes: `/// doc` then `#[derive(…)]`)."""
    rows: list[str] = []
    line = node.start_point.row
    sibling = node.prev_named_sibling
    while sibling is not None and sibling.type in passed_over and "comment" not in sibling.type:
        line = sibling.start_point.row  # (the comment is above the attributes)
        sibling = sibling.prev_named_sibling
    parent = node.parent
    if sibling is None and parent is not None and parent.start_byte == node.start_byte:
        # the first statement of a block: Python puts the comments above it before the block (after the header)
        sibling = parent.prev_named_sibling
        if sibling is not None and sibling.start_point.column != node.start_point.column:
            sibling = None  # a comment after the header on its line is not about this statement
    while sibling is not None and "comment" in sibling.type and sibling.end_point.row >= line - 1:
        text = _text(source, sibling).strip()
        for marker in ("///", "//!", comment, "/**", "*/", "/*"):
            text = text.replace(marker, "")
        rows.insert(0, " ".join(part.strip(" *") for part in text.splitlines()).strip())
        line = sibling.start_point.row
        sibling = sibling.prev_named_sibling
    return "\n".join(row for row in rows if row)


def definitions(
    spec: LanguageSpec, roots: Sequence[Node], source: bytes, path: str, span: tuple[int, int] | None = None
) -> list[Definition]:
    """Every definition under ``roots`` (a document's segment roots), once each (a method is not also a function);
    with ``span`` (start, end bytes), only the definitions that overlap it. A class cut into pieces (one per
    segment, each parsed after its header) is one definition: the whole range, and its docstring."""
    query = spec.queries.get("tags")
    if query is None:
        return []
    found: dict[int, Definition] = {}
    for match in (match for root in roots for match in matches(query, root, span)):
        kind_capture = next((name for name in match if name.startswith("definition.")), None)
        if kind_capture is None or "name" not in match:
            continue
        node, name_node = match[kind_capture][0], match["name"][0]
        if span is not None and not (node.start_byte < span[1] and span[0] < node.end_byte):
            continue
        kind = kind_capture.split(".", 1)[1]
        key = node.start_byte
        doc_nodes = match.get("doc")
        previous = found.get(key)
        if previous is not None and previous.end_byte == node.end_byte and _cannot_replace(kind, doc_nodes, previous):
            continue  # (the same node matched by a pattern that loses: a method's function pattern; not built)
        declaration = _declaration(node, spec.declaration_wrappers)
        body = _body(node)
        doc = (
            _text(source, doc_nodes[0])
            if doc_nodes
            else _comment_doc(source, declaration, spec.line_comment, spec.attached_to_next)
        )
        candidate = Definition(
            name=_text(source, name_node),
            kind=kind,
            signature=_text(source, node).split("\n", 1)[0]
            if kind == "field"
            else signature_of(source, node, declaration, spec.declaration_wrappers),
            doc=doc,
            path=path,
            start_line=node.start_point.row,
            end_line=node.end_point.row,
            start_byte=node.start_byte,
            end_byte=node.end_byte,
            has_body=body is not None,
            closing=_after_closing_brace(source, node) if kind in CONTAINER_KINDS else "",
            written=_written(source, node, declaration, spec.declaration_wrappers)
            if kind != "field" and body is None
            else "",
        )
        if previous is None:
            found[key] = candidate
        elif previous.end_byte != candidate.end_byte and previous.kind == candidate.kind:
            found[key] = _joined(previous, candidate)
        elif _better(candidate, previous):
            found[key] = candidate
    return sorted(found.values(), key=lambda d: d.start_byte)


def defined_names(spec: LanguageSpec, roots: Sequence[Node], source: bytes) -> set[str]:
    """The names of every definition under ``roots`` but fields (cheaper than `definitions` when only names
    matter)."""
    query = spec.queries.get("tags")
    if query is None:
        return set()
    found = (match for root in roots for match in matches(query, root))
    return {_text(source, match["name"][0]) for match in found if "name" in match and "definition.field" not in match}


def _written(source: bytes, node: Node, declaration: Node, wrappers: tuple[str, ...]) -> str:
    """A definition without a body as written, from its declaration's start, when it spans 2 to WRITTEN_LINES
    lines and at most WRITTEN_CHARS characters (`type Color =` then its union's lines; a dict constant); its later
    lines indented relative to its first. "" otherwise: its first line stands for it."""
    lines = node.end_point.row - declaration.start_point.row + 1
    if lines < 2 or lines > WRITTEN_LINES or node.end_byte - declaration.start_byte > 4 * WRITTEN_CHARS:
        return ""  # (without decoding it: a generated data file's constant can be megabytes)
    text = source[declaration.start_byte : node.end_byte].decode("utf-8", errors="replace")
    rows = text.split("\n")
    if len(rows) < 2 or len(rows) > WRITTEN_LINES or len(text) > WRITTEN_CHARS:
        return ""
    column = declaration.start_point.column
    rows = [rows[0], *(row[column:] if not row[:column].strip() else row.lstrip() for row in rows[1:])]
    keyword = _grouping_keyword(node, declaration, wrappers)
    return (f"{keyword} " if keyword else "") + "\n".join(row.rstrip() for row in rows)


def _after_closing_brace(source: bytes, node: Node) -> str:
    """What a container's text has after its last closing brace, on that brace's line (the names a C typedef
    declares: `} point_t;`); "" when nothing or a line break follows it. Only its end is read: a class can be long."""
    text = source[max(node.start_byte, node.end_byte - 128) : node.end_byte].decode("utf-8", errors="replace")
    brace = text.rfind("}")
    rest = text[brace + 1 :] if brace >= 0 else ""
    return rest.strip() if rest.strip() and "\n" not in rest and len(rest) <= 80 else ""


def _joined(first: Definition, second: Definition) -> Definition:
    """One definition from two pieces of it: the longer range, and the doc one of them has."""
    longer = first if first.end_byte >= second.end_byte else second
    return dataclasses.replace(longer, doc=first.doc or second.doc)


def _cannot_replace(kind: str, doc_nodes: list[Node] | None, old: Definition) -> bool:
    """Whether a match of kind ``kind`` for ``old``'s node would lose to it in `_better` (without building it: a
    query matches each method as a method and as a function, with and without its docstring). A match without
    doc nodes would get ``old``'s comment doc, its node's being the same."""
    rank, old_rank = _KIND_PRIORITY.get(kind, 9), _KIND_PRIORITY.get(old.kind, 9)
    return rank > old_rank or (rank == old_rank and (bool(old.doc) or not doc_nodes))


def _better(new: Definition, old: Definition) -> bool:
    new_rank, old_rank = _KIND_PRIORITY.get(new.kind, 9), _KIND_PRIORITY.get(old.kind, 9)
    if new_rank != old_rank:
        return new_rank < old_rank
    return bool(new.doc) and not old.doc


def text_objects(spec: LanguageSpec, roots: Sequence[Node], kind: str = "function") -> list[TextObject]:
    """``kind``.around spans (with their .inside spans) in document order."""
    query = spec.queries.get("textobjects")
    if query is None:
        return []
    objects: list[TextObject] = []
    for match in (match for root in roots for match in matches(query, root)):
        around = match.get(f"{kind}.around")
        if not around:
            continue
        inside = match.get(f"{kind}.inside")
        node = around[0]
        objects.append(
            TextObject(
                node.start_byte,
                node.end_byte,
                inside[0].start_byte if inside else None,
                inside[0].end_byte if inside else None,
                node,
            )
        )
    return sorted(objects, key=lambda o: o.around_start)


def enclosing(objects: list[TextObject], byte: int) -> TextObject | None:
    """The innermost object whose span contains ``byte``."""
    containing = [o for o in objects if o.around_start <= byte <= o.around_end]
    return min(containing, key=lambda o: o.around_end - o.around_start) if containing else None


def imported_names(spec: LanguageSpec, roots: Sequence[Node], source: bytes) -> list[tuple[str, str]]:
    """(module, name) pairs the file imports; name is "" for a whole-module import."""
    query = spec.queries.get("imports")
    if query is None:
        return []
    pairs: list[tuple[str, str]] = []
    for match in (match for root in roots for match in matches(query, root)):
        module = _text(source, match["import.module"][0]).strip("\"'") if "import.module" in match else ""
        for name_node in match.get("import.name", []) or [None]:
            name = _text(source, name_node) if name_node is not None else ""
            pairs.append((module, name.rsplit(".", 1)[-1]))
    return pairs


REFERENCE_WEIGHTS = (("reference.call", 3), ("reference.name", 1))  # a call's name counts three times more
LineNames = tuple[tuple[tuple[str, int], ...], ...]  # per line: (name, weight) of each name used on it


def names_by_line(
    spec: LanguageSpec, root: Node, source: bytes, start_byte: int, end_byte: int, first_line: int
) -> LineNames:
    """The names used between two offsets of ``root``'s tree, per line from ``first_line`` (the line of
    ``start_byte``) on, each with its weight: what `referenced_names` counts, kept per line so that a window's
    counts are its lines' added up. Only nodes that start in the span count (a class's piece: not its header's)."""
    query = spec.queries.get("references")
    if query is None:
        return ()
    found = captures(query, root, start_byte, end_byte)
    lines: dict[int, list[tuple[str, int]]] = {}
    for capture, weight in REFERENCE_WEIGHTS:
        for node in found.get(capture, []):
            if start_byte <= node.start_byte < end_byte:
                lines.setdefault(node.start_point.row - first_line, []).append((_text(source, node), weight))
    return tuple(tuple(lines.get(line, ())) for line in range(max(lines, default=-1) + 1))


def referenced_names(
    spec: LanguageSpec, roots: Sequence[Node], source: bytes, start_byte: int, end_byte: int
) -> list[str]:
    """Names used between two offsets, most frequent first (a call counts three times), ties by name."""
    query = spec.queries.get("references")
    if query is None:
        return []
    found = [
        captures(query, root, start_byte, end_byte)
        for root in roots
        if root.start_byte < end_byte and start_byte < root.end_byte
    ]
    counts: dict[str, int] = {}
    for capture, weight in REFERENCE_WEIGHTS:
        seen: set[int] = set()  # a class's header is in each of its pieces' trees: count its names once
        for node in (node for group in found for node in group.get(capture, [])):
            if start_byte <= node.start_byte and node.end_byte <= end_byte and node.start_byte not in seen:
                seen.add(node.start_byte)
                name = _text(source, node)
                counts[name] = counts.get(name, 0) + weight
    return sorted(counts, key=lambda name: (-counts[name], name))  # ties by name: the same order in every run
