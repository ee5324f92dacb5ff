"""memfun-git: an autonomous coding agent that works through git."""

__all__ = ["__version__"]

__version__ = "0.1.0"
