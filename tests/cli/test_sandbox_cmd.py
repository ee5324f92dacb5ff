"""`memfun sandbox run`: a command run exactly as a task runs it, through the CLI door.

Without --workspace it gets a throwaway worktree of HEAD that is gone afterwards, with its
branch, and no attempt is kept, whether the command succeeded, failed or could not run; with
--workspace it runs in a kept task worktree; the user's own tree is refused. The same escape
attempts as the Python API's are tried here, and the user's machine checked on the host.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
import uuid
from pathlib import Path

import pytest

from memfun_git.cli.main import run
from memfun_git.gitops.repo import require_repo
from memfun_git.gitops.worktree import Workspace
from tests.helpers.messy import Child, run_git, snapshot
from tests.helpers.require import need_tool
from tests.helpers.sandboxes import (
    ATTEMPTS,
    SECRETS,
    Attempt,
    Host,
    User,
    make_user,
    processes_with,
)


@pytest.fixture
def user(
    isolated_env: Path,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> User:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return make_user(isolated_env, tmp_path / "watched", tmp_path_factory.getbasetemp())


def memfun(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def worktree_root() -> Path:
    return Path(os.environ["XDG_CACHE_HOME"]) / "memfun" / "worktrees"


def assert_no_leftovers(user: User) -> None:
    """No memfun branch, attempt or worktree, and no worktree folder on disk."""
    assert run_git(user.tree, "for-each-ref", "refs/heads/memfun", "refs/memfun") == ""
    assert run_git(user.tree, "for-each-ref", "refs/notes") == ""  # throwaways write no note
    listed = run_git(user.tree, "worktree", "list", "--porcelain").splitlines()
    assert [line for line in listed if line.startswith("worktree ")] == [f"worktree {user.tree}"]
    root = worktree_root()
    assert not root.exists() or not any(p for p in root.rglob("*") if p.is_file())


@pytest.fixture(autouse=True)
def _bwrap() -> None:
    need_tool("bwrap")


def test_throwaway_worktree_is_made_and_removed(
    user: User, capsys: pytest.CaptureFixture[str]
) -> None:
    host = Host(user)
    script = (
        "pwd; git rev-parse --abbrev-ref HEAD; git status --short | wc -l; "
        "echo made > made.txt; mkdir -p out && echo x > out/x; "
        "git init -q nested && echo x > nested/x"
    )
    code, out, err = memfun(
        capsys, "-C", str(user.tree), "sandbox", "run", "--", "sh", "-c", script
    )
    assert (code, err) == (0, "")
    where, branch, dirty = out.splitlines()
    assert Path(where).parent.parent == worktree_root()
    assert branch == "HEAD"  # detached: nothing under refs/heads for a push --all
    assert dirty == "0"  # HEAD, not the user's uncommitted work
    assert not Path(where).exists()
    assert_no_leftovers(user)
    host.assert_untouched()


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=lambda a: a.id)
def test_escape_attempt_through_the_cli(
    user: User, capsys: pytest.CaptureFixture[str], attempt: Attempt
) -> None:
    host = Host(user)
    args = [str(user.tree), str(user.home), str(user.watched)]
    code, out, _ = memfun(
        capsys,
        "-C",
        str(user.tree),
        "sandbox",
        "run",
        "--",
        "sh",
        "-c",
        attempt.script,
        "sh",
        *args,
    )
    assert "LEAK" not in out
    if attempt.refused:
        assert code != 0
    host.assert_untouched()
    assert_no_leftovers(user)


def test_detached_child_and_local_servers_through_the_cli(
    user: User, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    marker = f"1000.{uuid.uuid4().int % 10**9:09d}"
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(8)
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(str(tmp_path / "agent.sock"))
    unix.listen(8)
    probe = (
        "import socket, subprocess, sys\n"
        "subprocess.Popen(['sleep', sys.argv[1]], start_new_session=True)\n"
        "for family, address in ((socket.AF_INET, ('127.0.0.1', int(sys.argv[2]))),\n"
        "                        (socket.AF_UNIX, sys.argv[3])):\n"
        "    try:\n"
        "        socket.socket(family).connect(address)\n"
        "        print('LEAK: connected')\n"
        "    except OSError as exc:\n"
        "        print(type(exc).__name__)\n"
    )
    port = str(tcp.getsockname()[1])
    try:
        code, out, err = memfun(
            capsys, "-C", str(user.tree), "sandbox", "run", "--",
            sys.executable, "-c", probe, marker, port, str(tmp_path / "agent.sock"),
        )  # fmt: skip
        # The interpreter is this project's venv, not the system's: memfun says which ran.
        ran = f"memfun: running {sys.executable}\n"
        assert (code, out, err) == (0, "ConnectionRefusedError\nFileNotFoundError\n", ran)
        for server in (tcp, unix):
            server.setblocking(False)
            with pytest.raises(BlockingIOError):
                server.accept()
    finally:
        tcp.close()
        unix.close()
    assert processes_with(marker) == []
    assert_no_leftovers(user)


def test_exit_status_time_limit_and_unrunnable_commands(
    user: User, capsys: pytest.CaptureFixture[str]
) -> None:
    host = Host(user)
    tree = str(user.tree)
    assert memfun(capsys, "-C", tree, "sandbox", "run", "--", "sh", "-c", "exit 3")[0] == 3
    code, _, err = memfun(
        capsys,
        "-C",
        tree,
        "sandbox",
        "run",
        "--timeout",
        "1",
        "--",
        "sh",
        "-c",
        "while :; do :; done",
    )
    assert code == 124
    assert "memfun: the command was stopped after 1.0 s" in err  # as given, not rounded
    code, out, err = memfun(capsys, "-C", tree, "sandbox", "run", "--", "no-such-program-xyz")
    assert (code, out) == (127, "")  # as a shell says
    assert err == (
        "memfun: no-such-program-xyz is not installed (not found on PATH) — "
        "install it, or run it by its full path\n"
    )
    code, out, err = memfun(capsys, "-C", tree, "sandbox", "run", "--", "./README.md")
    assert (code, out) == (126, "")
    assert err == (
        "memfun: ./README.md is not executable — chmod +x it, or run it with its interpreter\n"
    )
    assert_no_leftovers(user)
    host.assert_untouched()


def test_missing_bubblewrap_through_the_cli(
    user: User, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("git", "sh"):
        (bin_dir / tool).symlink_to(need_tool(tool))
    monkeypatch.setenv("PATH", str(bin_dir))
    host = Host(user)
    code, out, err = memfun(capsys, "-C", str(user.tree), "sandbox", "run", "--", "true")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert err.startswith("memfun: bubblewrap (bwrap) is not installed — install bubblewrap")
    assert '[sandbox] backend = "local"' in err
    assert_no_leftovers(user)  # no attempt was kept for the command that never ran
    host.assert_untouched()


def test_workspace_runs_in_a_kept_task_worktree(
    user: User, capsys: pytest.CaptureFixture[str]
) -> None:
    with Workspace(require_repo(user.tree), "kept-" + uuid.uuid4().hex[:6], keep=True) as ws:
        pass
    host = Host(user, ws.path)
    script = 'pwd; echo made > made.txt; echo pwned > "$1/pwned"'
    code, out, err = memfun(
        capsys,
        "-C",
        str(user.tree),
        "sandbox",
        "run",
        "--workspace",
        str(ws.path),
        "--",
        "sh",
        "-c",
        script,
        "sh",
        str(user.tree),
    )
    assert (code, out, err) == (0, f"{ws.path}\n", "")
    assert (ws.path / "made.txt").read_text() == "made\n"  # the task's worktree keeps it
    host.assert_untouched()


def test_workspace_refuses_the_users_own_tree(
    user: User, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with Workspace(require_repo(user.tree), "kept-" + uuid.uuid4().hex[:6], keep=True) as ws:
        pass
    host = Host(user, ws.path)
    other = tmp_path / "other"
    other.mkdir()
    run_git(other, "init", "-q")
    own = "memfun: --workspace names your own working tree — pass a task's worktree"
    cases = [
        (str(user.tree), str(user.tree), own),
        (str(user.tree), str(user.tree / "src"), own),
        (str(ws.path), str(user.tree), own),  # started in a task worktree: still the user's
        (str(user.tree), str(other), "is not a worktree of"),
    ]
    for start, workspace, expected in cases:
        code, out, err = memfun(
            capsys, "-C", start, "sandbox", "run", "--workspace", workspace, "--", "sh", "-c",
            'echo pwned > "$PWD/pwned"',
        )  # fmt: skip
        assert (code, out) == (2, ""), (start, workspace)
        assert err.count("\n") == 1
        assert expected in err
    assert not (user.tree / "pwned").exists()
    assert not (user.tree / "src" / "pwned").exists()
    host.assert_untouched()


def test_workspace_refuses_the_users_own_linked_worktree(
    user: User, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    linked = tmp_path / "feature-tree"
    run_git(user.tree, "worktree", "add", "-q", "-b", "feature", str(linked))
    (linked / "mywork.txt").write_text("uncommitted\n")
    code, out, err = memfun(
        capsys, "-C", str(user.tree), "sandbox", "run", "--workspace", str(linked), "--",
        "sh", "-c", "echo pwned > mywork.txt",
    )  # fmt: skip
    assert (code, out) == (2, "")
    assert err.startswith(f"memfun: --workspace {linked} is not a memfun task's worktree")
    assert "(it has feature checked out)" in err
    assert (linked / "mywork.txt").read_text() == "uncommitted\n"


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "1e12"])
def test_timeouts_that_are_no_limit_are_refused(
    user: User, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    code, out, err = memfun(
        capsys, "-C", str(user.tree), "sandbox", "run", "--timeout", value, "--", "true"
    )
    assert (code, out) == (2, "")
    assert err.startswith("memfun: --timeout ")
    assert err.endswith("give a number of seconds over 0, at most 86,400\n")
    assert_no_leftovers(user)


def test_runs_in_the_subfolder_it_was_started_in_and_with_changes_on_request(
    user: User, capsys: pytest.CaptureFixture[str]
) -> None:
    sub = user.tree / "src"
    assert run_git(user.tree, "ls-files", "src").split(), "the messy repository tracks src/"
    (user.tree / "uncommitted-note.txt").write_text("mine\n")
    code, out, _ = memfun(capsys, "-C", str(sub), "sandbox", "run", "--", "sh", "-c", "pwd")
    assert code == 0
    assert out.strip().endswith("/" + sub.name)
    code, out, _ = memfun(
        capsys, "-C", str(user.tree), "sandbox", "run", "--", "cat", "uncommitted-note.txt"
    )
    assert code != 0
    code, out, _ = memfun(
        capsys, "-C", str(user.tree), "sandbox", "run", "--with-changes", "--",
        "cat", "uncommitted-note.txt",
    )  # fmt: skip
    assert (code, out) == (0, "mine\n")
    assert_no_leftovers(user)
    assert (user.tree / "uncommitted-note.txt").read_text() == "mine\n"


def test_cleanup_never_writes_through_a_link_the_command_planted(
    user: User, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    outside = tmp_path / "outside-target"
    outside.mkdir()
    before = sorted(p.name for p in outside.iterdir())
    code, _, _ = memfun(
        capsys, "-C", str(user.tree), "sandbox", "run", "--", "sh", "-c",
        f"rm -rf src && ln -s {outside} src",
    )  # fmt: skip
    assert code == 0
    assert sorted(p.name for p in outside.iterdir()) == before
    assert_no_leftovers(user)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGHUP])
def test_a_killed_run_leaves_nothing_to_publish_and_the_next_run_removes_it(
    user: User, capsys: pytest.CaptureFixture[str], signum: int
) -> None:
    """After SIGKILL or SIGHUP a `--with-changes` run left `memfun/sandbox-*` under refs/heads,
    its commit holding the user's uncommitted and untracked files (`git push --all` would
    publish them), and its worktree behind."""
    (user.tree / "credentials.env").write_text("KEY=not ignored, not committed\n")
    child = Child(
        "-C", str(user.tree), "sandbox", "run", "--with-changes", "--",
        "sh", "-c", "echo ready; sleep 120",
    )  # fmt: skip
    child.wait_for("ready")
    child.kill(signum)
    assert (
        run_git(user.tree, "for-each-ref", "refs/heads/memfun", "refs/memfun", "refs/notes") == ""
    )
    code, _, _ = memfun(capsys, "-C", str(user.tree), "sandbox", "run", "--", "true")
    assert code == 0
    assert_no_leftovers(user)


def test_ctrl_c_while_cleaning_up_stores_nothing(
    user: User, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C during the discard stored the command's files as an attempt and, with
    `--with-changes`, left the branch. Interrupt again and again while it cleans up."""
    before = snapshot(user.tree)  # objects of the carried-over commit do land in .git
    child = Child(
        "-C", str(user.tree), "sandbox", "run", "--with-changes", "--", "sh", "-c",
        "mkdir many; i=0; while [ $i -lt 3000 ]; do echo $i > many/f$i; i=$((i+1)); done; "
        "echo done",
    )  # fmt: skip
    child.wait_for("done")
    while child.proc.poll() is None:
        child.proc.send_signal(signal.SIGINT)
        time.sleep(0.005)
    code, _, _ = child.finish()
    # Done, interrupted (130), or ended by the signal itself during interpreter shutdown.
    assert code in (0, 130, -signal.SIGINT)
    assert (
        run_git(user.tree, "for-each-ref", "refs/heads/memfun", "refs/memfun", "refs/notes") == ""
    )
    # Never half-removed: a worktree still listed (the interrupt landed before the held part
    # began) is whole, and its run has ended; a trash folder an interrupted deletion left
    # holds nothing of anyone's. The next command takes both.
    for line in run_git(user.tree, "worktree", "list", "--porcelain").splitlines()[1:]:
        if line.startswith("worktree "):
            assert Path(line.removeprefix("worktree "), ".git").is_file()
    assert memfun(capsys, "-C", str(user.tree), "gc")[0] == 0
    assert_no_leftovers(user)
    assert snapshot(user.tree) == before


def test_files_over_the_caps_are_not_copied_in_and_said_so(
    user: User, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sparse 8 GB file would have been read whole into the user's object store."""
    with (user.tree / "core.dump").open("wb") as handle:
        handle.truncate(8 << 30)
    code, out, err = memfun(
        capsys, "-C", str(user.tree), "sandbox", "run", "--with-changes", "--",
        "sh", "-c", "ls core.dump todo.txt",
    )  # fmt: skip
    assert code != 0
    assert out == "todo.txt\n"
    assert err.startswith(
        "memfun: not copied in: over the caps (10,000 files, 200 MiB in all, 100 MiB a file): "
        "core.dump\n"
    )
    assert_no_leftovers(user)


def test_a_program_of_the_users_venv_runs_and_is_named(
    user: User, capsys: pytest.CaptureFixture[str]
) -> None:
    """`-- pytest` outside an activated venv ran a global one, and `-- .venv/bin/pytest`
    failed in a worktree that has no (ignored) .venv: both now run the user's own, named."""
    import venv

    venv.EnvBuilder(with_pip=False, symlinks=True).create(user.tree / ".venv")
    tool = user.tree / ".venv" / "bin" / "probe-tool"
    tool.write_text("#!/bin/sh\necho from the venv\n")
    tool.chmod(0o755)
    for program in ("probe-tool", ".venv/bin/probe-tool"):
        code, out, err = memfun(capsys, "-C", str(user.tree), "sandbox", "run", "--", program)
        assert (code, out, err) == (0, "from the venv\n", f"memfun: running {tool}\n")
    assert_no_leftovers(user)
