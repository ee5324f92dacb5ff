"""More escape attempts on the bubblewrap sandbox, each found to work before its fix.

- a tool installed in a folder of its own in the home (`~/.cargo/bin/x`) showed the whole
  folder, and with it the credentials the tool keeps there (`~/.cargo/credentials.toml`);
- a program in a subfolder of the user's repository showed that subfolder, ignored `.env`
  included;
- the git common dir's `config` (a GitHub checkout's token in `http.<url>.extraheader`, a
  token in a remote's URL) was readable;
- root in the sandbox (memfun run as root: containers, CI) could write /proc/sys (every
  sysctl of the host, `kernel.core_pattern` among them: code run as root outside);
- the session keyring memfun was started with was readable;
- the sandbox's tmpfs mounts (/, /dev, /tmp, /run, $HOME) could each take half of the memory;
- a named pipe left in the worktree as `.gitignore` or `.gitattributes` (or a link to one)
  made memfun's next look at the worktree on the host (libgit2's status, `get_attr`) wait
  forever;
- `[sandbox] extra_env` let a key through under a name that does not look like one, and
  `extra_ro_paths` could show the home folder whole;
- the local backend's `allow` matched a program by its name alone: a `./true` the task wrote
  ran unconfirmed;
- a version manager's shim is resolved by running the manager on the host: a `cargo` linked to
  a `./rustup` the command wrote ran that script outside the sandbox.
"""

from __future__ import annotations

import base64
import ctypes
import os
import platform
import stat
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from memfun_git.backends.protocols import RunResult, SandboxAdapter
from memfun_git.config import SandboxConfig
from memfun_git.errors import ConfigError, SandboxUnavailable, UsageError
from memfun_git.gitops.repo import require_repo
from memfun_git.gitops.worktree import Workspace
from memfun_git.redact import register_secret
from memfun_git.sandbox.bubblewrap import BubblewrapSandbox
from memfun_git.sandbox.local import LocalSandbox
from tests.helpers.messy import run_git
from tests.helpers.require import missing, need_tool
from tests.helpers.sandboxes import SECRET_WORDS, SECRETS, Host, User, sandbox_for


@pytest.fixture(autouse=True)
def _bwrap() -> None:
    need_tool("bwrap")


def shell(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def no_leak(text: str, *secrets: str) -> None:
    for word in (*SECRET_WORDS, *secrets):
        assert word not in text


# -- what a program's folder shows -----------------------------------------------------------


def test_a_tools_folder_in_the_home_shows_its_programs_not_its_credentials(
    ws: Workspace, user: User
) -> None:
    """`cargo install ripgrep` puts `rg` in ~/.cargo/bin, beside ~/.cargo/credentials.toml
    (the crates.io token): a reader there read the token (the prefix ~/.cargo was bound)."""
    cargo = user.home / ".cargo"
    token = "cio-memfun-" + uuid.uuid4().hex
    (cargo / "credentials.toml").parent.mkdir(parents=True)
    (cargo / "credentials.toml").write_text(f'[registry]\ntoken = "{token}"\n')
    shell(cargo / "bin" / "show", 'echo show ran; "$(dirname "$0")/other"; cat "$@"')
    shell(cargo / "bin" / "other", "echo other ran")
    environ = {**os.environ, "PATH": f"{cargo / 'bin'}:/usr/bin:/bin"}
    result = sandbox_for(ws, user, environ).run(["show", str(cargo / "credentials.toml")])
    no_leak(result.stdout + result.stderr, token)
    # The rest of the tool's programs are there (they call each other).
    assert result.stdout.startswith("show ran\nother ran\n"), result


def test_a_program_in_the_users_repository_shows_only_itself(ws: Workspace, user: User) -> None:
    """A script in a subfolder of the user's tree, by its path or through a link the command
    planted: its folder was bound, the user's ignored `deploy/.env` with it."""
    secret = "deploy-memfun-" + uuid.uuid4().hex
    (user.tree / "deploy").mkdir()
    (user.tree / "deploy" / ".env").write_text(f"TOKEN={secret}\n")
    shell(user.tree / "deploy" / "show.sh", 'echo show ran; cat "$@"')
    sandbox = sandbox_for(ws, user)
    env_file = str(user.tree / "deploy" / ".env")
    result = sandbox.run([str(user.tree / "deploy" / "show.sh"), env_file])
    no_leak(result.stdout + result.stderr, secret)
    assert result.stdout.startswith("show ran\n"), result
    # A link the command planted decides nothing: refused, naming what to run instead.
    assert sandbox.run(["ln", "-s", str(user.tree / "deploy" / "show.sh"), "linked"]).ok
    with pytest.raises(UsageError, match="link out of the worktree") as refused:
        sandbox.run(["./linked", env_file])
    assert str(user.tree / "deploy" / "show.sh") in refused.value.hint


# -- what the git common dir shows -----------------------------------------------------------


def test_git_config_credentials_are_not_readable(ws: Workspace, user: User) -> None:
    """actions/checkout keeps the job's token in the clone's config; a clone by a URL with a
    token keeps it in remote.origin.url. git in the sandbox still reads the repository."""
    header = "AUTHORIZATION: basic " + "eC1hY2Nlc3MtdG9rZW46" + uuid.uuid4().hex
    url_token = "ghs_" + uuid.uuid4().hex
    run_git(user.tree, "config", "http.https://github.com/.extraheader", header)
    run_git(user.tree, "remote", "add", "origin", f"https://x:{url_token}@github.com/o/r.git")
    run_git(user.tree, "config", "branch.main.remote", "origin")
    common = str(user.common_dir)
    result = sandbox_for(ws, user).run(
        [
            "sh",
            "-c",
            f'cat "{common}/config"; git config --list; git config --list --show-origin; '
            "echo ---; git status --short; git config remote.origin.fetch; git config core.bare",
        ]
    )
    assert result.ok, result
    no_leak(result.stdout + result.stderr, header, url_token)
    assert "eC1hY2Nlc3MtdG9rZW46" not in result.stdout
    after = result.stdout.split("---\n", 1)[1]
    assert after == "false\n"  # no remote at all in the sandbox's view
    # On the host the config is untouched.
    assert run_git(user.tree, "config", "remote.origin.url").strip().endswith("@github.com/o/r.git")


def test_no_git_file_the_sandbox_can_read_holds_a_credential(ws: Workspace, user: User) -> None:
    """Only `<common>/config` was cleaned: CI checkouts write `http.*.extraheader` into
    `modules/<sub>/config` too, and `config.worktree` files were read as they are. Encoded
    (`base64`, `rev`), a token also passed the redactor on the way out."""
    token = "ghs_" + uuid.uuid4().hex
    header = f"AUTHORIZATION: basic {token}"
    common = user.common_dir
    (common / "modules" / "sub").mkdir(parents=True)
    (common / "modules" / "sub" / "config").write_text(
        f'[core]\n\tbare = false\n[http "https://github.com/"]\n\textraheader = {header}\n'
    )
    run_git(user.tree, "config", "extensions.worktreeConfig", "true")
    run_git(user.tree, "config", "--worktree", "http.extraheader", header)
    admin = Path(run_git(ws.path, "rev-parse", "--git-dir").strip())
    (admin / "config.worktree").write_text(f"[http]\n\textraheader = {header}\n")
    dump = (
        f'find "{common}" /etc -type f 2>/dev/null | while read -r f; do cat "$f"; done '
        "> /tmp/all 2>/dev/null; base64 -w0 /tmp/all; echo; rev /tmp/all; "
        "git config --list --show-origin; git status --short; echo status=$?"
    )
    result = sandbox_for(ws, user).run(["sh", "-c", dump])
    assert "status=0" in result.stdout, result
    decoded = [base64.b64decode(line + "=" * (-len(line) % 4), validate=False)
               for line in result.stdout.splitlines()[:1]]  # fmt: skip
    texts = [
        result.stdout,
        result.stderr,
        result.stdout[::-1],
        *(d.decode("latin-1") for d in decoded),
    ]
    for text in texts:
        assert token not in text
        assert "".join(reversed(token)) not in text


# -- the kernel ------------------------------------------------------------------------------


def test_proc_sys_is_read_only(ws: Workspace, user: User) -> None:
    """Opening for writing is enough to tell (nothing is written): as root, bwrap's fresh
    /proc let the sandbox set any sysctl of the host."""
    probe = (
        "import os\n"
        "for path in ('/proc/sys/kernel/core_pattern', '/proc/sys/vm/swappiness'):\n"
        "    try:\n"
        "        os.close(os.open(path, os.O_WRONLY))\n"
        "        print('WRITABLE', path)\n"
        "    except OSError as exc:\n"
        "        print('refused', path, exc.strerror)\n"
        "print(open('/proc/sys/kernel/ostype').read().strip())\n"
    )
    result = sandbox_for(ws, user).run([sys.executable, "-c", probe])
    assert result.ok, result
    assert "WRITABLE" not in result.stdout
    assert result.stdout.endswith("Linux\n")  # still readable


_KEYCTL = {"x86_64": (248, 250), "aarch64": (217, 219)}


def test_the_session_keyring_is_out_of_reach(ws: Workspace, user: User) -> None:
    """A key in memfun's session keyring: the sandbox inherits that keyring, and possessing
    it was enough to read the key. The key is made in an anonymous session keyring of one
    thread, which the sandbox (started from that thread) inherits."""
    numbers = _KEYCTL.get(platform.machine())
    if numbers is None:
        missing(f"no keyctl numbers for {platform.machine()}")
    add_key, keyctl = numbers
    libc = ctypes.CDLL(None, use_errno=True)
    secret = "keyring-memfun-" + uuid.uuid4().hex
    sandbox = sandbox_for(ws, user)
    probe = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        f"key = libc.syscall({keyctl}, 10, -3, b'user', b'memfun-test', 0)\n"
        "if key < 0:\n"
        "    print('refused', os.strerror(ctypes.get_errno()))\n"
        "else:\n"
        "    buf = ctypes.create_string_buffer(200)\n"
        f"    n = libc.syscall({keyctl}, 11, key, buf, 200)\n"
        "    print('READ', buf.raw[:max(n, 0)])\n"
    )
    outcome: dict[str, object] = {}

    def in_own_keyring() -> None:
        if libc.syscall(keyctl, 1, None) < 0:  # KEYCTL_JOIN_SESSION_KEYRING, anonymous
            outcome["skip"] = os.strerror(ctypes.get_errno())
            return
        data = secret.encode()
        if libc.syscall(add_key, b"user", b"memfun-test", data, len(data), -3) < 0:
            outcome["skip"] = os.strerror(ctypes.get_errno())
            return
        outcome["result"] = sandbox.run([sys.executable, "-c", probe])

    thread = threading.Thread(target=in_own_keyring)
    thread.start()
    thread.join()
    if "skip" in outcome:
        missing(f"no kernel keyrings here: {outcome['skip']}")
    result = outcome["result"]
    assert isinstance(result, RunResult)
    assert result.ok, result
    assert secret not in result.stdout
    assert result.stdout.startswith("refused"), result.stdout


# -- memory ----------------------------------------------------------------------------------


def _knows_size(bwrap: str) -> bool:
    return "--size" in subprocess.run([bwrap, "--help"], capture_output=True, text=True).stdout


def test_the_sandboxs_memory_file_systems_are_bounded(ws: Workspace, user: User) -> None:
    """Each tmpfs could take half of the memory, five of them: the host ran out first."""
    sandbox = BubblewrapSandbox(
        SandboxConfig(timeout_seconds=30),
        ws.path,
        user_tree=user.tree,
        common_dir=user.common_dir,
        max_tmpfs_bytes=32 << 20,
    )
    if not _knows_size(sandbox.bwrap):
        missing("this bwrap has no --size (0.7 and later)")
    script = (
        'for where in /tmp /dev/shm /run "$HOME"; do '
        '  head -c 20000000 /dev/zero > "$where/fill" 2>/dev/null && echo "FILLED $where"; '
        '  rm -f "$where/fill"; echo small > "$where/small" && echo "wrote $where"; '
        "done; "
        "for where in / /dev /usr; do "
        '  echo x > "$where/memfun-fill" 2>/dev/null && echo "WROTE $where"; '
        "done; exit 0"
    )
    result = sandbox.run(["sh", "-c", script])
    assert "FILLED" not in result.stdout
    assert "WROTE" not in result.stdout
    assert result.stdout.count("wrote ") == 4, result


# -- named pipes -----------------------------------------------------------------------------


def _specials(root: Path) -> list[str]:
    found: list[str] = []
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                try:
                    mode = os.stat(path).st_mode
                except OSError:
                    continue
            if not stat.S_ISREG(mode):
                found.append(os.path.relpath(path, root))
    return found


@pytest.mark.parametrize("backend", ["bubblewrap", "local"])
def test_named_pipes_left_in_the_worktree_are_removed(
    ws: Workspace, user: User, tmp_path: Path, backend: str
) -> None:
    """Before the fix, `ws.dirty_paths()` (libgit2 reading `.gitignore`) never returned:
    a test that calls it first would hang, so the worktree is inspected before."""
    host_fifo = tmp_path / "host-fifo"
    os.mkfifo(host_fifo)
    script = (
        "rm -f .gitignore src/.gitattributes .gitmodules && mkfifo .gitignore src/.gitattributes "
        f"pipe && ln -s {host_fifo} .gitmodules && "
        "ln -s README.md kept-link"
    )
    bind = "import socket; socket.socket(socket.AF_UNIX).bind('sock')"
    if backend == "local":
        sandbox: SandboxAdapter = LocalSandbox(
            SandboxConfig(timeout_seconds=30), ws.path, user_tree=user.tree, confirm=lambda _: True
        )
    else:
        sandbox = sandbox_for(ws, user)
    for argv in (["sh", "-c", script], [sys.executable, "-c", bind]):
        result = sandbox.run(argv)
        assert result.ok, result
    assert _specials(ws.path) == []
    assert (ws.path / "kept-link").is_symlink()
    assert not (ws.path / ".gitmodules").is_symlink()
    assert ws.dirty_paths() == [".gitignore", "kept-link"]  # .gitignore: deleted
    assert stat.S_ISFIFO(os.stat(host_fifo).st_mode)  # never touched outside


# -- configuration ---------------------------------------------------------------------------


def test_extra_env_never_passes_a_credential(
    ws: Workspace, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    configured = "memfun-configured-" + uuid.uuid4().hex
    register_secret(configured)
    cases = {
        "LLM_CREDENTIAL": configured,  # the key [llm] api_key_env names, under any name
        "OPENAI_KEY": "sk-proj-" + uuid.uuid4().hex,  # a provider key's shape
        "PIP_INDEX_URL": "https://user:hunter2secret@pypi.example/simple",
    }
    for name, value in cases.items():
        monkeypatch.setenv(name, value)
        with pytest.raises(ConfigError, match=name):
            sandbox_for(ws, user, extra_env=(name,)).run(["true"])
    monkeypatch.setenv("MEMFUN_TEST_PLAIN", "just-a-setting")
    result = sandbox_for(ws, user, extra_env=("MEMFUN_TEST_PLAIN",)).run(
        ["sh", "-c", 'echo "$MEMFUN_TEST_PLAIN"']
    )
    assert result.stdout == "just-a-setting\n"


@pytest.mark.parametrize("extra", ["~", "/", "{tree}", "{home}/.."])
def test_extra_ro_paths_never_show_the_home_or_repository_whole(
    ws: Workspace, user: User, extra: str
) -> None:
    path = extra.format(tree=user.tree, home=user.home)
    host = Host(user, ws.path)
    with pytest.raises(ConfigError, match="extra_ro_paths"):
        sandbox_for(ws, user, extra_ro_paths=(path,)).run(["cat", str(user.home / ".env")])
    (user.home / "toolchain").mkdir()
    ok = sandbox_for(ws, user, extra_ro_paths=(str(user.home / "toolchain"),))
    assert ok.run(["ls", str(user.home / "toolchain")]).ok  # a folder below the home: shared
    host.assert_untouched()


def test_tls_private_keys_stay_hidden_from_root(ws: Workspace, user: User) -> None:
    """/etc/ssl is bound for the certificates; its private/ folder (root's) is not shown."""
    if not os.path.isdir("/etc/ssl/private"):
        missing("no /etc/ssl/private here")
    result = sandbox_for(ws, user).run(
        [
            "sh",
            "-c",
            "ls -A /etc/ssl/private; stat -f -c %T /etc/ssl/private; echo x > /etc/ssl/private/x",
        ]
    )
    assert result.stdout == "tmpfs\n", result  # empty, and not the host's folder
    assert "Read-only file system" in result.stderr


# -- the local backend's allowlist -----------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "path"),
    [
        (["./true"], "/usr/bin:/bin"),  # by its path in the worktree
        (["sub/true"], "/usr/bin:/bin"),
        (["true"], ".:/usr/bin:/bin"),  # found through a PATH entry into the worktree
        (["true"], "sub:/usr/bin:/bin"),
    ],
)
def test_local_allow_never_trusts_a_program_the_task_wrote(
    ws: Workspace, user: User, tmp_path: Path, argv: list[str], path: str
) -> None:
    """`allow = ["true"]` trusts the user's `true`: a `true` written into the worktree (by an
    operation) ran unconfirmed and unisolated, matched by its name alone."""
    marker = tmp_path / "ran"
    for where in (ws.path / "true", ws.path / "sub" / "true"):
        shell(where, f"touch {marker}")
    sandbox = LocalSandbox(
        SandboxConfig(timeout_seconds=30, allow=("true",)),
        ws.path,
        user_tree=user.tree,
        environ={**os.environ, "PATH": path},
    )
    with pytest.raises(SandboxUnavailable, match="only after confirmation"):
        sandbox.run(argv)
    assert not marker.exists()
    assert sandbox.run(["true"], env={"PATH": "/usr/bin:/bin"}).ok  # the user's own
    assert sandbox.run(["/usr/bin/true"]).ok  # by its path outside the worktree
    assert not marker.exists()


# -- version managers' shims ----------------------------------------------------------------


@pytest.mark.parametrize("shim", ["cargo", "tools/shims/python"])
def test_a_shim_the_task_wrote_never_runs_its_manager_on_the_host(
    ws: Workspace, user: User, tmp_path: Path, shim: str
) -> None:
    """Shims are resolved by running their manager (`rustup which`, `pyenv which`) outside
    the sandbox: a `cargo` linked to a `./rustup` the command wrote (or `shims/python` next to
    a `libexec/pyenv`) ran that script on the host, with memfun's whole environment."""
    marker = tmp_path / "ran-on-the-host"
    body = f'echo "$0 $*" > {marker} 2>/dev/null || echo ran in the sandbox'
    plant = (
        f"printf '#!/bin/sh\\n{body}\\n' > rustup && chmod +x rustup && ln -s rustup cargo && "
        "mkdir -p tools/shims tools/libexec && cp rustup tools/libexec/pyenv && "
        "printf '#!/bin/sh\\n# pyenv shim\\nexit 0\\n' > tools/shims/python && "
        "chmod +x tools/shims/python"
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PYENV")}
    sandbox = sandbox_for(ws, user, environ)
    assert sandbox.run(["sh", "-c", plant]).ok
    sandbox = sandbox_for(ws, user, environ)  # a fresh resolver: nothing cached
    try:
        result = sandbox.run([f"./{shim}"])
    except SandboxUnavailable:
        result = None
    assert not marker.exists(), marker.read_text()
    assert result is not None
    assert result.ok, result


def test_a_worktree_without_its_git_file_is_refused(ws: Workspace, user: User) -> None:
    """Without its `.git` file nothing held the name: a command could make a `.git` folder
    whose config (`gpg.program`) memfun's git on the host then followed when it committed."""
    saved = (ws.path / ".git").read_bytes()
    (ws.path / ".git").unlink()
    try:
        with pytest.raises(SandboxUnavailable, match="not the file git made"):
            sandbox_for(ws, user).run(["sh", "-c", "mkdir .git && echo made > .git/config"])
        assert not (ws.path / ".git").exists()
    finally:
        (ws.path / ".git").write_bytes(saved)


# -- what the object store shows ---------------------------------------------------------------


def test_objects_outside_the_tasks_history_are_not_readable(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`git stash push --all` snapshots the ignored `.env`; `git cat-file --batch-all-objects`
    in the sandbox printed it. Other branches, dangling objects and attempts likewise."""
    stashed = "stash-memfun-" + uuid.uuid4().hex
    popped = "popped-memfun-" + uuid.uuid4().hex
    branch = "branch-memfun-" + uuid.uuid4().hex
    dangling = "dangling-memfun-" + uuid.uuid4().hex
    tree = user.tree
    env_before = (tree / ".env").read_bytes()
    (tree / ".env").write_text(f"TOKEN={popped}\n")
    run_git(tree, "stash", "push", "--all", "-q")
    run_git(tree, "stash", "pop", "-q")  # the stash commit is now dangling
    (tree / ".env").write_text(f"TOKEN={stashed}\n")
    run_git(tree, "stash", "push", "--all", "-q")  # kept under refs/stash
    (tree / ".env").write_bytes(env_before)
    run_git(tree, "branch", "other", "HEAD")
    blob = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"], cwd=tree, input=f"KEY={dangling}\n",
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert blob
    with Workspace(require_repo(tree), "other-" + uuid.uuid4().hex[:6]) as other:
        (other.path / "secret.txt").write_text(f"{branch}\n")
        other.commit(["secret.txt"], "a branch the task must not see", gate="test")
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    with Workspace(require_repo(tree), "task-" + uuid.uuid4().hex[:6]) as ws:
        (ws.path / "mine.txt").write_text("the task's own change\n")
        ws.commit(["mine.txt"], "the task's commit", gate="test")
        script = (
            "git cat-file --batch-all-objects --batch; git log --all -p; git stash list; "
            "git branch -a; git for-each-ref; git fsck --lost-found 2>&1; "
            f"git cat-file -p {blob}; echo ---; git log --format=%s; git show --stat HEAD; "
            "git status --short; echo status=$?"
        )
        result = sandbox_for(ws, user).run(["sh", "-c", script])
    text = result.stdout + result.stderr
    for secret in (stashed, popped, branch, dangling):
        assert secret not in text
    history = result.stdout.split("---\n", 1)[1]
    assert history.startswith("the task's commit\n"), history
    assert "mine.txt" in history
    assert history.rstrip().endswith("status=0"), history
