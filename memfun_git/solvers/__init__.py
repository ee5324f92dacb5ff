"""Solvers: the ways a request is answered or turned into commits (see each module)."""

__all__: list[str] = []
