"""Ranking files for a request: words of the request, the reference graph, recent changes and
the boost list; the overlap baseline; rendering within a token budget."""

from __future__ import annotations

import subprocess
from pathlib import Path

from memfun_git.codemap.build import CodeMap, build
from memfun_git.codemap.history import recent_paths
from memfun_git.codemap.rank import overlap, rank, terms
from memfun_git.codemap.render import file_block, render, to_json, tokens
from tests.helpers.projects import committed

PROJECT = {
    "shop/cart.py": (
        "from shop.pricing import apply_discount\n\n\n"
        "class Cart:\n    def total(self) -> int:\n        return apply_discount(self.items)\n"
    ),
    "shop/pricing.py": (
        "def apply_discount(items):\n    return round_cents(sum(items))\n\n\n"
        "def round_cents(value):\n    return value\n"
    ),
    "shop/money.py": "def round_cents_legacy(value):\n    return value\n",
    "shop/views.py": (
        "from shop.cart import Cart\n\n\ndef checkout_view(request):\n    return Cart().total()\n"
    ),
    "docs/guide.md": "# Guide\n",
    "shop/emails.py": "def send_receipt(order):\n    pass\n",
}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def _project(tmp_path: Path, files: dict[str, str] = PROJECT) -> Path:
    return committed(tmp_path / "repo", files)


def _top(ranked: list, n: int = 3) -> list[str]:  # type: ignore[type-arg]
    return [r.file.path for r in ranked[:n]]


def test_terms_split_identifiers_and_drop_filler_words() -> None:
    assert terms("Fix the applyDiscount rounding in HTTPServer_config") == {
        "apply", "discount", "round", "http", "server", "config",
    }  # fmt: skip


def test_a_file_named_by_the_request_comes_first(tmp_path: Path) -> None:
    cmap = build(_project(tmp_path), cache=False)
    assert _top(rank(cmap, "send the receipt email after checkout"), 1) == ["shop/emails.py"]


def test_the_graph_lifts_the_definitions_a_named_file_uses(tmp_path: Path) -> None:
    cmap = build(_project(tmp_path), cache=False)
    ranked = rank(cmap, "The Cart total is wrong for big orders")
    # The named file first; then what it uses (pricing) and what uses it (views).
    assert _top(ranked, 1) == ["shop/cart.py"]
    assert set(_top(ranked, 3)[1:]) == {"shop/pricing.py", "shop/views.py"}
    # The baseline sees only words: pricing.py shares none with the request.
    assert "shop/pricing.py" not in _top(overlap(cmap, "The Cart total is wrong for big orders"))


def test_an_identifier_written_in_the_request_finds_its_definition(tmp_path: Path) -> None:
    cmap = build(_project(tmp_path), cache=False)
    assert _top(rank(cmap, "round_cents drops the sign of negative values"), 1) == [
        "shop/pricing.py"
    ]


def test_recent_changes_and_the_boost_list_break_ties(tmp_path: Path) -> None:
    repo = _project(tmp_path)
    (repo / "shop" / "emails.py").write_text("def send_receipt(order):\n    return 1\n")
    _git(repo, "commit", "-qam", "receipts")
    recent = recent_paths(repo)
    assert recent[0] == "shop/emails.py"
    assert set(recent) == set(PROJECT)
    cmap = build(repo, cache=False)
    vague = "make it nicer"
    assert _top(rank(cmap, vague, boost=["shop/money.py"]), 1) == ["shop/money.py"]
    assert _top(rank(cmap, vague, boost=["round_cents_legacy"]), 1) == ["shop/money.py"]
    assert _top(rank(cmap, "order", recent=["shop/emails.py"]), 1) == ["shop/emails.py"]


def test_every_file_is_ranked_even_when_nothing_matches(tmp_path: Path) -> None:
    cmap = build(_project(tmp_path), cache=False)
    ranked = rank(cmap, "zzz qqq")
    assert sorted(r.file.path for r in ranked) == sorted(f.path for f in cmap.files)
    assert all(r.seed == 0 for r in ranked)
    assert overlap(cmap, "zzz qqq") == []
    assert rank(CodeMap(tmp_path), "anything") == []


def test_a_name_defined_everywhere_links_nothing(tmp_path: Path) -> None:
    files = {f"m{i}.py": f"def run():\n    return {i}\n" for i in range(10)}
    files["main.py"] = "from m1 import run\n\n\ndef start():\n    run()\n"
    cmap = build(_project(tmp_path, files), cache=False)
    ranked = rank(cmap, "start")
    assert ranked[0].file.path == "main.py"
    scores = {r.file.path: r.score for r in ranked if r.file.path != "main.py"}
    assert max(scores.values()) - min(scores.values()) < 1e-9


def test_rendering_keeps_within_the_budget_and_counts_what_it_leaves_out(tmp_path: Path) -> None:
    files = {
        f"pkg/module_{i:03}.py": "".join(
            f"def function_{i}_{j}(a, b):\n    pass\n" for j in range(8)
        )
        for i in range(200)
    }
    cmap = build(_project(tmp_path, files), cache=False)
    ranked = [r.file for r in rank(cmap, "function_5_1")]
    for budget in (50, 300, 2000):
        text = render(ranked, budget)
        assert tokens(text) <= budget
        assert text.splitlines()[-1].startswith("… and ")
    text = render(ranked, 2000)
    assert text.startswith("pkg/module_005.py (")
    assert "  def function_5_1(a, b)" in text
    assert "pkg/module_199.py" not in text or "more files" in text
    whole = render(cmap.files, 10**6)
    assert "more files" not in whole
    assert whole.count("\n  def ") == 200 * 8


def test_file_blocks_show_nesting_and_short_decorators(tmp_path: Path) -> None:
    source = (
        "class A:\n    @property\n    def p(self) -> int:\n        return 1\n\n"
        "    class B:\n        def q(self): ...\n"
    )
    cmap = build(_project(tmp_path, {"a.py": source}), cache=False)
    assert file_block(cmap.files[0]).splitlines() == [
        f"a.py ({len(source)} B)",
        "  class A",
        "    @property def p(self) -> int",
        "    class B",
        "      def q(self)",
    ]
    data = to_json(cmap)
    assert data["files"][0]["symbols"][1] == {
        "kind": "method",
        "name": "p",
        "signature": "def p(self) -> int",
        "line": 3,
        "end_line": 4,
        "parent": "A",
        "decorators": ["@property"],
    }


def test_terms_split_case_changes_in_any_script() -> None:
    assert terms("naïveGröße ÜberHTTPServer") == {"naïve", "größe", "über", "http", "server"}
