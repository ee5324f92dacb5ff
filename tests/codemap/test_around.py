"""The code around a change, for a review: the changed files, their users, what they use."""

from __future__ import annotations

from pathlib import Path

from memfun_git.codemap.around import around
from memfun_git.codemap.build import CodeMap, build
from memfun_git.codemap.render import tokens
from tests.helpers.projects import committed

FILES = {
    "billing/invoice.py": (
        "from billing.tax import vat_rate\n\n\nclass Invoice:\n"
        "    def total(self, net: int) -> int:\n        return net * vat_rate()\n"
    ),
    "billing/tax.py": "def vat_rate() -> float:\n    return 0.2\n",
    "web/views.py": (
        "from billing.invoice import Invoice\n\n\ndef show():\n    Invoice().total(1)\n"
    ),
    "tests/test_invoice.py": (
        "from billing.invoice import Invoice\n\n\ndef test_total():\n    ...\n"
    ),
    "unrelated/mailer.py": "def send_mail(to: str) -> None:\n    pass\n",
}


def _map(tmp_path: Path) -> CodeMap:
    return build(committed(tmp_path / "repo", FILES), cache=False)


def test_the_changed_file_comes_first_then_its_users_and_what_it_uses(tmp_path: Path) -> None:
    text = around(_map(tmp_path), ["billing/invoice.py"], 2000)
    heads = [line.split(" (")[0] for line in text.splitlines() if not line.startswith(" ")]
    assert heads[0] == "billing/invoice.py"
    assert set(heads[1:3]) == {"tests/test_invoice.py", "web/views.py"}
    assert "billing/tax.py" in heads
    assert "unrelated/mailer.py" not in heads
    assert "    def total(self, net: int) -> int" in text


def test_a_change_outside_the_map_has_no_context(tmp_path: Path) -> None:
    assert around(_map(tmp_path), ["README.md", "gone.py"], 2000) == ""


def test_the_context_keeps_within_its_budget(tmp_path: Path) -> None:
    text = around(_map(tmp_path), ["billing/invoice.py"], 30)
    assert tokens(text) <= 30
    assert text.startswith("billing/invoice.py (")
