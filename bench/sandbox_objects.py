"""What showing only the task's history to the sandbox costs on a large repository.

The sandbox never sees the user's object store (stashes, other branches, dangling objects);
it sees packs of the task's base tree and its own commits (memfun_git/sandbox/objects.py).
Measured on a clone of a large repository (default: git.git, ~850,000 objects), each against
a baseline from the same run:
- first base: packing the base commit's tree, once per clone (the first sandboxed command),
  beside `git archive` of that tree (reading every file of it, about what making the task's
  worktree costs) and beside packing the base's whole history (what showing full history
  would cost);
- next base: the user moved on 50 commits; the new base is packed as the difference from the
  cached one;
- task tip: a task's commit on top of the base (every later command after a commit);
- cached: the chain looked up again (every other command).
Sizes are printed against the clone's own pack.

    uv run python bench/sandbox_objects.py [--repo /path/to/large/clone]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

_DEFAULT = Path("/work/.mirror/git+git/repo")


def _git(cwd: Path, *args: str, input: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    done = subprocess.run(
        ["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.com", *args],
        cwd=cwd, env=env, input=input, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def _timed(action: object) -> float:
    start = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", type=Path, default=_DEFAULT)
    args = parser.parse_args()
    if not (args.repo / "objects").is_dir() and not (args.repo / ".git").exists():
        print(f"no repository at {args.repo}: pass --repo with a large clone")
        return 2
    import pygit2

    from memfun_git.sandbox.objects import ObjectCache

    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "clone"
        # A local clone shares nothing with the source (no hard links): a real object store.
        _git(Path(tmp), "clone", "-q", "--no-hardlinks", "--bare", str(args.repo), str(clone))
        common = clone
        repo = pygit2.Repository(str(clone))
        head = str(repo.head.target)
        older = _git(clone, "rev-parse", "HEAD~50").strip()
        store = _size(clone / "objects")
        objects = len(_git(clone, "rev-list", "--objects", "--all").splitlines())

        floor = _timed(lambda: _git(clone, "archive", "--format=tar", "-o", f"{tmp}/t.tar", older))
        history_dir = Path(tmp) / "history"
        history_dir.mkdir()
        full = _timed(
            lambda: _git(
                clone, "pack-objects", "-q", "--revs", "--window=0", str(history_dir / "p"),
                input=older + "\n",
            )
        )  # fmt: skip
        cache = ObjectCache(common)
        first = _timed(lambda: cache.chain(repo, older))
        first_size = _size(cache.root)
        nxt = _timed(lambda: cache.chain(repo, head))
        # A task's commit on top of the newest base.
        tree = repo.revparse_single(head).peel(pygit2.Commit).tree
        builder = repo.TreeBuilder(tree)
        builder.insert("MEMFUN-BENCH.txt", repo.create_blob(b"a task's change\n"), 0o100644)
        sig = pygit2.Signature("Bench", "bench@example.com")
        message = "a task's commit\n\nMemfun-Task: bench\n"
        tip = str(repo.create_commit(None, sig, sig, message, builder.write(), [repo.head.target]))
        task = _timed(lambda: cache.chain(repo, tip))
        cached = min(_timed(lambda: cache.chain(repo, tip)) for _ in range(20))
        total = _size(cache.root)
        history_size = _size(history_dir)
        shutil.rmtree(cache.root)

    mb = 1 / 1e6
    print(f"repository: {args.repo} ({objects:,} objects, {store * mb:,.0f} MB of packs)")
    print(f"first base (tree of HEAD~50):   {first:7.2f} s  {first_size * mb:7.1f} MB")
    print(
        f"  git archive of that tree:      {floor:7.2f} s  -> {first / floor:.1f}x reading the tree"
    )
    print(
        f"  whole history instead:         {full:7.2f} s  {history_size * mb:7.1f} MB"
        f"  -> base is {full / first:.1f}x faster, {history_size / max(first_size, 1):.0f}x smaller"
    )
    print(f"next base (50 commits later):   {nxt:7.2f} s")
    print(f"task tip (one commit on it):    {task * 1000:7.1f} ms")
    print(f"cached chain lookup:            {cached * 1000:7.2f} ms")
    print(f"cache on disk: {total * mb:.1f} MB ({total / store:.1%} of the clone's packs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
