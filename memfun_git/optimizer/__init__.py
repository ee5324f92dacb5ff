"""Compiled DSPy programs: loading the ones a project keeps (programs.py)."""

from __future__ import annotations

__all__: list[str] = []
