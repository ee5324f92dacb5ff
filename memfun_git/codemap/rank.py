"""Which files of the map matter for a request: word overlap, seeded into a reference graph.

Each file gets a seed weight from the request: its path's words (the file's own name counts
most), its definitions' names, a definition named exactly as the request writes it, files
changed recently, and an optional boost list (paths or names, which memory feeds). The seed
personalises a PageRank over the reference graph, where a file that uses a name points at the
files defining it (Aider's repo map ranks the same way): a file the request names lends rank
to the definitions it needs, and a file everybody uses stays visible; each link also points
back (a definition's file at its users: a change to it often touches its tests and callers).
A file's rank is its seed plus 0.3 times its graph rank, each scaled to the best file's: the
request's words decide, the graph lifts what they reach and breaks ties. Back links and these
weights were chosen on the histories of pallets/click and pallets/flask (`bench/codemap.py`).
Names defined in many files (`get`, `run`, `__init__`) carry little, private names less, names
the request uses more.

`overlap` is the seed alone: the baseline that `bench/codemap.py` measures the graph against.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from memfun_git.codemap.build import CodeMap, FileEntry

__all__ = ["COMMON_NAME_FILES", "Ranked", "overlap", "rank", "terms"]

_DAMPING = 0.85
_ITERATIONS = 30
_BACK = 1.0
_GRAPH_WEIGHT = 0.3
"""The graph's rank (scaled to the best file's) against the request's own (scaled alike)."""
"""A definition's file points back at the files using it with this weight (relative)."""
COMMON_NAME_FILES = 6
"""A name defined in more files than this links nothing: it says nothing about which one."""
_STOP = frozenset(
    re.findall(
        r"\w+",
        """the and for with from that this into when then than what which where while also only
        add adds added use uses using make makes should would could must can not does done don
        all any each every some more most other new old fix fixes fixed bug issue support allow
        allows let lets get set have has was were are been being its our your their them they
        there here via per just like instead able need needs way ways one two now still even
        file files code test tests change changes update updates remove removes handle handles
        py js ts go rs java src lib""",
    )
)
_TOKEN = re.compile(r"[^\W_]+")
_ASCII_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z][a-z0-9]*|[A-Z]+[0-9]*|[0-9]+")
_IDENTIFIER = re.compile(r"[^\W\d]\w{2,}")


@dataclass(frozen=True, slots=True)
class Ranked:
    file: FileEntry
    score: float
    seed: float
    """The request's own weight on the file (0 when only the graph found it)."""


def _stem(word: str) -> str:
    for suffix in ("ies", "ing", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def terms(text: str) -> set[str]:
    """The words of `text`, split at case changes, digits and underscores, stemmed."""
    found: set[str] = set()
    for token in _TOKEN.findall(text):
        for word in _ASCII_WORD.findall(token) if token.isascii() else _split_case(token):
            low = word.lower()
            if len(low) >= 3 and low not in _STOP:
                found.add(_stem(low))
    return found


def _split_case(token: str) -> list[str]:
    """`naïveGröße` → naïve, Größe: case changes in any script (the regex knows ASCII only)."""
    words: list[str] = []
    start = 0
    for i in range(1, len(token)):
        here, before = token[i], token[i - 1]
        after = token[i + 1] if i + 1 < len(token) else ""
        if here.isupper() and (not before.isupper() or after.islower()):
            words.append(token[start:i])
            start = i
    words.append(token[start:])
    return words


def _seeds(
    cmap: CodeMap, request: str, recent: Sequence[str], boost: Iterable[str]
) -> dict[str, float]:
    boost = list(boost)
    wanted = terms(request) | {t for b in boost for t in terms(b)}
    named = set(_IDENTIFIER.findall(request)) | {b for b in boost if "/" not in b}
    boosted = {b for b in boost if "/" in b or "." in b}
    recency = {path: 1.0 / (1 + i) for i, path in enumerate(dict.fromkeys(recent))}
    seeds: dict[str, float] = {}
    for entry in cmap.files:
        stem_words = terms(entry.path.rsplit("/", 1)[-1].rsplit(".", 1)[0])
        path_words = terms(entry.path)
        score = 3.0 * len(wanted & stem_words) + 1.5 * len(wanted & (path_words - stem_words))
        names = {s.name for s in entry.symbols}
        name_words: set[str] = set()
        for name in names:
            name_words |= terms(name)
        score += min(4.0, 1.0 * len(wanted & name_words))
        score += 4.0 * len(named & names)
        if entry.path in boosted:
            score += 5.0
        if score > 0 or entry.path in recency:
            score += 0.5 * recency.get(entry.path, 0.0)
        if score > 0:
            seeds[entry.path] = score
    return seeds


def overlap(
    cmap: CodeMap, request: str, *, recent: Sequence[str] = (), boost: Iterable[str] = ()
) -> list[Ranked]:
    """The files ranked by word overlap with the request alone (the baseline)."""
    seeds = _seeds(cmap, request, recent, boost)
    by_path = {f.path: f for f in cmap.files}
    ordered = sorted(seeds.items(), key=lambda item: (-item[1], item[0]))
    return [Ranked(by_path[p], s, s) for p, s in ordered]


def rank(
    cmap: CodeMap, request: str, *, recent: Sequence[str] = (), boost: Iterable[str] = ()
) -> list[Ranked]:
    """Every file of the map, most relevant to `request` first."""
    files = cmap.files
    if not files:
        return []
    index = {f.path: i for i, f in enumerate(files)}
    seeds = _seeds(cmap, request, recent, boost)
    named = set(_IDENTIFIER.findall(request))
    definers: dict[str, list[int]] = {}
    for i, entry in enumerate(files):
        for name in {s.name for s in entry.symbols}:
            definers.setdefault(name, []).append(i)
    defined = frozenset(n for n, where in definers.items() if len(where) <= COMMON_NAME_FILES)
    edges: list[dict[int, float]] = [{} for _ in files]
    for i, entry in enumerate(files):
        out = edges[i]
        for name in entry.identifiers & defined:
            where = definers[name]
            weight = (10.0 if name in named else 1.0) * (0.1 if name.startswith("_") else 1.0)
            weight /= len(where)
            for j in where:
                if j != i:
                    out[j] = out.get(j, 0.0) + weight
                    if _BACK:
                        # A definition's file also points back at its users (tests, callers):
                        # a change to a definition often touches them too.
                        back = edges[j]
                        back[i] = back.get(i, 0.0) + _BACK * weight
    n = len(files)
    total_seed = sum(seeds.values())
    if total_seed > 0:
        personal = [0.0] * n
        for path, value in seeds.items():
            personal[index[path]] = value / total_seed
    else:
        personal = [1.0 / n] * n
    # Normalised out-edges; the rank flows along references to the definitions.
    flows = [
        [(j, w / s) for j, w in out.items()] if (s := sum(out.values())) > 0 else []
        for out in edges
    ]
    scores = personal[:]
    for _ in range(_ITERATIONS):
        nxt = [(1 - _DAMPING) * p for p in personal]
        dangling = 0.0
        for i, flow in enumerate(flows):
            mass = _DAMPING * scores[i]
            if not flow:
                dangling += mass
                continue
            for j, share in flow:
                nxt[j] += mass * share
        if dangling:
            nxt = [x + dangling * p for x, p in zip(nxt, personal, strict=True)]
        delta = sum(abs(a - b) for a, b in zip(nxt, scores, strict=True))
        scores = nxt
        if delta < 1e-6:
            break
    # The request's own words decide among files the graph ranks alike.
    # The request's own weight first, the graph's after it, each scaled to its best file.
    top_p = max(personal) or 1.0
    top_s = max(scores) or 1.0
    final = [personal[i] / top_p + _GRAPH_WEIGHT * scores[i] / top_s for i in range(n)]
    ranked = [Ranked(f, final[i], seeds.get(f.path, 0.0)) for i, f in enumerate(files)]
    ranked.sort(key=lambda r: (-r.score, r.file.path))
    return ranked
