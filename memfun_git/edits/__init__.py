"""Applying the model's file operations: confinement (guard), fuzzy edits (match), ops."""
