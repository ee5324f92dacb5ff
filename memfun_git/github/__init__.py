"""GitHub front ends' shared parts: the pull request diff map, review comments, the Action's
outputs and summary, and the REST client (githubkit, loaded on use)."""

__all__: list[str] = []
