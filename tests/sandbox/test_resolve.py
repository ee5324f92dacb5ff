"""What a program's path and the task's own files can make the sandbox show: nothing more.

Each attempt here read a secret before its fix (issue 16):
- a `..` in a program path was compared as given and bound by its real path:
  `/tmp/../bin/dash` bound the host's `/`, `~/bin/../bin/x` the whole home, and
  `~/.cargo/bin/../bin/x` all of `~/.cargo` with its credentials;
- the exec chain of a program in the worktree was followed on the host: a script whose `#!`
  names a secret behind an over-long path (the kernel refuses it and the exec falls back to
  `/bin/sh script`, with the "interpreter" mounted); a worktree link named like a shell next to
  an `env -S PATH=...` shebang; a link to another project's `bin/run` (its folder, `.env`
  included, was mounted).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from memfun_git.errors import ProgramNotExecutable, UsageError
from memfun_git.gitops.worktree import Workspace
from memfun_git.sandbox.bubblewrap import BubblewrapSandbox
from memfun_git.sandbox.resolve import Resolver
from tests.helpers.require import need_tool
from tests.helpers.sandboxes import SECRET_WORDS, SSH_KEY, Host, User, sandbox_for


@pytest.fixture(autouse=True)
def _bwrap() -> None:
    need_tool("bwrap")


def executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def no_leak(text: str, *secrets: str) -> None:
    for word in (*SECRET_WORDS, *secrets):
        assert word not in text


def binds(sandbox: BubblewrapSandbox, program: str) -> list[str]:
    """The folders and files bwrap is told to bind for `program` (sources)."""
    args = sandbox.arguments(sandbox.resolver.resolve(program), sandbox.worktree)
    return [args[i + 1] for i, arg in enumerate(args) if arg in ("--ro-bind", "--bind")]


# -- `..` in a program's path -----------------------------------------------------------------


def test_dot_dot_through_tmp_binds_nothing_of_the_host(ws: Workspace, user: User) -> None:
    sandbox = sandbox_for(ws, user)
    assert isinstance(sandbox, BubblewrapSandbox)
    program = "/tmp/../bin/dash"
    assert "/" not in binds(sandbox, program)
    host = Host(user, ws.path)
    result = sandbox.run([program, "-c", f"cat {user.home}/.ssh/id_ed25519; ls /; echo done"])
    no_leak(result.stdout + result.stderr)
    assert "done" in result.stdout
    assert user.home.name not in result.stdout.split()
    host.assert_untouched()


@pytest.mark.parametrize("via", ["bin/../bin/show", ".cargo/bin/../bin/show"])
def test_dot_dot_in_the_home_shows_neither_the_home_nor_a_tools_credentials(
    ws: Workspace, user: User, via: str
) -> None:
    token = "cio-memfun-" + uuid.uuid4().hex
    (user.home / ".cargo").mkdir()
    (user.home / ".cargo" / "credentials.toml").write_text(f'token = "{token}"\n')
    script = '#!/bin/sh\necho show ran\nfor f in "$@"; do cat "$f"; done\n'
    executable(user.home / "bin" / "show", script)
    executable(user.home / ".cargo" / "bin" / "show", script)
    sandbox = sandbox_for(ws, user)
    assert isinstance(sandbox, BubblewrapSandbox)
    program = str(user.home / via)
    shown = binds(sandbox, program)
    assert str(user.home) not in shown
    assert str(user.home / ".cargo") not in shown
    secrets = [user.home / ".ssh" / "id_ed25519", user.home / ".cargo" / "credentials.toml"]
    result = sandbox.run([program, *map(str, secrets)])
    assert result.stdout.startswith("show ran\n"), result
    no_leak(result.stdout + result.stderr, token)


def test_every_bind_is_a_real_path(ws: Workspace, user: User) -> None:
    executable(user.home / ".cargo" / "bin" / "tool", "#!/bin/sh\necho tool\n")
    (user.home / "link-to-cargo").symlink_to(user.home / ".cargo")
    resolver = Resolver(user.tree, ws.path, os.environ, common_dir=user.common_dir)
    for program in (f"{user.home}/link-to-cargo/bin/../bin/tool", "/tmp/../usr/bin/env"):
        resolved = resolver.resolve(program)
        for bind in resolved.ro_binds:
            assert os.path.realpath(bind) == bind
            assert not resolver.exposes(Path(bind))


# -- what the worktree's own files decide --------------------------------------------------------


def test_an_over_long_shebang_naming_a_secret_is_refused_not_run_by_sh(
    ws: Workspace, user: User
) -> None:
    """The kernel refuses a `#!` line longer than it reads; execvp then runs `/bin/sh script`:
    with the named "interpreter" mounted, the script printed it."""
    secret_file = user.home / ".ssh" / "id_ed25519"
    long_path = "/" * 300 + str(secret_file).lstrip("/")
    body = f"#!{long_path}\ncat {secret_file} {user.tree}/.env ~/.git-credentials\n"
    executable(ws.path / "run.sh", body)
    sandbox = sandbox_for(ws, user)
    with pytest.raises(ProgramNotExecutable, match="#! line longer"):
        sandbox.run(["./run.sh"])
    # Nothing is mounted for it either way: run by sh explicitly, it finds nothing.
    result = sandbox.run(["sh", "./run.sh"])
    no_leak(result.stdout + result.stderr)


def test_a_script_without_a_shebang_is_not_handed_to_sh(ws: Workspace, user: User) -> None:
    executable(ws.path / "plain", "echo ran by sh\n")
    with pytest.raises(ProgramNotExecutable, match="no #! line"):
        sandbox_for(ws, user).run(["./plain"])


def test_a_short_shebang_naming_a_secret_mounts_nothing(ws: Workspace, user: User) -> None:
    secret_file = user.home / ".ssh" / "id_ed25519"
    secret_file.chmod(0o755)  # even made executable, it is not shown
    executable(ws.path / "run.sh", f"#!{secret_file}\n")
    result = sandbox_for(ws, user).run(["./run.sh"])
    assert not result.ok
    no_leak(result.stdout + result.stderr)
    assert SSH_KEY.decode() not in result.stdout


def test_a_shell_named_link_beside_an_env_s_shebang_mounts_nothing(
    ws: Workspace, user: User
) -> None:
    secret = "aws-memfun-" + uuid.uuid4().hex
    aws = user.home / ".aws"
    aws.mkdir()
    (aws / "credentials").write_text(f"aws_secret_access_key = {secret}\n")
    executable(aws / "sh", f'#!/bin/sh\ncat "{aws}/credentials"\n')
    (ws.path / "sh").symlink_to(aws / "sh")
    executable(ws.path / "run", "#!/usr/bin/env -S PATH=.:/usr/bin:/bin sh\necho hi\n")
    result = sandbox_for(ws, user).run(["./run"])
    no_leak(result.stdout + result.stderr, secret)


def test_a_link_to_another_projects_program_is_refused(ws: Workspace, user: User) -> None:
    secret = "other-memfun-" + uuid.uuid4().hex
    other = user.home / "other-project"
    (other / ".git").mkdir(parents=True)
    (other / ".env").write_text(f"TOKEN={secret}\n")
    executable(other / "bin" / "run", '#!/bin/sh\necho run ran\ncat "$@"\n')
    executable(other / "bin" / "helper", "#!/bin/sh\necho helper\n")
    (ws.path / "run").symlink_to(other / "bin" / "run")
    sandbox = sandbox_for(ws, user)
    with pytest.raises(UsageError, match="link out of the worktree"):
        sandbox.run(["./run", str(other / ".env")])
    # By its own path: the file alone (another repository's folder holds its .env).
    assert isinstance(sandbox, BubblewrapSandbox)
    assert binds(sandbox, str(other / "bin" / "run")).count(str(other / "bin" / "run")) == 1
    assert str(other / "bin") not in binds(sandbox, str(other / "bin" / "run"))
    result = sandbox.run([str(other / "bin" / "run"), str(other / ".env")])
    assert result.stdout.startswith("run ran\n"), result
    no_leak(result.stdout + result.stderr, secret)


def test_a_relative_path_entry_never_finds_the_tasks_programs(
    ws: Workspace, user: User, tmp_path: Path
) -> None:
    marker = tmp_path / "host-marker"
    executable(ws.path / "ls", f"#!/bin/sh\ntouch {marker}\necho task ls\n")
    environ = {**os.environ, "PATH": ".:/usr/bin:/bin"}
    result = sandbox_for(ws, user, environ).run(["ls"])
    assert result.ok
    assert "task ls" not in result.stdout
    assert not marker.exists()
