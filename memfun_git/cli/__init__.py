"""The `memfun` command line: one thin module per command (see main.py)."""

__all__: list[str] = []
