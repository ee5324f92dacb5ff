"""Applying the model's file operations: confinement (guard), fuzzy edits (match), ops."""

__all__: list[str] = []
