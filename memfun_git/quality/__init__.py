"""The quality gate: the only way model-written code is committed (see gate.py), and the
review program every front end shares (review.py)."""

__all__: list[str] = []
