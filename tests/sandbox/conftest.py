"""Fixtures of the sandbox suites: a user's machine (tests/helpers/sandboxes.py) with API keys
in the environment, and a task's worktree (a real Workspace under ~/.cache/memfun/worktrees)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from memfun_git.gitops.repo import require_repo
from memfun_git.gitops.worktree import Workspace
from tests.helpers.sandboxes import SECRETS, User, make_user


@pytest.fixture
def user(isolated_env: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> User:
    return make_user(isolated_env, tmp_path / "watched", tmp_path_factory.getbasetemp())


@pytest.fixture
def ws(user: User, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    """A task's worktree of the user's project, with API keys in the environment."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    with Workspace(require_repo(user.tree), "task-" + uuid.uuid4().hex[:6]) as workspace:
        yield workspace
