"""Small text statistics."""

from textstats.core import sentence_count, word_count

__all__ = ["sentence_count", "word_count"]
