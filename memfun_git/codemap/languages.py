"""The languages the code map reads: file extensions, tree-sitter grammars and definition queries.

Grammars come from the per-language wheels (`tree-sitter-python`, ...), which ship compiled
code: nothing is downloaded at run time. They are loaded on first use, so importing the code
map costs nothing until a file is parsed.

Each query captures a definition as `@def.<kind>` and its name as `@name`. Kinds are what a
reader calls a definition: class, struct, interface, trait, enum, function (a function inside
a class-like definition is reported as a method by `symbols.extract`). In JavaScript and
TypeScript a function bound to a name is one too: `const f = () => ...`, `exports.f =
function ...`, `const api = { f: () => ... }`, a class field `f = () => ...`, a named function
passed as an argument (as tree-sitter's own tags queries count them); so is Python's
`f = lambda ...`. Java has only methods: one in an anonymous class or an annotation's element
is a method too.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tree_sitter import Language, Query

__all__ = ["CLASS_LIKE", "EXTENSIONS", "grammar", "language_of", "query"]

EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".jsx": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
}

CLASS_LIKE = frozenset(
    (
        "class_definition",  # python
        "class_declaration",  # js, ts, java
        "abstract_class_declaration",
        "class",  # a js class expression
        "interface_declaration",
        "annotation_type_declaration",  # java
        "enum_declaration",
        "record_declaration",
        "trait_item",
        "impl_item",
        "struct_item",
        "enum_item",
        "type_spec",  # go
    )
)
"""Definitions whose functions are methods, and whose names qualify what they hold."""

_JS = """
(class_declaration name: (_) @name) @def.class
(class name: (_) @name) @def.class
(function_declaration name: (_) @name) @def.function
(generator_function_declaration name: (_) @name) @def.function
(method_definition name: (_) @name) @def.function
(variable_declarator name: (identifier) @name
  value: [(arrow_function) (function_expression) (generator_function)]) @def.function
(assignment_expression left: (member_expression property: (property_identifier) @name)
  right: [(arrow_function) (function_expression) (generator_function)]) @def.function
(variable_declarator value: (object (pair key: (property_identifier) @name
  value: [(arrow_function) (function_expression) (generator_function)]) @def.function))
(assignment_expression right: (object (pair key: (property_identifier) @name
  value: [(arrow_function) (function_expression) (generator_function)]) @def.function))
(export_statement value: (object (pair key: (property_identifier) @name
  value: [(arrow_function) (function_expression) (generator_function)]) @def.function))
(arguments [(function_expression name: (identifier) @name)
  (generator_function name: (identifier) @name)] @def.function)
"""
_JS_FIELD = """
(field_definition property: (property_identifier) @name
  value: [(arrow_function) (function_expression) (generator_function)]) @def.function
"""
_TS_FIELD = """
(public_field_definition name: (property_identifier) @name
  value: [(arrow_function) (function_expression) (generator_function)]) @def.function
"""

_TS_EXTRA = """
(abstract_class_declaration name: (_) @name) @def.class
(interface_declaration name: (_) @name) @def.interface
(enum_declaration name: (_) @name) @def.enum
(method_signature name: (_) @name) @def.function
(abstract_method_signature name: (_) @name) @def.function
(function_signature name: (_) @name) @def.function
"""

_QUERIES: dict[str, str] = {
    "python": """
(class_definition name: (identifier) @name) @def.class
(function_definition name: (identifier) @name) @def.function
(assignment left: (identifier) @name right: (lambda)) @def.function
""",
    "javascript": _JS + _JS_FIELD,
    "typescript": _JS + _TS_FIELD + _TS_EXTRA,
    "tsx": _JS + _TS_FIELD + _TS_EXTRA,
    "go": """
(function_declaration name: (identifier) @name) @def.function
(method_declaration name: (field_identifier) @name) @def.method
(type_spec name: (type_identifier) @name type: (struct_type)) @def.struct
(type_spec name: (type_identifier) @name type: (interface_type)) @def.interface
(method_elem name: (field_identifier) @name) @def.function
""",
    "rust": """
(struct_item name: (type_identifier) @name) @def.struct
(union_item name: (type_identifier) @name) @def.struct
(enum_item name: (type_identifier) @name) @def.enum
(trait_item name: (type_identifier) @name) @def.trait
(function_item name: (identifier) @name) @def.function
(function_signature_item name: (identifier) @name) @def.function
""",
    "java": """
(class_declaration name: (identifier) @name) @def.class
(interface_declaration name: (identifier) @name) @def.interface
(annotation_type_declaration name: (identifier) @name) @def.interface
(enum_declaration name: (identifier) @name) @def.enum
(record_declaration name: (identifier) @name) @def.class
(method_declaration name: (identifier) @name) @def.method
(constructor_declaration name: (identifier) @name) @def.method
(compact_constructor_declaration name: (identifier) @name) @def.method
(annotation_type_element_declaration name: (identifier) @name) @def.method
""",
}


def language_of(path: str) -> str | None:
    """The code map's language for `path`, from its extension; None when it reads none."""
    return EXTENSIONS.get(os.path.splitext(path)[1].lower())


_GRAMMARS: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
}
"""The wheel and the function in it that returns each language's compiled grammar."""


@cache
def grammar(language: str) -> Language:
    import importlib

    from tree_sitter import Language

    if language not in _GRAMMARS:
        raise ValueError(f"the code map reads no {language!r}")
    module, function = _GRAMMARS[language]
    capsule: object = getattr(importlib.import_module(module), function)()
    return Language(capsule)


@cache
def query(language: str) -> Query:
    from tree_sitter import Query

    return Query(grammar(language), _QUERIES[language])
