"""Counting words and sentences."""

import re

_WORD = re.compile(r"[A-Za-z']+")
_SENTENCE_END = re.compile(r"[.!?]+")


def words(text: str) -> list[str]:
    """The words of `text`, lower-cased."""
    return [w.lower() for w in _WORD.findall(text)]


def word_count(text: str) -> int:
    return len(words(text))


def sentence_count(text: str) -> int:
    return len([part for part in _SENTENCE_END.split(text) if part.strip()])
