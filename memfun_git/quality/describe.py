"""A pull request's change described for its reviewers: summary, walkthrough, risks.

One model call (`DescribeChange`, raw text) on the diff packed under the token budget as the
review packs it (`diffpack.py`; the files left out are named to the model and in the result).
The intent and the diff are redacted before the prompt; the answer is redacted, and stripped
of HTML comments (a description must not carry markers other tools read, such as the review's
fingerprints).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from memfun_git.quality.diffpack import pack_diff
from memfun_git.quality.review import DEFAULT_BUDGET_TOKENS
from memfun_git.redact import redact

if TYPE_CHECKING:
    from memfun_git.llm.session import LMSession

__all__ = ["Description", "describe_change"]

_HTML_COMMENT = re.compile(r"<!--.*?(-->|$)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Description:
    text: str
    """Markdown."""
    unreviewed: tuple[str, ...] = ()
    """Files of the change the model did not see (over the budget)."""


def describe_change(
    session: LMSession,
    intent: str,
    diff: str,
    *,
    budget_tokens: int = DEFAULT_BUDGET_TOKENS,
    step: str = "describe",
) -> Description:
    """Describe `diff` (one model call; none for an empty diff)."""
    from memfun_git.llm.signatures import DescribeChange

    packed = pack_diff(redact(diff), budget_tokens, intent)
    if not packed.text.strip():
        return Description("", packed.unreviewed)
    left_out = ", ".join(packed.unreviewed)
    answer = session.text(
        step,
        DescribeChange,
        intent=redact(intent).strip() or "(not given)",
        notes=f"not shown (over the size limit): {left_out}" if left_out else "(none)",
        diff=packed.text,
    )
    text = _HTML_COMMENT.sub("", redact(answer)).strip()
    return Description(text, packed.unreviewed)
