"""The recorded model answers `memfun demo` replays: a solve answer that leaves one lint error
(an unused import), the fix round's answer that removes it, and a review with no findings."""

from __future__ import annotations

__all__ = ["FIX", "REQUEST", "REVIEW", "SOLVE"]

REQUEST = "add a function that returns the most common words of a text"

SOLVE = '''I add `most_common_words` to textstats/core.py, counting with collections.Counter, and
export it from the package.

textstats/core.py
<<<<<<< SEARCH
import re
=======
import os
import re
from collections import Counter
>>>>>>> REPLACE

textstats/core.py
<<<<<<< SEARCH
def sentence_count(text: str) -> int:
    return len([part for part in _SENTENCE_END.split(text) if part.strip()])
=======
def sentence_count(text: str) -> int:
    return len([part for part in _SENTENCE_END.split(text) if part.strip()])


def most_common_words(text: str, n: int = 3) -> list[tuple[str, int]]:
    """The `n` most common words of `text` with their counts, most common first."""
    return Counter(words(text)).most_common(n)
>>>>>>> REPLACE

textstats/__init__.py
<<<<<<< SEARCH
from textstats.core import sentence_count, word_count

__all__ = ["sentence_count", "word_count"]
=======
from textstats.core import most_common_words, sentence_count, word_count

__all__ = ["most_common_words", "sentence_count", "word_count"]
>>>>>>> REPLACE
'''

FIX = """textstats/core.py
<<<<<<< SEARCH
import os
import re
=======
import re
>>>>>>> REPLACE
"""

REVIEW = "SUMMARY: adds most_common_words and exports it, as the request asks.\n"
