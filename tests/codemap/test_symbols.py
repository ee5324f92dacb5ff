"""Definitions per language on real-shaped snippets: kinds, names as written, nesting,
signatures cut at the body, decorators; syntax errors, unicode, empty and non-UTF-8 files."""

from __future__ import annotations

import pytest

from memfun_git.codemap.symbols import Symbol, extract

PYTHON = b'''import functools


@functools.cache
def top(a: int, b: str = "x") -> str:
    return b * a


class Outer(Base, metaclass=Meta):
    """Doc."""

    @property
    def name(self) -> str:
        return "n"

    async def fetch(self, url):
        def inner(x):
            return x
        return inner(url)

    class Inner:
        def deep(self): ...
'''

TYPESCRIPT = b"""export default class Store<T> extends Base implements Iface {
  private items: T[] = [];
  @memo()
  get(id: string): T | undefined { return undefined; }
}
export interface Shape { area(): number; name: string }
export enum Color { Red, Green }
export abstract class Animal { abstract speak(): string; }
export function make<T>(x: T): Store<T> { return new Store(); }
export const arrow = async (a: number): Promise<number> => a + 1;
declare function ambient(x: number): void;
namespace NS { export function inner() {} }
"""

TSX = b"""import React from "react";

export function Button({ label }: { label: string }): JSX.Element {
  return <button>{label}</button>;
}

export class Panel extends React.Component<Props> {
  render() { return <div className="panel"><Button label="x" /></div>; }
}

export const Card = (props: CardProps) => <section>{props.children}</section>;
"""

JAVASCRIPT = b"""class Widget extends Component {
  constructor(props) { super(props); }
  render() { return null; }
  static *ids() { yield 1; }
}
function App({ title }) { return title; }
const Hook = function () {};
const load = async (url) => fetch(url);
function* counter() { yield 1; }
"""

GO = b"""package main

type Server struct {
	addr string
}

type Handler interface {
	Serve(w Writer) error
}

type List[T any] struct{ items []T }

func (s *Server) Start(port int) error {
	return nil
}

func (l List[T]) Len() int { return len(l.items) }

func main() {}
"""

RUST = b"""#[derive(Debug, Clone)]
pub struct Point<T> { x: T }

pub enum Shape { Circle(f64) }

pub trait Draw {
    fn draw(&self) -> String;
    fn size(&self) -> usize { 0 }
}

impl<T> Point<T> {
    pub fn new(x: T) -> Self { Point { x } }
}

impl Draw for Point<i32> {
    fn draw(&self) -> String { String::new() }
}

mod inner {
    pub fn helper() {}
}

fn main() {}
"""

JAVA = b"""package a;

@Entity
public class Service<T> extends Base implements Runnable {
    @Override
    public void run() {}

    public Service(int x) {}

    private static class Node { int v; int get() { return v; } }

    enum Mode { A, B; void go() {} }
}

interface Repo { void save(Object o); }

record Pair(int a, int b) { int sum() { return a + b; } }
"""


def _named(symbols: tuple[Symbol, ...]) -> list[tuple[str, str]]:
    return [(s.kind, f"{s.parent}.{s.name}" if s.parent else s.name) for s in symbols]


CASES = {
    "python": (
        PYTHON,
        [
            ("function", "top"),
            ("class", "Outer"),
            ("method", "Outer.name"),
            ("method", "Outer.fetch"),
            ("function", "Outer.fetch.inner"),
            ("class", "Outer.Inner"),
            ("method", "Outer.Inner.deep"),
        ],
    ),
    "typescript": (
        TYPESCRIPT,
        [
            ("class", "Store"),
            ("method", "Store.get"),
            ("interface", "Shape"),
            ("method", "Shape.area"),
            ("enum", "Color"),
            ("class", "Animal"),
            ("method", "Animal.speak"),
            ("function", "make"),
            ("function", "arrow"),
            ("function", "ambient"),
            ("function", "NS.inner"),
        ],
    ),
    "tsx": (
        TSX,
        [
            ("function", "Button"),
            ("class", "Panel"),
            ("method", "Panel.render"),
            ("function", "Card"),
        ],
    ),
    "javascript": (
        JAVASCRIPT,
        [
            ("class", "Widget"),
            ("method", "Widget.constructor"),
            ("method", "Widget.render"),
            ("method", "Widget.ids"),
            ("function", "App"),
            ("function", "Hook"),
            ("function", "load"),
            ("function", "counter"),
        ],
    ),
    "go": (
        GO,
        [
            ("struct", "Server"),
            ("interface", "Handler"),
            ("method", "Handler.Serve"),
            ("struct", "List"),
            ("method", "Server.Start"),
            ("method", "List.Len"),
            ("function", "main"),
        ],
    ),
    "rust": (
        RUST,
        [
            ("struct", "Point"),
            ("enum", "Shape"),
            ("trait", "Draw"),
            ("method", "Draw.draw"),
            ("method", "Draw.size"),
            ("method", "Point.new"),
            ("method", "Point.draw"),
            ("function", "inner.helper"),
            ("function", "main"),
        ],
    ),
    "java": (
        JAVA,
        [
            ("class", "Service"),
            ("method", "Service.run"),
            ("method", "Service.Service"),
            ("class", "Service.Node"),
            ("method", "Service.Node.get"),
            ("enum", "Service.Mode"),
            ("method", "Service.Mode.go"),
            ("interface", "Repo"),
            ("method", "Repo.save"),
            ("class", "Pair"),
            ("method", "Pair.sum"),
        ],
    ),
}


@pytest.mark.parametrize("language", sorted(CASES))
def test_each_language_names_its_definitions_with_kind_and_nesting(language: str) -> None:
    source, expected = CASES[language]
    found = extract(source, language)
    assert _named(found.symbols) == expected
    assert not found.partial


def _one(language: str, source: bytes, name: str) -> Symbol:
    return next(s for s in extract(source, language).symbols if s.name == name)


def test_signatures_are_the_head_as_written_and_stop_at_the_body() -> None:
    assert _one("python", PYTHON, "top").signature == 'def top(a: int, b: str = "x") -> str'
    assert _one("python", PYTHON, "fetch").signature == "async def fetch(self, url)"
    assert _one("python", PYTHON, "Outer").signature == "class Outer(Base, metaclass=Meta)"
    assert _one("typescript", TYPESCRIPT, "make").signature == "function make<T>(x: T): Store<T>"
    assert _one("typescript", TYPESCRIPT, "arrow").signature == (
        "arrow = async (a: number): Promise<number>"
    )
    assert _one("go", GO, "Start").signature == "func (s *Server) Start(port int) error"
    assert _one("go", GO, "Server").signature == "type Server struct"
    assert _one("rust", RUST, "Point").signature == "pub struct Point<T>"
    assert _one("rust", RUST, "new").signature == "pub fn new(x: T) -> Self"
    assert _one("java", JAVA, "run").signature == "public void run()"


def test_decorators_annotations_and_attributes_are_kept_apart_from_the_signature() -> None:
    assert _one("python", PYTHON, "top").decorators == ("@functools.cache",)
    assert _one("python", PYTHON, "name").decorators == ("@property",)
    assert _one("java", JAVA, "Service").decorators == ("@Entity",)
    assert _one("java", JAVA, "run").decorators == ("@Override",)
    assert _one("java", JAVA, "run").signature == "public void run()"
    assert _one("rust", RUST, "Point").decorators == ("#[derive(Debug, Clone)]",)
    assert _one("typescript", TYPESCRIPT, "get").decorators == ("@memo()",)


def test_lines_span_the_definition() -> None:
    outer = _one("python", PYTHON, "Outer")
    assert (outer.line, outer.end_line) == (9, 22)
    assert _one("go", GO, "Start").line == 13


@pytest.mark.parametrize(
    ("language", "source", "kept"),
    [
        ("python", b"def good(a):\n    return a\n\ndef broken(:\n    pass\n", "good"),
        ("javascript", b"function good() {}\nfunction broken( {\n", "good"),
        ("typescript", b"class Kept { m(): void {} }\nlet x: = ;\n", "Kept"),
        ("go", b"package p\n\nfunc Good() {}\n\nfunc broken( {\n", "Good"),
        ("rust", b"fn good() {}\nfn broken( -> {\n", "good"),
        ("java", b"class Kept { void m() {} }\nclass Broken { void x( }\n", "Kept"),
    ],
)
def test_a_syntax_error_gives_a_partial_map_never_an_exception(
    language: str, source: bytes, kept: str
) -> None:
    found = extract(source, language)
    assert found.partial
    assert kept in [s.name for s in found.symbols]


def test_unicode_identifiers_are_named_exactly_as_written() -> None:
    source = "class Größe:\n    def naïve_länge(self, ü):\n        return ü\n".encode()
    found = extract(source, "python")
    assert _named(found.symbols) == [("class", "Größe"), ("method", "Größe.naïve_länge")]
    assert "naïve_länge" in found.identifiers
    go = extract("package p\n\nfunc Größe() int { return 1 }\n".encode(), "go")
    assert [s.name for s in go.symbols] == ["Größe"]


@pytest.mark.parametrize("language", sorted(CASES))
@pytest.mark.parametrize("source", [b"", b"\n\n", b"   \n"])
def test_an_empty_file_has_no_definitions(language: str, source: bytes) -> None:
    found = extract(source, language)
    assert found.symbols == ()
    assert not found.partial


def test_a_file_in_another_encoding_still_maps() -> None:
    source = (
        b"# -*- coding: latin-1 -*-\ndef caf\xe9():\n    return '\xe9'\n\ndef plain():\n    pass\n"
    )
    found = extract(source, "python")
    assert "plain" in [s.name for s in found.symbols]
    assert all(isinstance(s.name, str) for s in found.symbols)


def test_symbols_round_trip_through_their_cached_form() -> None:
    for symbol in extract(PYTHON, "python").symbols:
        assert Symbol.from_json(symbol.to_json()) == symbol


def test_long_signatures_are_cut_with_an_ellipsis() -> None:
    params = ", ".join(f"argument_{i}: int" for i in range(40))
    found = extract(f"def wide({params}) -> None:\n    pass\n".encode(), "python")
    signature = found.symbols[0].signature
    assert signature.startswith("def wide(argument_0: int")
    assert signature.endswith("…")
    assert len(signature) <= 160


def test_a_signature_over_several_lines_reads_as_one() -> None:
    source = (
        b"def f(\n    a: int,\n    b: list[\n        str\n    ],\n) -> None:  # noqa: E501\n"
        b"    pass\n"
    )
    assert extract(source, "python").symbols[0].signature == "def f(a: int, b: list[str]) -> None"
    js = extract(b"function g(\n  a,\n  b,\n) {\n}\n", "javascript")
    assert js.symbols[0].signature == "function g(a, b)"


def test_javascript_functions_assigned_to_members_objects_and_fields_are_definitions() -> None:
    source = b"""exports.handler = function (req) {};
res.send = function send(body) {};
const api = { list: () => 1, get(id) { return id; } };
class A { onClick = (e) => { function inner() {} }; }
"""
    found = _named(extract(source, "javascript").symbols)
    assert found[:5] == [
        ("function", "handler"),
        ("function", "send"),
        ("function", "list"),
        ("function", "get"),
        ("class", "A"),
    ]
    assert ("method", "A.onClick") in found
    assert ("method", "A.inner") not in found  # a function inside an arrow is no method


def test_java_anonymous_class_methods_and_annotation_elements_are_methods() -> None:
    source = b"""class T { Runnable r = new Runnable() { public void run() {} }; }
@interface Ann { String value(); }
"""
    assert _named(extract(source, "java").symbols) == [
        ("class", "T"),
        ("method", "T.run"),
        ("interface", "Ann"),
        ("method", "Ann.value"),
    ]


def test_a_python_lambda_bound_to_a_name_is_a_function() -> None:
    source = b"square = lambda x: x * x\nclass K:\n    f = lambda self: 1\n"
    assert _named(extract(source, "python").symbols) == [
        ("function", "square"),
        ("class", "K"),
        ("method", "K.f"),
    ]
