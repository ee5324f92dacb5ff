"""Fuzzy edit matching on edits built from real code history.

Each case is a single-hunk change to a source file taken from a repository's history, turned
into a search/replace pair (the hunk's old and new lines) and then perturbed the way models slip
when they quote code. A case is "correct" when apply_edit gives exactly the committed file,
"refused" when it raises EditError, and "wrong" otherwise (any difference, whitespace included).
The last column counts the stages that matched the edits applied (correct or wrong), as
apply_edit reports them: which slips each stage of the matcher lands.

    uv run python bench/edits.py --git-dir /path/to/some/repo.git [--git-dir .] [--seed 7]

Targets (issue 12): wrong 0 on every kind; correct >= 95 % on the whitespace, indentation,
blank-line and elided kinds, >= 80 % on misremembered; ambiguous cases refused. The
spacing-change kind (issue 18) makes edits that only add or remove blank lines and misquote the
file's blank lines: refused is the right answer there, so only "wrong" counts (target 0).
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

import pygit2

from memfun_git.edits.match import apply_edit
from memfun_git.edits.results import MatchKind
from memfun_git.errors import EditError

SOURCE = {".py", ".js", ".ts", ".tsx", ".go", ".rs", ".java", ".c", ".h", ".rb", ".cpp"}
MAX_BYTES = 200_000


@dataclass(frozen=True)
class Case:
    where: str
    original: str
    search: str
    replace: str
    intended: str


def history_cases(git_dir: str, limit: int) -> Iterator[Case]:
    """Single-hunk modifications of source files, newest first."""
    repo = pygit2.Repository(git_dir)
    if repo.head_is_unborn:
        return
    seen = 0
    for commit in repo.walk(repo.head.target, pygit2.enums.SortMode.TOPOLOGICAL):
        if len(commit.parents) != 1:
            continue
        diff = repo.diff(commit.parents[0], commit, context_lines=3)
        for patch in diff:
            if patch is None:
                continue
            delta = patch.delta
            if delta.status_char() != "M" or Path(delta.new_file.path).suffix not in SOURCE:
                continue
            if len(patch.hunks) != 1 or delta.is_binary:
                continue
            case = _case(
                repo, patch, f"{Path(git_dir).name}:{str(commit.id)[:8]}:{delta.new_file.path}"
            )
            if case is not None:
                seen += 1
                yield case
                if seen >= limit:
                    return


def _case(repo: pygit2.Repository, patch: pygit2.Patch, where: str) -> Case | None:
    old_blob = repo[patch.delta.old_file.id]
    new_blob = repo[patch.delta.new_file.id]
    if not isinstance(old_blob, pygit2.Blob) or not isinstance(new_blob, pygit2.Blob):
        return None
    if old_blob.size > MAX_BYTES or new_blob.size > MAX_BYTES:
        return None
    try:
        original = old_blob.data.decode("utf-8")
        intended = new_blob.data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\r" in original or "\r" in intended:
        return None
    search: list[str] = []
    replace: list[str] = []
    for line in patch.hunks[0].lines:
        if line.origin in (" ", "-"):
            search.append(line.content)
        if line.origin in (" ", "+"):
            replace.append(line.content)
        if line.origin not in (" ", "-", "+"):
            return None  # "no newline at end of file" markers
    s, r = "".join(search), "".join(replace)
    if not s.strip() or original.count(s) != 1 or original.replace(s, r, 1) != intended:
        return None
    return Case(where, original, s, r, intended)


# -- perturbations: each returns the case as the model gives it, or None when it does not apply --

Perturb = Callable[[Case, random.Random], Case | None]


def _split(block: str) -> list[str]:
    return block[:-1].split("\n") if block.endswith("\n") else block.split("\n")


def _join(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


def exact(c: Case, rng: random.Random) -> Case | None:
    return c


def trailing_whitespace(c: Case, rng: random.Random) -> Case | None:
    s = _split(c.search)
    candidates = [i for i, x in enumerate(s) if x.strip()]
    for i in rng.sample(candidates, min(len(candidates), rng.randint(1, 3))):
        s[i] += rng.choice([" ", "  ", "\t", "    "])
    return dataclasses.replace(c, search=_join(s))


def _indent(block: list[str], prefix: str) -> list[str]:
    return [prefix + x if x.strip() else x for x in block]


def _unit(c: Case) -> str | None:
    """The indentation character of the hunk, or None when it mixes tabs and spaces."""
    leads = "".join(x[: len(x) - len(x.lstrip())] for x in _split(c.search + c.replace))
    if "\t" in leads and " " in leads:
        return None
    return "\t" if "\t" in leads else " "


def _common(block: list[str], unit: str) -> int:
    leads = [len(x) - len(x.lstrip(unit)) for x in block if x.strip()]
    return min(leads) if leads else 0


def reindented(c: Case, rng: random.Random) -> Case | None:
    unit = _unit(c)
    if unit is None:
        return None
    step = 1 if unit == "\t" else 4
    s, r = _split(c.search), _split(c.replace)
    if min(_common(s, unit), _common(r, unit)) >= step and rng.random() < 0.5:
        s = [x[step:] if x.strip() else x for x in s]
        r = [x[step:] if x.strip() else x for x in r]
    else:
        s, r = _indent(s, unit * step), _indent(r, unit * step)
    return dataclasses.replace(c, search=_join(s), replace=_join(r))


def dedented(c: Case, rng: random.Random) -> Case | None:
    unit = _unit(c)
    if unit is None:
        return None
    s, r = _split(c.search), _split(c.replace)
    shift = min(_common(s, unit), _common(r, unit))
    if shift == 0:
        return None
    s = [x[shift:] if x.strip() else x for x in s]
    r = [x[shift:] if x.strip() else x for x in r]
    return dataclasses.replace(c, search=_join(s), replace=_join(r))


def _interior(s: list[str]) -> tuple[int, int]:
    """First and last line with text: blank runs outside them frame the quote (changing them
    asks for different spacing; it is not a slip inside the quoted code)."""
    text = [i for i, x in enumerate(s) if x.strip()]
    return (text[0], text[-1]) if text else (0, -1)


def _changed_gaps(c: Case) -> set[int]:
    """Lines of the search inside a gap whose blank lines the real change itself alters: a
    slip there would be indistinguishable from the change, so no slip is put there."""
    s, r = _split(c.search), _split(c.replace)
    st = [i for i, x in enumerate(s) if x.strip()]
    rt = [i for i, x in enumerate(r) if x.strip()]
    keys_s = [s[i].rstrip() for i in st]
    keys_r = [r[i].rstrip() for i in rt]
    mapping: dict[int, int] = {}
    for tag, i1, i2, j1, _ in SequenceMatcher(None, keys_s, keys_r, autojunk=False).get_opcodes():
        if tag == "equal":
            mapping.update({i1 + k: j1 + k for k in range(i2 - i1)})
    changed: set[int] = set()
    for a in range(len(st) - 1):
        # The same gap in the replacement: before the line a+1 became, else after line a.
        after, before = mapping.get(a + 1), mapping.get(a)
        if after is not None and after > 0:
            r_gap = rt[after] - rt[after - 1]
        elif before is not None and before + 1 < len(rt):
            r_gap = rt[before + 1] - rt[before]
        else:
            continue
        if st[a + 1] - st[a] != r_gap:
            changed.update(range(st[a] + 1, st[a + 1] + 1))
    return changed


def blank_added(c: Case, rng: random.Random) -> Case | None:
    s = _split(c.search)
    first, last = _interior(s)
    spots = [i for i in range(first + 1, last + 1) if i not in _changed_gaps(c)]
    if not spots:
        return None
    s.insert(rng.choice(spots), "")
    return dataclasses.replace(c, search=_join(s))


def blank_dropped(c: Case, rng: random.Random) -> Case | None:
    s = _split(c.search)
    first, last = _interior(s)
    changed = _changed_gaps(c)
    blanks = [i for i in range(first + 1, last) if not s[i].strip() and i not in changed]
    if not blanks:
        return None
    del s[rng.choice(blanks)]
    return dataclasses.replace(c, search=_join(s))


def spacing_change(c: Case, rng: random.Random) -> Case | None:
    """A change of blank lines only, whose search misquotes a gap it changes (issue 18).

    The change is made here on the hunk's real lines: two gaps between its lines with text
    each gain a blank line or lose one. The model's search already shows one of those gaps as
    the change leaves it (it remembers the file as it wants it there), so its edit changes the
    other gap only, and the file's blank lines in the first stay: a change of blank lines that
    is not the one meant (cobra@6d4267ff, which removed blank lines, gave such results). Which
    blank lines the model meant cannot be known from the edit: refused is the right answer,
    and any result other than the intended file is wrong.
    """
    s = _split(c.search)
    text = [i for i, x in enumerate(s) if x.strip()]
    if len(text) < 3:
        return None
    gaps = rng.sample(range(len(text) - 1), 2)
    deltas = {g: -1 if text[g + 1] - text[g] > 1 and rng.random() < 0.5 else 1 for g in gaps}

    def spaced(changed: list[int]) -> list[str]:
        out = list(s[: text[0] + 1])
        for g in range(len(text) - 1):
            between = s[text[g] + 1 : text[g + 1]]
            if g in changed:
                between = between[:-1] if deltas[g] < 0 else [*between, ""]
            out.extend([*between, s[text[g + 1]]])
        return out + s[text[-1] + 1 :]

    replace = spaced(gaps)
    intended = c.original.replace(c.search, _join(replace), 1)
    return dataclasses.replace(
        c, search=_join(spaced(gaps[:1])), replace=_join(replace), intended=intended
    )


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{3,}")


def misremembered(c: Case, rng: random.Random) -> Case | None:
    s = _split(c.search)
    if sum(1 for x in s if x.strip()) < 3:
        return None
    lines = [i for i, x in enumerate(s) if _WORD.search(x)]
    if not lines:
        return None
    i = rng.choice(lines)
    words = list(_WORD.finditer(s[i]))
    w = rng.choice(words)
    word = w.group()
    kind = rng.choice(["typo", "plural", "dropped"])
    if kind == "typo":
        k = rng.randrange(1, len(word) - 1)
        new = word[:k] + word[k + 1] + word[k] + word[k + 2 :]
    elif kind == "plural":
        new = word[:-1] if word.endswith("s") else word + "s"
    else:
        parts = word.split("_")
        new = "_".join(parts[:-1]) if len(parts) > 1 else word[: max(2, len(word) // 2)]
    if new == word:
        new = word + "x"
    s[i] = s[i][: w.start()] + new + s[i][w.end() :]
    return dataclasses.replace(c, search=_join(s))


def elided(c: Case, rng: random.Random) -> Case | None:
    s, r = _split(c.search), _split(c.replace)
    if len(s) < 5:
        return None
    runs = [
        (i1, i2, j1)
        for tag, i1, i2, j1, _ in SequenceMatcher(None, s, r, autojunk=False).get_opcodes()
        if tag == "equal"
    ]
    options = []
    for i1, i2, j1 in runs:
        for a in range(max(i1, 1), i2):
            for b in range(a + 2, min(i2, len(s) - 1) + 1):
                quoted_around = any(x.strip() for x in s[:a]) and any(x.strip() for x in s[b:])
                if quoted_around and any(x.strip() for x in s[a:b]):
                    options.append((a, b, j1 + (a - i1)))
    if not options:
        return None
    a, b, ja = rng.choice(options)
    lead = s[a][: len(s[a]) - len(s[a].lstrip())]
    s2 = [*s[:a], lead + "...", *s[b:]]
    r2 = [*r[:ja], lead + "...", *r[ja + (b - a) :]]
    return dataclasses.replace(c, search=_join(s2), replace=_join(r2))


def ambiguous(c: Case, rng: random.Random) -> Case | None:
    if sum(1 for x in _split(c.search) if x.strip()) < 2:
        return None
    original = c.original.rstrip("\n") + "\n\n" + c.search
    return dataclasses.replace(c, original=original)


KINDS: dict[str, Perturb] = {
    "exact": exact,
    "trailing-whitespace": trailing_whitespace,
    "re-indented": reindented,
    "dedented-to-0": dedented,
    "blank-added": blank_added,
    "blank-dropped": blank_dropped,
    "misremembered": misremembered,
    "elided": elided,
    "ambiguous": ambiguous,
    "spacing-change": spacing_change,
}
HIGH = {
    "trailing-whitespace",
    "re-indented",
    "dedented-to-0",
    "blank-added",
    "blank-dropped",
    "elided",
}


def main() -> int:
    parser = argparse.ArgumentParser(description="fuzzy edit matching on real code history")
    parser.add_argument("--git-dir", action="append", default=[], help="repository (repeatable)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--per-kind", type=int, default=150)
    parser.add_argument("--show", type=int, default=0, help="show N wrong or refused cases")
    args = parser.parse_args()
    # This repository's own history always, plus any real project's passed with --git-dir.
    sources = [str(Path(__file__).resolve().parents[1]), *args.git_dir]
    cases = [c for src in sources for c in history_cases(src, 5000)]
    print(f"seed {args.seed}; {len(cases)} single-hunk cases from {', '.join(sources)}")
    ok = True
    print(
        f"{'kind':<22}{'cases':>6}{'correct':>9}{'refused':>9}{'wrong':>7}{'us/edit':>9}"
        "  matched as"
    )
    for kind, perturb in KINDS.items():
        rng = random.Random(f"{args.seed}:{kind}")
        order = list(range(len(cases)))
        rng.shuffle(order)
        tally = {"correct": 0, "refused": 0, "wrong": 0}
        stages: Counter[MatchKind] = Counter()
        times: list[float] = []
        shown = 0
        n = 0
        for index in order:
            if n >= args.per_kind:
                break
            made = perturb(cases[index], rng)
            if made is None:
                continue
            n += 1
            search, replace, original = made.search, made.replace, made.original
            started = time.perf_counter()
            try:
                edit = apply_edit(original, search, replace)
            except EditError:
                result = None
            else:
                result = edit.text
                stages[edit.match.kind] += 1
            times.append(time.perf_counter() - started)
            intended = made.intended
            if kind == "ambiguous":
                verdict = "correct" if result is None else "wrong"
            elif result is None:
                verdict = "refused"
            else:
                verdict = "correct" if result == intended else "wrong"
            tally[verdict] += 1
            if verdict != "correct" and shown < args.show:
                shown += 1
                print(f"--- {kind} {verdict}: {made.where}")
                print(f">>> search\n{search}>>> replace\n{replace}")
        pct = 100 * tally["correct"] / n if n else 0.0
        us = statistics.median(times) * 1e6 if times else 0.0
        matched = " ".join(f"{k.value} {stages[k]}" for k in MatchKind if stages[k])
        print(
            f"{kind:<22}{n:>6}{pct:>8.1f}%{tally['refused']:>9}{tally['wrong']:>7}{us:>9.0f}"
            f"  {matched}"
        )
        need = 95.0 if kind in HIGH else 80.0 if kind == "misremembered" else 100.0
        if kind == "spacing-change":
            need = 0.0  # refusing is right: only "wrong" counts
        if tally["wrong"] or pct < need or n < 100:
            ok = False
    print(
        "targets: wrong 0; correct >= 95% (whitespace, indentation, blank lines, elided), "
        ">= 80% misremembered; ambiguous refused; spacing changes refused or right; "
        f">= 100 cases each: {'met' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
