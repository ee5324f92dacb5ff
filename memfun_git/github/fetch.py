"""A pull request's commits fetched into a bare repository of memfun's own, never checked out.

The runner's workspace is not used (a checkout there is the workflow's business, and the
pull request's files are never executed): a bare repository under the runner's temp folder
gets the base branch and `refs/pull/<n>/head` from the server over HTTPS, the token sent as
git's `http.extraHeader` through `GIT_CONFIG_*` variables (never on a command line, never in
a remote URL, never in a file). The diff is GitHub's: base...head (from their merge base).

`push_branch` sends a branch back with dulwich, the token as its Basic auth (the Action's fix
and the App's pull requests).
"""

from __future__ import annotations

import base64
import io
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memfun_git.errors import MemfunError, RepoError

if TYPE_CHECKING:
    from memfun_git.github.inputs import Runner

__all__ = ["Fetched", "fetch_for", "fetch_pull", "push_branch"]


@dataclass(frozen=True, slots=True)
class Fetched:
    git_dir: Path
    base: str
    """The base branch's commit as fetched."""
    head: str
    merge_base: str
    diff: str
    """base...head, unified, with git's headers (renames found)."""


def _git_env(token: str) -> dict[str, str]:
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    return env | {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
    }


def fetch_pull(
    url: str,
    token: str,
    number: int,
    base_ref: str,
    head_sha: str,
    folder: Path,
    *,
    checkout: bool = False,
) -> Fetched:
    """Fetch the base branch and the pull request's head from `url` into `folder` (a bare
    repository, made or reused; with `checkout`, a repository whose working tree holds the
    head, detached, for the engine to make a task's worktree from) and diff them; RepoError
    saying what failed."""
    import pygit2

    folder.mkdir(parents=True, exist_ok=True)
    if not any(folder.iterdir()):
        pygit2.init_repository(str(folder), bare=not checkout)
    git_dir = folder / ".git" if checkout else folder
    refspecs = [
        f"+refs/heads/{base_ref}:refs/memfun/base",
        f"+refs/pull/{number}/head:refs/memfun/head",
    ]
    done = subprocess.run(
        ["git", "--git-dir", str(git_dir), "fetch", "--quiet", "--no-tags", url, *refspecs],
        env=_git_env(token),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        from memfun_git.redact import redact

        raise RepoError(
            f"cannot fetch the pull request from {url}: {redact(done.stderr.strip())}",
            "check that the token can read the repository (contents: read)",
        )
    repo = pygit2.Repository(str(git_dir))
    try:
        base = repo.references["refs/memfun/base"].peel(pygit2.Commit)
        head = repo.references["refs/memfun/head"].peel(pygit2.Commit)
        if str(head.id) != head_sha and head_sha in repo:
            # A newer push arrived: review what the event names, as it is here.
            head = repo[head_sha].peel(pygit2.Commit)
        found: pygit2.Oid | None = repo.merge_base(base.id, head.id)
        since = repo[found].peel(pygit2.Commit) if found else base
        diff = since.tree.diff_to_tree(head.tree)
        diff.find_similar()
        if checkout:
            repo.checkout_tree(head.tree, strategy=pygit2.enums.CheckoutStrategy.FORCE)
            repo.set_head(head.id)
        return Fetched(git_dir, str(base.id), str(head.id), str(since.id), diff.patch or "")
    finally:
        repo.free()


def fetch_for(
    runner: Runner, pull: dict[str, Any], *, checkout: bool = False
) -> tuple[Path, Fetched]:
    """Pull request `pull` (as the API or the event has it) fetched into a new folder under the
    runner's temp folder: (the folder, what was fetched into its `repo`)."""
    import tempfile

    runner.temp.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="memfun-", dir=str(runner.temp)))
    fetched = fetch_pull(
        runner.clone_url,
        runner.inputs.token,
        int(pull["number"]),
        str(pull["base"]["ref"]),
        str(pull["head"]["sha"]),
        folder / "repo",
        checkout=checkout,
    )
    return folder, fetched


def push_branch(
    repo: Path, url: str, token: str, local: str, remote: str, *, force: bool = False
) -> None:
    """Push `refs/heads/<local>` of `repo` to `refs/heads/<remote>` at `url` (MemfunError
    saying why not; dulwich's DivergedBranches as it is, for a caller to say what moved)."""
    from dulwich import porcelain
    from dulwich.porcelain import DivergedBranches

    refspec = f"{'+' if force else ''}refs/heads/{local}:refs/heads/{remote}".encode()
    try:
        result = porcelain.push(
            str(repo), url, refspec, username="x-access-token", password=token, force=force,
            outstream=io.BytesIO(), errstream=io.BytesIO(),
        )  # fmt: skip
    except DivergedBranches:
        raise
    except Exception as exc:  # dulwich's transport errors have no common base
        from memfun_git.redact import redact

        raise MemfunError(f"cannot push to {remote}: {redact(str(exc))}", "") from None
    refused = {ref.decode(): why for ref, why in (result.ref_status or {}).items() if why}
    if refused:
        raise MemfunError(f"GitHub refused the push: {refused}", "")
