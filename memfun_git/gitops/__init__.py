"""Git workspaces: repositories, worktrees, commits, attempts and cleanup (see each module)."""

__all__: list[str] = []
