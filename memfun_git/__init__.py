"""memfun-git: an autonomous coding agent that works through git."""

__version__ = "0.1.0"
