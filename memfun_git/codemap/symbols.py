"""Definitions in one file's source, as a reader names them: kind, name, signature, nesting.

`extract` parses with tree-sitter and runs the language's definition query (languages.py).
A file with syntax errors gives what parses (tree-sitter recovers around errors) and is
marked partial; it never raises. Names and signatures are decoded as UTF-8 with replacement,
so a file in another encoding still maps.

The identifiers a file uses (for the reference graph of the ranking) are read with one
regular expression over the text rather than from the syntax tree: every word-shaped token
that is not a keyword-length fragment. It costs a fraction of a tree walk in Python and finds
what a tags query for references would, plus words in comments and strings, which rank
harmlessly (they only count where a definition of that name exists elsewhere).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from memfun_git.codemap.languages import CLASS_LIKE, grammar, query

if TYPE_CHECKING:
    from tree_sitter import Node

__all__ = ["FileSymbols", "Symbol", "extract", "identifiers"]

_SIGNATURE_MAX = 160
_IDENT = re.compile(r"[^\W\d]\w{2,}")
"""Identifiers of three characters or more (unicode letters included)."""
_BODY_FIELDS = ("body",)
_OPENERS = ("{", "=>")
_TRAILING_COMMENT = re.compile(r":[ \t]*#[^\n]*\s*$")
"""`def f(x):  # noqa` in Python: the head ends at the colon."""
_AFTER_OPEN = re.compile(r"([(\[]) ")
_BEFORE_CLOSE = re.compile(r",? ([)\]])")
"""A definition written over several lines reads as one: `f(a, b)`, not `f( a, b, )`."""


@dataclass(frozen=True, slots=True)
class Symbol:
    kind: str
    """class, struct, interface, trait, enum, function or method."""
    name: str
    signature: str
    """The definition's head as written, whitespace collapsed: `def f(a: int) -> str`."""
    line: int
    """1-based first line."""
    end_line: int
    parent: str = ""
    """The enclosing definitions' names, outermost first, joined with dots ("" at top level)."""
    decorators: tuple[str, ...] = ()

    @property
    def depth(self) -> int:
        return self.parent.count(".") + 1 if self.parent else 0

    def to_json(self) -> list[Any]:
        return [
            self.kind, self.name, self.signature, self.line, self.end_line, self.parent,
            list(self.decorators),
        ]  # fmt: skip

    @classmethod
    def from_json(cls, data: list[Any]) -> Symbol:
        kind, name, signature, line, end_line, parent, decorators = data
        return cls(kind, name, signature, line, end_line, parent, tuple(decorators))


@dataclass(frozen=True, slots=True)
class FileSymbols:
    symbols: tuple[Symbol, ...]
    identifiers: frozenset[str]
    partial: bool = False
    """The file has syntax errors: the symbols are what parsed."""


def identifiers(text: str) -> frozenset[str]:
    return frozenset(_IDENT.findall(text))


def extract(source: bytes, language: str) -> FileSymbols:
    """The definitions in `source`, in document order, and the identifiers it uses."""
    from tree_sitter import Parser, QueryCursor

    text = source.decode("utf-8", errors="replace")
    if not source.strip():
        return FileSymbols((), frozenset())
    tree = Parser(grammar(language)).parse(source)
    root = tree.root_node
    found: dict[int, Symbol] = {}
    for _, captures in QueryCursor(query(language)).matches(root):
        kind = next((key[4:] for key in captures if key.startswith("def.")), None)
        names = captures.get("name")
        if kind is None or not names:
            continue
        node = captures["def." + kind][0]
        if node.start_byte in found:
            continue  # one definition, several patterns (a TS class and a class expression)
        name = _text(names[0])
        parents = _parents(node)
        if kind == "function" and node.parent is not None and _in_class(node):
            kind = "method"
        if kind == "method" and language == "go":
            parents = [_go_receiver(node)] if _go_receiver(node) else parents
        decorators = _decorators(node)
        found[node.start_byte] = Symbol(
            kind,
            name,
            _signature(source, node, decorators),
            node.start_point.row + 1,
            node.end_point.row + 1,
            ".".join(parents),
            decorators,
        )
    symbols = tuple(found[key] for key in sorted(found))
    return FileSymbols(symbols, identifiers(text), root.has_error)


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", errors="replace")


def _name_of(node: Node) -> str | None:
    name = node.child_by_field_name("name")
    if name is None and node.type == "impl_item":
        name = node.child_by_field_name("type")
        while name is not None and name.type in ("generic_type", "scoped_type_identifier"):
            name = name.child_by_field_name("type") or name.child_by_field_name("name")
    return _text(name) if name is not None else None


_DEFINITIONS = CLASS_LIKE | frozenset(
    (
        "function_definition", "function_declaration", "generator_function_declaration",
        "method_definition", "function_item", "method_declaration", "constructor_declaration",
        "mod_item", "internal_module", "module",
    )
)  # fmt: skip


def _parents(node: Node) -> list[str]:
    names: list[str] = []
    parent = node.parent
    while parent is not None:
        if parent.type in _DEFINITIONS:
            name = _name_of(parent)
            if name:
                names.append(name)
        parent = parent.parent
    names.reverse()
    return names


_FUNCTION_VALUES = frozenset(("arrow_function", "function_expression", "generator_function"))
"""A function written as a value: what is defined in its body is not a class's method."""


def _in_class(node: Node) -> bool:
    """The nearest enclosing definition is class-like (so a function here is a method)."""
    parent = node.parent
    while parent is not None:
        if parent.type in CLASS_LIKE:
            return True
        if parent.type in _DEFINITIONS or parent.type in _FUNCTION_VALUES:
            return False
        parent = parent.parent
    return False


def _go_receiver(node: Node) -> str:
    """`Server` for `(s *Server)` and `List` for `(l List[T])`."""
    receiver = node.child_by_field_name("receiver")
    if receiver is None:
        return ""
    words = re.findall(r"\w+", re.sub(r"\[[^\]]*\]", "", _text(receiver)))
    return words[-1] if words else ""


def _signature(source: bytes, node: Node, decorators: tuple[str, ...]) -> str:
    end = node.end_byte
    body = next((b for f in _BODY_FIELDS if (b := node.child_by_field_name(f))), None)
    if body is None:
        value = node.child_by_field_name("value") or node.child_by_field_name("right")
        if value is not None:
            body = value.child_by_field_name("body")
    if body is not None and body.start_byte > node.start_byte:
        end = body.start_byte
    head = source[node.start_byte : end].decode("utf-8", errors="replace")
    if body is None:
        cuts = [i for i in (head.find(o) for o in _OPENERS) if i > 0]
        head = head[: min(cuts)] if cuts else head.split("\n", 1)[0]
    head = _TRAILING_COMMENT.sub(":", head)
    head = " ".join(head.split())
    head = _AFTER_OPEN.sub(r"\1", _BEFORE_CLOSE.sub(r"\1", head))
    for decorator in decorators:  # java annotations sit inside the declaration
        head = head.removeprefix(decorator).lstrip()
    head = head.rstrip(":;{ ").removesuffix("=>").removesuffix("=").rstrip()
    if node.type == "type_spec":
        head = "type " + head
    if len(head) > _SIGNATURE_MAX:
        head = head[: _SIGNATURE_MAX - 1].rstrip() + "…"
    return head


def _decorators(node: Node) -> tuple[str, ...]:
    found: list[str] = []
    parent = node.parent
    if parent is not None and parent.type == "decorated_definition":
        found += [_text(c) for c in parent.children if c.type == "decorator"]
    for child in node.children:
        if child.type == "modifiers":  # java annotations
            found += [_text(c) for c in child.children if c.type.endswith("annotation")]
        elif child.type == "decorator":  # a decorator inside a js/ts class declaration
            found.append(_text(child))
    if parent is None or parent.type != "decorated_definition":
        before: list[str] = []
        sibling = node.prev_named_sibling
        while sibling is not None and sibling.type in ("decorator", "attribute_item"):
            before.append(_text(sibling))
            sibling = sibling.prev_named_sibling
        found = before[::-1] + found
    return tuple(" ".join(d.split())[:_SIGNATURE_MAX] for d in found)
