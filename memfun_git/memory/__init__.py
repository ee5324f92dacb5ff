"""Memory that lives in git: `.memfun/MEMORY.md` (entries.py), the clone's BM25 index
(index.py), and recall, learning and the user's edits (store.py). See docs/DESIGN.md,
"Memory"."""

__all__: list[str] = []
