"""The interactive chat (`memfun` with no arguments): its engine side."""

from __future__ import annotations

__all__: list[str] = []
