"""The code map's definitions against a reference tagger (universal-ctags) on real repositories.

Measured, per language (tsx counts with typescript): on up to `--max-files` files of real
repositories, the definitions `memfun_git.codemap.symbols.extract` finds against those
universal-ctags finds (`/usr/bin/ctags --output-format=json`, 5.9; .tsx files are read by its
TypeScript parser), file by file.

- A definition is what a reader would call one: class, struct, interface, trait, enum,
  function, method. The ctags kinds counted, per language, are in `KINDS`; the rest
  (variables, constants, fields, properties, members of structs, enum constants, type
  aliases, modules, macros, Rust `impl` blocks) are not definitions of that sort and are
  left out on both sides. A Rust `impl Foo` block is not a definition (ctags' kind
  "implementation"): `Foo` is defined by its `struct`/`enum`, and the functions in the block
  are methods, which both taggers report one by one.
- A ctags definition matches one of ours with the same name, exactly as written, when the
  ctags line lies within ours (from one line before its first line to its last): Java
  annotations and Rust attributes start our definition above the line with its name. Kinds
  match loosely, as types (class, struct, interface, trait, enum) or callables (function,
  method), because the taggers disagree about what a method is (an object literal's
  function, a function in a Go file naming a receiver of another file's type); `kind=` is
  the share of matched definitions of the very same kind.
- ctags' JavaScript parser guesses classes: a `function View()` given prototype methods, an
  `app.init = function init()` using `this`, and any object literal `var users = {...}`. A
  ctags JavaScript "class" whose line has no `class` is counted as a function when the line
  has `function` or `=>`, else as a binding (below); an object literal is no definition.
- Where ctags tags a binding (a JS/TS `const f = () => ...`, a class field `f = () => ...`:
  variable, constant, field, property) and ours tags the function it holds, at the same name
  and line, both count as one matched definition. A binding ctags tags that holds no
  function ours sees is not counted.
- ctags may tag one definition twice (`app.init = function init()`: a class and a function);
  a name on a line counts once.
- `names` is the same comparison as multisets of names per file, lines and kinds ignored.

precision = matched / ours, recall = matched / ctags. The biggest disagreements are printed
per language, with examples (file:line, ctags' kind against ours), to be judged.

Targets (`TARGETS`, a regression guard: the figures measured on the defaults less a margin;
the bench exits 1 when a language falls below either). Recall, the ctags definitions ours
misses, is the guard that matters: at least 0.98 for python, go, rust and java, 0.95 for
typescript, 0.90 for javascript (where ctags also names a function expression by its own
name, `req.onload = function handleLoad()`, and tags named callbacks). Precision is bounded by
what universal-ctags 5.9 does not see, which we judged to be definitions: methods of Java
anonymous classes and enum constants, local classes, records (ctags 5.9 reads a record as a
method); functions in JS/TS object literals bound to a name and inside arrow functions,
getters of object literals, TS overload signatures; definitions after a construct ctags'
parser loses its way on (Rust test modules, JS test files). So its floors are lower: 0.98
python, 0.95 go and rust, 0.85 java, 0.75 javascript and typescript. Figures on other
repositories (`--repo`) or fewer files are not held to these.

    uv run python bench/codemap_symbols.py [--max-files 400] [--repo LANG=PATH ...]

PATH is a git directory (its HEAD is read with `git archive`) or a folder. Without `--repo`
for a language, the defaults in `DEFAULT_REPOS` are read from /work/.mirror (fetch them with
the agent's `fetch github:owner/name`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from memfun_git.codemap.languages import language_of
from memfun_git.codemap.symbols import Symbol, extract

TARGETS: dict[str, tuple[float, float]] = {
    "python": (0.98, 0.98),
    "javascript": (0.75, 0.90),
    "typescript": (0.75, 0.95),
    "go": (0.95, 0.98),
    "rust": (0.95, 0.98),
    "java": (0.85, 0.98),
}
"""Per language, the least precision and recall (measured, less a margin; see the docstring)."""
CTAGS = "/usr/bin/ctags"
MIRROR = Path("/work/.mirror")
DEFAULT_REPOS: dict[str, tuple[str, ...]] = {
    "python": ("pallets/click", "pallets/flask"),
    "javascript": ("expressjs/express", "axios/axios"),
    "typescript": ("vercel/swr", "pmndrs/zustand"),
    "go": ("spf13/cobra", "gin-gonic/gin"),
    "rust": ("BurntSushi/ripgrep", "serde-rs/serde"),
    "java": ("google/gson",),
}
"""Per reported language, the GitHub repositories read (at /work/.mirror/owner+name/repo)."""
LANGUAGES = tuple(DEFAULT_REPOS)
FAMILY = {"tsx": "typescript"}
"""Languages of `language_of` reported under another."""
CTAGS_LANGUAGE = {
    "python": "Python",
    "javascript": "JavaScript",
    "typescript": "TypeScript",
    "tsx": "TypeScript",
    "go": "Go",
    "rust": "Rust",
    "java": "Java",
}
_JS = {
    "class": "class",
    "function": "function",
    "generator": "function",
    "method": "method",
    "getter": "method",
    "setter": "method",
}
KINDS: dict[str, dict[str, str]] = {
    "python": {"class": "class", "function": "function", "member": "method"},
    "javascript": _JS,
    "typescript": _JS | {"interface": "interface", "enum": "enum"},
    "go": {
        "func": "function",
        "struct": "struct",
        "interface": "interface",
        "methodSpec": "method",
    },
    "rust": {
        "struct": "struct",
        "enum": "enum",
        "interface": "trait",
        "function": "function",
        "method": "method",
    },
    "java": {
        "class": "class",
        "interface": "interface",
        "annotation": "interface",
        "enum": "enum",
        "method": "method",
    },
}
"""Per language, the ctags kinds that are definitions, and our kind for each."""
BINDINGS = frozenset(("variable", "constant", "field", "property", "member"))
"""ctags kinds of a name bound to a value, which may be a function (see the docstring)."""
TYPES = frozenset(("class", "struct", "interface", "trait", "enum"))
SCOPES_OF_METHODS = TYPES | frozenset(("implementation", "type", "unknown"))
"""A ctags function scoped in one of these is a method (Go's `func (s *Server) Run()`)."""
MAX_BYTES = 256 * 1024
MAX_LINE = 1000
"""Larger files, or files with longer lines (bundles, minified or generated code), are left out."""
_CLASS = re.compile(r"\bclass\b")
_FUNCTION = re.compile(r"\bfunction\b|=>")
SKIP_DIRS = frozenset((".git", "node_modules", "target", "vendor", "dist", "build"))


def group(kind: str) -> str:
    return "type" if kind in TYPES else "callable"


@dataclass(frozen=True, slots=True)
class Tag:
    name: str
    kind: str
    """Ours, from `KINDS`; "" for a binding."""
    raw: str
    """ctags' kind."""
    line: int
    text: str


@dataclass(slots=True)
class Tally:
    files: int = 0
    ctags: int = 0
    ours: int = 0
    matched: int = 0
    same_kind: int = 0
    names_ctags: int = 0
    names_ours: int = 0
    names_matched: int = 0

    def add(self, other: Tally) -> None:
        for field in self.__slots__:
            setattr(self, field, getattr(self, field) + getattr(other, field))


@dataclass(frozen=True, slots=True)
class Example:
    where: str
    name: str
    text: str


# -- reading the repositories ------------------------------------------------------------------


def _label(path: Path) -> str:
    if path.name == "repo" and path.parent.parent == MIRROR:
        return path.parent.name.replace("+", "/", 1)
    return path.name


def _is_git_dir(path: Path) -> bool:
    done = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "--is-bare-repository"],
        capture_output=True,
        text=True,
    )
    return done.returncode == 0 and done.stdout.strip() == "true"


def checkout(path: Path, into: Path) -> Path:
    """A folder holding `path`'s files: its HEAD when it is a git directory, else itself."""
    if not _is_git_dir(path):
        return path
    folder = into / _label(path).replace("/", "+")
    folder.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(path), "archive", "--format=tar", "HEAD"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def sources(folder: Path) -> Iterable[tuple[Path, str]]:
    """The files under `folder` the code map reads, with their language, in path order."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(files):
            language = language_of(name)
            if language is None or name.endswith((".min.js", ".bundle.js")):
                continue
            path = Path(root, name)
            if not path.is_file() or not 0 < path.stat().st_size <= MAX_BYTES:
                continue
            if max(map(len, path.read_bytes().splitlines()), default=0) <= MAX_LINE:
                yield path, language


def sample(files: list[tuple[str, Path, str]], cap: int) -> list[tuple[str, Path, str]]:
    """At most `cap` files, spread evenly over the list (so over every repository)."""
    if len(files) <= cap:
        return files
    return [files[i * len(files) // cap] for i in range(cap)]


# -- the two taggers ---------------------------------------------------------------------------


def ctags(paths: list[Path], language: str) -> dict[Path, list[Tag]]:
    """ctags' tags per file: the definitions of `KINDS` and the bindings, by `language`."""
    family = FAMILY.get(language, language)
    done = subprocess.run(
        [
            CTAGS, "--output-format=json", "--fields=+nKzZeE", "--sort=no", "-f", "-",
            f"--language-force={CTAGS_LANGUAGE[language]}", "-L", "-",
        ],
        input="\n".join(str(p) for p in paths),
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip
    found: dict[Path, list[Tag]] = {p: [] for p in paths}
    for line in done.stdout.splitlines():
        entry = json.loads(line)
        if entry.get("_type") != "tag" or "anonymous" in entry.get("extras", ""):
            continue
        raw = entry["kind"]
        kind = KINDS[family].get(raw)
        if kind is None and raw not in BINDINGS:
            continue
        text = entry.get("pattern", "")[2:-2].strip()
        if kind == "class" and family == "javascript" and not _CLASS.search(text):
            kind = "function" if _FUNCTION.search(text) else ""  # ctags' guess, see the docstring
        if kind == "function" and entry.get("scopeKind") in SCOPES_OF_METHODS:
            kind = "method"
        found[Path(entry["path"])].append(Tag(entry["name"], kind or "", raw, entry["line"], text))
    return found


def compare(
    where: str,
    tags: list[Tag],
    ours: tuple[Symbol, ...],
    disagreements: dict[tuple[str, str], list[Example]],
) -> Tally:
    """One file's tally; its disagreements are added to `disagreements`."""
    seen: set[tuple[str, int]] = set()
    defined: list[Tag] = []
    for tag in (t for t in tags if t.kind):  # `app.init = function init()`: a class and a function
        if (tag.name, tag.line) not in seen:
            seen.add((tag.name, tag.line))
            defined.append(tag)
    tally = Tally(files=1, ctags=len(defined), ours=len(ours))
    left = list(ours)

    def take(tag: Tag, kinds: str) -> Symbol | None:
        """The nearest of ours at `tag` whose kind's group is `kinds` ("" for any)."""
        near = [
            s for s in left
            if s.name == tag.name and s.line - 1 <= tag.line <= max(s.end_line, s.line + 1)
            and (not kinds or group(s.kind) == kinds)
        ]  # fmt: skip
        if not near:
            return None
        best = min(near, key=lambda s: abs(s.line - tag.line))
        left.remove(best)
        return best

    missed: list[Tag] = []
    for tag in defined:
        symbol = take(tag, group(tag.kind))
        if symbol is None:
            missed.append(tag)
            continue
        tally.matched += 1
        if symbol.kind == tag.kind:
            tally.same_kind += 1
        else:
            key = (f"ctags {tag.raw} ({tag.kind})", f"ours {symbol.kind}")
            disagreements[key].append(Example(f"{where}:{tag.line}", tag.name, tag.text))
    for tag in (t for t in tags if not t.kind):
        if take(tag, "callable") is not None:
            tally.ctags += 1
            tally.matched += 1
            tally.same_kind += 1
    for tag in missed:
        symbol = take(tag, "")
        theirs = f"ctags {tag.raw} ({tag.kind})"
        if symbol is not None:
            key = (theirs, f"ours {symbol.kind} (other group)")
        else:
            key = (theirs, "ours none")
        disagreements[key].append(Example(f"{where}:{tag.line}", tag.name, tag.text))
    for symbol in left:
        key = ("ctags none", f"ours {symbol.kind}")
        disagreements[key].append(Example(f"{where}:{symbol.line}", symbol.name, symbol.signature))
    theirs_names = Counter(t.name for t in defined)
    our_names = Counter(s.name for s in ours)
    tally.names_ctags = sum(theirs_names.values())
    tally.names_ours = sum(our_names.values())
    tally.names_matched = sum((theirs_names & our_names).values())
    return tally


# -- the report --------------------------------------------------------------------------------


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 1.0


@dataclass(slots=True)
class Result:
    tally: Tally
    parts: dict[str, Tally]
    """Per language of `language_of` (typescript and tsx), when there are several."""
    disagreements: dict[tuple[str, str], list[Example]]


def measure(files: list[tuple[str, Path, str]]) -> Result:
    result = Result(Tally(), {}, defaultdict(list))
    by_language: dict[str, list[tuple[str, Path]]] = defaultdict(list)
    for shown, path, lang in files:
        by_language[lang].append((shown, path))
    for lang, group_files in sorted(by_language.items()):
        tags = ctags([p for _, p in group_files], lang)
        part = result.parts[lang] = Tally()
        for shown, path in group_files:
            ours = extract(path.read_bytes(), lang).symbols
            part.add(compare(shown, tags[path], ours, result.disagreements))
        result.tally.add(part)
    if len(result.parts) == 1:
        result.parts.clear()
    return result


def report(results: dict[str, Result], examples: int) -> bool:
    """Print the table and the disagreements; whether every language meets its targets."""
    print(
        f"{'language':<12} {'files':>5} {'ctags':>6} {'ours':>6} {'matched':>7} "
        f"{'precision':>9} {'recall':>6} {'kind=':>6} {'names P':>7} {'names R':>7}"
    )
    total = Tally()
    ok = True
    for language, result in results.items():
        tally = result.tally
        total.add(tally)
        least_precision, least_recall = TARGETS[language]
        met = (
            _ratio(tally.matched, tally.ours) >= least_precision
            and _ratio(tally.matched, tally.ctags) >= least_recall
        )
        ok &= met
        print(_row(language, tally) + ("" if met else "  below target"))
        for lang, part in result.parts.items():
            print(_row(f"  {lang}", part))
    print(_row("all", total))
    print(
        "targets (precision, recall): "
        + ", ".join(f"{x} {TARGETS[x][0]:.2f} {TARGETS[x][1]:.2f}" for x in results)
    )
    for language, result in results.items():
        ranked = sorted(result.disagreements.items(), key=lambda item: (-len(item[1]), item[0]))
        if not ranked:
            continue
        print(f"\n{language}: disagreements (count, ctags vs ours, examples)")
        shown = 0
        for (theirs, ours), cases in ranked:
            print(f"  {len(cases):5}  {theirs} vs {ours}")
            for case in cases[: min(3, examples - shown)]:
                print(f"         {case.where}  {case.name}  | {case.text[:90]}")
                shown += 1
    return ok


def _row(language: str, tally: Tally) -> str:
    return (
        f"{language:<12} {tally.files:>5} {tally.ctags:>6} {tally.ours:>6} {tally.matched:>7} "
        f"{_ratio(tally.matched, tally.ours):>9.3f} {_ratio(tally.matched, tally.ctags):>6.3f} "
        f"{_ratio(tally.same_kind, tally.matched):>6.3f} "
        f"{_ratio(tally.names_matched, tally.names_ours):>7.3f} "
        f"{_ratio(tally.names_matched, tally.names_ctags):>7.3f}"
    )


def _repos(given: list[str], languages: list[str]) -> dict[str, list[Path]]:
    chosen: dict[str, list[Path]] = defaultdict(list)
    for item in given:
        language, sep, path = item.partition("=")
        language = FAMILY.get(language, language)
        if not sep or language not in DEFAULT_REPOS:
            sys.exit(f"--repo takes LANG=PATH with LANG one of {', '.join(LANGUAGES)}: {item!r}")
        chosen[language].append(Path(path).expanduser())
    missing: list[str] = []
    for language in languages:
        if language in chosen:
            missing += [f"  {language}: {p} is missing" for p in chosen[language] if not p.exists()]
            continue
        for repo in DEFAULT_REPOS[language]:
            path = MIRROR / repo.replace("/", "+") / "repo"
            if not path.exists():
                missing.append(f"  {language}: {path} is missing: fetch github:{repo} first")
            chosen[language].append(path)
    if missing:
        sys.exit("repositories missing (or pass --repo LANG=PATH):\n" + "\n".join(missing))
    return {language: chosen[language] for language in languages}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--max-files", type=int, default=400, help="files per language")
    parser.add_argument(
        "--repo", action="append", default=[], metavar="LANG=PATH",
        help="a git directory or folder for LANG (repeatable; replaces LANG's defaults)",
    )  # fmt: skip
    parser.add_argument(
        "--languages",
        default=",".join(LANGUAGES),
        help="comma-separated, of " + ", ".join(LANGUAGES),
    )
    parser.add_argument("--examples", type=int, default=10, help="examples per language")
    args = parser.parse_args()
    if not os.access(CTAGS, os.X_OK):
        sys.exit(f"{CTAGS} is needed (universal-ctags): apt-get install universal-ctags")
    names: list[str] = [x.strip() for x in args.languages.split(",") if x.strip()]
    languages = [FAMILY.get(x, x) for x in names]
    if unknown := [x for x in languages if x not in DEFAULT_REPOS]:
        sys.exit(f"unknown languages {unknown}: use {', '.join(LANGUAGES)}")
    repos = _repos(args.repo, languages)
    started = time.perf_counter()
    results: dict[str, Result] = {}
    with tempfile.TemporaryDirectory(prefix="codemap-symbols-") as temp:
        for language in languages:
            files: list[tuple[str, Path, str]] = []
            for repo in repos[language]:
                folder = checkout(repo.resolve(), Path(temp) / language)
                label = _label(repo.resolve())
                files += [
                    (f"{label}/{p.relative_to(folder)}", p, lang)
                    for p, lang in sources(folder)
                    if FAMILY.get(lang, lang) == language
                ]
            if not files:
                sys.exit(f"{language}: no files in {', '.join(map(str, repos[language]))}")
            picked = sample(files, args.max_files)
            results[language] = measure(picked)
        print(", ".join(f"{x}: {' '.join(_label(r.resolve()) for r in repos[x])}" for x in repos))
        ok = report(results, args.examples)
    print(f"\n{time.perf_counter() - started:.1f}s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
