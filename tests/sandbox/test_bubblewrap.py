"""The bubblewrap sandbox through its Python API, in a real Workspace: real bwrap, real escapes.

The user's project lives under their (test) home next to secrets; API keys are in the
environment when the sandbox is made. Every attempt is checked on the host afterwards: the
user's tree, index, refs and config, the whole git common dir, the home folder and a watched
folder under /tmp are byte-identical, no secret reached the output, no process survived.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import uuid
from pathlib import Path

import pytest

from memfun_git.backends.protocols import SandboxAdapter
from memfun_git.config import SandboxConfig
from memfun_git.gitops.worktree import Workspace
from memfun_git.sandbox.bubblewrap import BubblewrapSandbox
from memfun_git.sandbox.process import pids_cgroup_available
from tests.helpers.messy import run_git
from tests.helpers.require import need_service, need_tool
from tests.helpers.sandboxes import (
    ATTEMPTS,
    DOTENV,
    SECRET_WORDS,
    Attempt,
    Host,
    User,
    processes_with,
    sandbox_for,
)


@pytest.fixture(autouse=True)
def _bwrap() -> None:
    need_tool("bwrap")


def no_secrets(*texts: str) -> None:
    for text in texts:
        assert "LEAK" not in text
        for word in SECRET_WORDS:
            assert word not in text


# -- escapes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=lambda a: a.id)
def test_escape_attempt_is_refused_or_contained(
    ws: Workspace, user: User, attempt: Attempt
) -> None:
    sandbox = sandbox_for(ws, user)
    host = Host(user, ws.path)
    args = [str(user.tree), str(user.home), str(user.watched)]
    result = sandbox.run(["sh", "-c", attempt.script, "sh", *args])
    no_secrets(result.stdout, result.stderr)
    if attempt.refused:
        assert result.exit_code != 0, result
    host.assert_untouched()


def test_git_reads_work_and_writes_fail_with_gits_read_only_error(
    ws: Workspace, user: User
) -> None:
    host = Host(user, ws.path)
    result = sandbox_for(ws, user).run(
        ["sh", "-c", "echo changed >> README.md && git status --short && git diff && git add -A"]
    )
    assert result.exit_code == 128
    assert " M README.md" in result.stdout
    assert "+changed" in result.stdout
    assert "Read-only file system" in result.stderr
    assert "index.lock" in result.stderr
    host.assert_untouched()
    assert run_git(ws.path, "diff", "--cached", "--name-only") == ""  # nothing was staged


def test_no_network_loopback_tcp_and_unix_sockets(
    ws: Workspace, user: User, tmp_path: Path
) -> None:
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(8)
    port = tcp.getsockname()[1]
    unix = socket.socket(socket.AF_UNIX)
    unix_path = tmp_path / "agent.sock"
    unix.bind(str(unix_path))
    unix.listen(8)
    in_home = socket.socket(socket.AF_UNIX)
    (user.home / ".gnupg").mkdir()
    home_path = user.home / ".gnupg" / "S.gpg-agent"
    in_home.bind(str(home_path))
    in_home.listen(8)
    abstract = socket.socket(socket.AF_UNIX)
    abstract_name = "\0memfun-test-" + uuid.uuid4().hex
    abstract.bind(abstract_name)
    abstract.listen(8)
    probe = (
        "import json, socket, sys\n"
        "out = {}\n"
        "for name, family, address in json.loads(sys.argv[1]):\n"
        "    s = socket.socket(getattr(socket, family))\n"
        "    s.settimeout(3)\n"
        "    try:\n"
        "        s.connect(tuple(address) if family == 'AF_INET' else address)\n"
        "        out[name] = 'connected'\n"
        "    except OSError as exc:\n"
        "        out[name] = type(exc).__name__\n"
        "print(json.dumps(out))\n"
    )
    targets = [
        ("tcp", "AF_INET", ["127.0.0.1", port]),
        ("unix", "AF_UNIX", str(unix_path)),
        ("unix-in-home", "AF_UNIX", str(home_path)),
        ("abstract", "AF_UNIX", abstract_name),
        ("outside", "AF_INET", ["192.0.2.1", 80]),
    ]
    try:
        result = sandbox_for(ws, user).run([sys.executable, "-c", probe, json.dumps(targets)])
        assert result.ok, result.stdout + result.stderr
        outcome = json.loads(result.stdout)
        assert outcome == {
            "tcp": "ConnectionRefusedError",
            "unix": "FileNotFoundError",
            "unix-in-home": "FileNotFoundError",
            "abstract": "ConnectionRefusedError",
            "outside": "OSError",  # ENETUNREACH: no route out of an empty network namespace
        }
        for server in (tcp, unix, in_home, abstract):
            server.setblocking(False)
            with pytest.raises(BlockingIOError):
                server.accept()  # nothing ever connected
    finally:
        for server in (tcp, unix, in_home, abstract):
            server.close()


@pytest.mark.services
def test_local_redis_is_unreachable(ws: Workspace, user: User) -> None:
    need_service("redis", "127.0.0.1", 6379)
    probe = (
        "import socket\n"
        "try:\n"
        "    socket.create_connection(('127.0.0.1', 6379), timeout=3).sendall(b'PING\\r\\n')\n"
        "    print('LEAK: connected')\n"
        "except OSError as exc:\n"
        "    print(type(exc).__name__)\n"
    )
    result = sandbox_for(ws, user).run([sys.executable, "-c", probe])
    assert result.stdout.strip() == "ConnectionRefusedError"


# -- limits ----------------------------------------------------------------------------------


def _sandbox(ws: Workspace, user: User, cgroup: bool) -> SandboxAdapter:
    if cgroup:
        return sandbox_for(ws, user)
    # No cgroup (most machines: one needs root or a delegated v2 controller): the PID
    # namespace alone must end every process.
    return BubblewrapSandbox(
        SandboxConfig(timeout_seconds=30, max_memory_mb=0),
        ws.path,
        user_tree=user.tree,
        common_dir=user.common_dir,
        max_processes=0,
    )


@pytest.mark.parametrize("cgroup", [True, False], ids=["pids-cgroup", "pid-namespace-only"])
def test_setsid_children_do_not_outlive_the_command(
    ws: Workspace, user: User, cgroup: bool
) -> None:
    marker = f"1000.{uuid.uuid4().int % 10**9:09d}"
    script = (
        f"setsid sleep {marker} & "  # holds the output pipes
        f"setsid sleep {marker}1 </dev/null >/dev/null 2>&1 & "  # does not
        f"setsid sh -c 'trap \"\" TERM HUP; sleep {marker}2' </dev/null >/dev/null 2>&1 & "
        "sleep 0.2; echo started"
    )
    # Waiting for the children (the first holds the pipes) would meet the limit.
    result = _sandbox(ws, user, cgroup).run(["sh", "-c", script], timeout=30)
    assert result.ok, result
    assert result.stdout == "started\n"
    assert processes_with(marker) == []


@pytest.mark.parametrize("cgroup", [True, False], ids=["pids-cgroup", "pid-namespace-only"])
def test_process_storm_is_ended_with_the_sandbox(ws: Workspace, user: User, cgroup: bool) -> None:
    marker = f"1000.{uuid.uuid4().int % 10**9:09d}"
    script = f"for i in $(seq 300); do sleep {marker} & done; wait"
    result = _sandbox(ws, user, cgroup).run(["sh", "-c", script], timeout=2)
    if cgroup and pids_cgroup_available():
        # pids.max (256) stopped the storm: the shell could not fork, and gave up at once.
        assert "Cannot fork" in result.stderr
        assert not result.timed_out
    else:
        assert result.timed_out  # every sleeper started; the time limit ended them
    assert processes_with(marker) == []


# -- what a sandboxed command sees -----------------------------------------------------------


def test_environment_is_an_allowlist(ws: Workspace, user: User) -> None:
    result = sandbox_for(ws, user).run(
        ["sh", "-c", "env; echo ---; tr '\\0' '\\n' </proc/1/environ"]
    )
    no_secrets(result.stdout)
    own, _, init = result.stdout.partition("---\n")
    names = {line.split("=", 1)[0] for line in own.splitlines() if "=" in line}
    assert {"HOME", "PATH"} <= names
    assert not names & {
        "OPENAI_API_KEY",
        "GITHUB_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "GIT_CONFIG_GLOBAL",
    }
    # PID 1 is bwrap's init: what bwrap itself was started with.
    init_names = {line.split("=", 1)[0] for line in init.splitlines() if "=" in line}
    assert init_names
    assert init_names <= names | {"PWD"}


def test_programs_reached_through_links_run(ws: Workspace, user: User) -> None:
    """`awk` is /usr/bin/awk -> /etc/alternatives/awk -> the real one on Debian: links in
    folders bound whole stay as they are (bwrap cannot make a link over one)."""
    result = sandbox_for(ws, user).run(["awk", "BEGIN { print 6 * 7 }"])
    assert (result.exit_code, result.stdout) == (0, "42\n"), result.stderr


def test_tools_leave_no_caches_in_the_worktree(ws: Workspace, user: User) -> None:
    (ws.path / "pkg").mkdir()
    (ws.path / "pkg" / "__init__.py").write_text("")
    (ws.path / "pkg" / "mod.py").write_text("def double(x):\n    return 2 * x\n")
    (ws.path / "tests").mkdir()
    (ws.path / "tests" / "test_mod.py").write_text(
        "from pkg.mod import double\n\n\ndef test_double():\n    assert double(2) == 4\n"
    )
    (ws.path / "conftest.py").write_text("")  # puts the worktree on sys.path for `pytest`
    added = ["conftest.py", "pkg/__init__.py", "pkg/mod.py", "tests/test_mod.py"]
    ws.commit(added, "add pkg", gate="test")
    venv_bin = Path(sys.executable).parent
    sandbox = sandbox_for(ws, user)
    # Installed bytecode is still used (only writing it is off): no recompiling on each start.
    cached = sandbox.run(
        [sys.executable, "-c", "import json, os; print(os.path.isfile(json.__cached__))"]
    )
    assert cached.stdout == "True\n"
    commands = [
        [sys.executable, "-c", "import pkg.mod; print(pkg.mod.double(21))"],
        [sys.executable, "-m", "pytest", "-q", "tests"],
        [str(venv_bin / "pytest"), "-q", "tests"],
        [str(venv_bin / "ruff"), "check", "."],
    ]
    for argv in commands:
        result = sandbox.run(argv)
        assert result.ok, result.stdout + result.stderr
    status = run_git(ws.path, "status", "--porcelain", "--ignored", "--untracked-files=all")
    assert status == ""


def test_user_files_stay_invisible_through_bound_environments(ws: Workspace, user: User) -> None:
    """A venv in the user's tree with an editable install; a program in the tree's and in the
    home's root; a ~/.local/bin link into a tool's folder. Each is bound for what it needs,
    never by a parent folder; an editable install shows the worktree's code, and a link the
    command planted in the worktree is never followed out of it on the host."""
    import venv

    env_dir = user.tree / ".venv"
    # Made from this interpreter, so pointing at the real one (as uv and `python -m venv` do).
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env_dir)
    site = next(env_dir.glob("lib/python*/site-packages"))
    (site / "_messy.pth").write_text(f"{user.tree / 'src'}\n")
    info = site / "messy-0.1.dist-info"
    info.mkdir()
    (info / "direct_url.json").write_text(
        json.dumps({"url": f"file://{user.tree}", "dir_info": {"editable": True}})
    )
    tool_home = user.home / ".local" / "share" / "tool"
    (tool_home / "bin").mkdir(parents=True)
    (tool_home / "bin" / "tool").write_text(
        '#!/bin/sh\necho tool ran\ncat "$HOME/.local/share/keyrings/login.keyring"\n'
    )
    (tool_home / "bin" / "tool").chmod(0o755)
    (user.home / ".local" / "bin").mkdir(parents=True)
    (user.home / ".local" / "bin" / "tool").symlink_to("../share/tool/bin/tool")
    (ws.path / "src" / "app.py").write_text("WHERE = 'worktree'\n")
    environ = {
        **os.environ,
        "PATH": f"{env_dir / 'bin'}:{user.home / '.local' / 'bin'}:/usr/bin:/bin",
    }
    sandbox = sandbox_for(ws, user, environ)
    host = Host(user, ws.path)

    # The command plants links in the worktree: at its top (mirrored by the editable
    # install's root entry) and inside src (its .pth entry).
    plant = "import os; os.symlink(os.environ['HOME'], 'leak'); os.symlink('/', 'src/leak')"
    assert sandbox.run(["python", "-c", plant]).ok
    probe = (
        "import os, sys, app, pathlib\n"
        "print('app', app.__file__, app.WHERE)\n"
        "home = os.environ['HOME']\n"
        "lines = open(sys.prefix + '/pyvenv.cfg').read().splitlines()\n"
        "cfg = dict(line.split(' = ', 1) for line in lines if ' = ' in line)\n"
        "candidates = [sys.prefix + '/../.env', os.path.dirname(sys.prefix) + '/.env',\n"
        f"    {str(user.tree)!r} + '/.env', {str(user.tree)!r} + '/leak/.ssh/id_ed25519',\n"
        f"    {str(user.tree)!r} + '/src/leak' + {str(user.tree)!r} + '/.env',\n"
        "    home + '/.ssh/id_ed25519']\n"
        "for parent in pathlib.Path(cfg['home']).parents:\n"
        "    candidates.append(str(parent / '.env'))\n"
        "    candidates.extend(str(p) for p in parent.glob('*') if p.name in ('.ssh', '.env'))\n"
        "for path in candidates:\n"
        "    try:\n"
        "        print('LEAK', path, open(path).read())\n"
        "    except OSError:\n"
        "        pass\n"
        "for path in (f'{home}/pwned', " + repr(f"{user.tree}/leak/pwned") + "):\n"
        "    try:\n"
        "        open(path, 'w').write('pwned')\n"
        "    except OSError:\n"
        "        pass\n"
    )
    result = sandbox.run(["python", "-c", probe])
    assert result.ok, result
    no_secrets(result.stdout, result.stderr)
    assert f"app {user.tree / 'src' / 'app.py'} worktree" in result.stdout

    # Programs by absolute path in the tree's root and in the home's root.
    for argv in (
        [str(user.tree / "show.sh"), str(user.tree / ".env"), "show.sh"],
        [str(user.home / "show.sh"), str(user.home / ".ssh" / "id_ed25519"), "show.sh"],
        [
            str(user.tree / ".venv" / "bin" / "python"),
            "-c",
            f"print(open({str(user.tree / '.env')!r}).read())",
        ],
    ):
        result = sandbox.run(argv)
        no_secrets(result.stdout, result.stderr)
        assert DOTENV.decode() not in result.stdout
    # A tool behind a ~/.local/bin link: runs, yet ~/.local/share is not shown with it.
    result = sandbox.run(["tool"])
    assert result.stdout == "tool ran\n"
    assert "No such file" in result.stderr
    host.assert_untouched()
    assert not (user.home / "pwned").exists()
