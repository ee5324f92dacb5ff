"""GitHub front ends' shared parts: the pull request diff map, review comments, the Action's
outputs and summary, the REST client (githubkit, loaded on use), and the App's webhook intake
(`webhook.py` decides, `appserver.py` serves)."""

__all__: list[str] = []
