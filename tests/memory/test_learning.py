"""Learning through real tasks: what the review proposes to remember is committed on the
task's branch and recalled by later tasks before that branch is merged anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from memfun_git import config
from memfun_git.engine import Engine
from memfun_git.llm.scripted import Answer, engine_of, scripted_lm
from memfun_git.tasks import Task, TaskResult
from tests.conftest import git
from tests.helpers.messy import snapshot, without_memfun_refs
from tests.helpers.projects import CLEAN, GREET, answer, small_project
from tests.helpers.require import need_tool
from tests.quality.kit import environ, venv_with_ruff

DB = """src/db.py
<<<<<<< WRITE
POOL_SIZE = 10
>>>>>>> WRITE"""
POOL = """src/pool.py
<<<<<<< WRITE
def make_pool(size: int = 10) -> list[int]:
    return list(range(size))
>>>>>>> WRITE"""
PREFERENCE = "always use pool_size=10 for dev"
LEARNING_REVIEW = (
    f"REMEMBER: preference: {PREFERENCE}\n"
    "REMEMBER: fact: the token is ghp_" + "R7xT2kLm9QpZ4vWc8NbY3hJd6FgS1aEu0oIq\n"
    "SUMMARY: adds the db settings as asked.\n"
)


@pytest.fixture(autouse=True)
def _bwrap() -> None:
    need_tool("bwrap")


def _run(repo: Path, request: str, *answers: Answer) -> tuple[TaskResult, list[str]]:
    lm = scripted_lm(answers)
    engine = Engine(config.load(repo, environ={}), lm=lm, environ=environ())
    result = engine.run(Task.create(request, repo))
    calls = engine_of(lm).calls
    assert not engine_of(lm).pending
    return result, [c.prompt for c in calls]


def test_a_preference_learned_in_one_task_reaches_the_prompts_of_a_later_one(
    tmp_path: Path,
) -> None:
    repo = small_project(tmp_path / "repo")
    venv_with_ruff(repo)
    before = without_memfun_refs(snapshot(repo))

    first, _ = _run(
        repo,
        f"add db settings for dev; {PREFERENCE}",
        Answer(raw=answer("Settings.", DB), step="solve"),
        Answer(raw=LEARNING_REVIEW, step="review"),
    )
    assert first.ok, first.error
    subjects = git(repo, "log", "--format=%s", f"{first.base}..{first.branch}").splitlines()
    assert subjects[0].startswith("memfun: remember always use pool_size=10 for dev")
    remembered = git(repo, "show", f"{first.branch}:.memfun/MEMORY.md")
    assert f"] {PREFERENCE}" in remembered
    assert "ghp_" not in remembered  # the secret lesson was not kept as it was
    message = git(repo, "log", "-1", "--format=%B", first.branch)
    assert "Memfun-Gate: n/a (memory entries the review proposed)" in message

    second, second_prompts = _run(
        repo,
        "add a greet function",
        Answer(raw=answer("Greet.", GREET), step="solve"),
        Answer(raw=CLEAN, step="review"),
    )
    assert second.ok, second.error
    assert PREFERENCE not in second_prompts[0]  # recall is ranked: nothing about pools here

    third, third_prompts = _run(
        repo,
        "set up the connection pool for the dev database",
        Answer(raw=answer("Pool.", POOL), step="solve"),
        Answer(raw=CLEAN, step="review"),
    )
    assert third.ok, third.error
    solve_prompt, review_prompt = third_prompts
    assert PREFERENCE in solve_prompt
    assert PREFERENCE in review_prompt
    # Nothing was merged: the user's branch and files are as they were.
    assert git(repo, "branch", "--contains", first.branch).strip() == f"{first.branch}"
    assert without_memfun_refs(snapshot(repo)) == before
