"""Agent Skills: the built-in ones (builtin/), discovery and checks (catalog.py)."""

from __future__ import annotations

__all__: list[str] = []
