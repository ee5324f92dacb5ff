"""Tools memfun serves to other agents: the MCP server (server.py)."""

from __future__ import annotations

__all__: list[str] = []
