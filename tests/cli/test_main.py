from __future__ import annotations

import errno
import io
import json
import os
import pty
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer

from memfun_git import __version__
from memfun_git.cli.handler import Terminated, handle_errors
from memfun_git.cli.main import app, run
from memfun_git.errors import TaskFailed
from tests.conftest import git
from tests.helpers.processes import memfun_process, read_until
from tests.helpers.require import need_tool
from tests.helpers.stub_llm import StubLLMServer, StubReply

TOKEN = "ghs_" + "k" * 36
HEAVY = ("dspy", "litellm", "githubkit", "pygit2", "tree_sitter", "redis", "nats", "rich")


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["ask", "--help"]])
def test_help_and_version_import_no_heavy_library(argv: list[str]) -> None:
    code = (
        "import sys, json\nfrom memfun_git.cli.main import run\n"
        f"rc = run({argv!r})\n"
        f"print(json.dumps([rc, [m for m in {HEAVY!r} if m in sys.modules]]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    rc, loaded = json.loads(proc.stdout.splitlines()[-1])
    assert rc == 0
    assert loaded == []


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"]) == 0
    assert capsys.readouterr().out == f"memfun {__version__}\n"


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["nope"], "memfun: No such command 'nope' — see `memfun --help`"),
        (["ask"], "memfun: Missing argument 'QUESTION...' — see `memfun ask --help`"),
        (["ask", "--bogus", "x"], "memfun: No such option: --bogus — see `memfun ask --help`"),
        (
            ["ask", "--jsn", "x"],
            "memfun: No such option: --jsn (did you mean --json?) — see `memfun ask --help`",
        ),
        (
            ["sandbox", "run", "--with-change", "--", "true"],
            "memfun: No such option: --with-change (did you mean --with-changes?)"
            " — options of memfun sandbox run go before --, the command and its own after it",
        ),
    ],
    ids=["no-command", "no-argument", "no-option", "did-you-mean", "sandbox-did-you-mean"],
)
def test_usage_errors_are_one_line_exit_2(
    argv: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(argv) == 2
    assert capsys.readouterr().err == line + "\n"


def test_outside_a_repository(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["-C", str(tmp_path), "ask", "hi"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"memfun: {tmp_path} is not inside a git repository — ")
    assert len(err.splitlines()) == 1


def test_expected_error_exits_by_cause() -> None:
    stream = io.StringIO()
    with handle_errors(lambda: Path("/nonexistent"), stream) as result:
        raise TaskFailed("the gate refused", "see the report")
    assert result == [1]
    assert stream.getvalue() == "memfun: the gate refused — see the report\n"


def test_unexpected_error_writes_a_log_and_exits_3(tmp_path: Path) -> None:
    stream = io.StringIO()
    with handle_errors(lambda: tmp_path / "logs", stream) as result:
        raise ZeroDivisionError(TOKEN)
    assert result == [3]
    line = stream.getvalue()
    assert len(line.splitlines()) == 1
    assert line.startswith("memfun: internal error: ZeroDivisionError: [REDACTED] — details in ")
    (log,) = (tmp_path / "logs").iterdir()
    assert str(log) in line
    text = log.read_text()
    assert "Traceback" in text
    assert f"memfun {__version__}" in text
    assert TOKEN not in text


def test_keyboard_interrupt_exits_130() -> None:
    stream = io.StringIO()
    with handle_errors(lambda: Path("/nonexistent"), stream) as result:
        raise KeyboardInterrupt
    assert result == [130]
    assert stream.getvalue().startswith("memfun: interrupted")


def _slow_model(repo: Path, stub: StubLLMServer) -> dict[str, str]:
    """The environment of a memfun whose model answers only after 30 s."""
    stub.add([StubReply("[[ ## answer ## ]]\nlate\n\n[[ ## completed ## ]]", delay=30)])
    env = {**os.environ, "MEMFUN_LLM_PROVIDER": "custom", "MEMFUN_LLM_MODEL": "m"}
    env["MEMFUN_LLM_BASE_URL"] = stub.url
    return env


def _wait_for_request(stub: StubLLMServer) -> None:
    deadline = time.monotonic() + 30
    while not stub.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stub.requests, "the request never reached the stub"


@pytest.mark.parametrize(
    ("signum", "code", "line"),
    [
        (signal.SIGINT, 130, "memfun: interrupted — nothing of yours was changed"),
        (signal.SIGTERM, 143, "memfun: stopped by signal 15 — nothing of yours was changed"),
        (signal.SIGHUP, 129, "memfun: stopped by signal 1 — nothing of yours was changed"),
    ],
    ids=["ctrl-c", "sigterm", "sighup"],
)
def test_a_stop_signal_during_a_model_call_is_one_line(
    git_repo: Path, signum: int, code: int, line: str
) -> None:
    with (
        StubLLMServer() as stub,
        memfun_process(["ask", "what?"], cwd=git_repo, env=_slow_model(git_repo, stub)) as proc,
    ):
        _wait_for_request(stub)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == code
    assert err.strip().splitlines() == [line]
    assert out == ""


def test_a_hangup_ignored_by_nohup_stays_ignored(git_repo: Path) -> None:
    """Under `nohup` memfun outlives the terminal, as nohup promises; SIGTERM still stops it."""
    with (
        StubLLMServer() as stub,
        memfun_process(
            ["ask", "what?"], cwd=git_repo, env=_slow_model(git_repo, stub), ignored=[signal.SIGHUP]
        ) as proc,
    ):
        _wait_for_request(stub)
        proc.send_signal(signal.SIGHUP)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=0.5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143
    assert "stopped by signal 15" in err


def test_closing_the_terminal_cleans_up_a_sandbox_run(git_repo: Path) -> None:
    """The real hang-up: the terminal memfun was started from goes away during `sandbox run`.
    memfun exits 129 and leaves no throwaway worktree or branch (SIGHUP used to kill it)."""
    need_tool("bwrap")
    (git_repo / "memfun.toml").write_text('[sandbox]\nbackend = "bubblewrap"\n')
    master, terminal = pty.openpty()
    with memfun_process(
        ["sandbox", "run", "--", "sh", "-c", "echo ready; sleep 30"],
        cwd=git_repo,
        stdin=terminal,
        terminal=True,
    ) as proc:
        os.close(terminal)
        assert proc.stdout is not None
        try:
            seen = read_until(proc.stdout.fileno(), b"ready")
            assert b"ready" in seen, seen
        finally:
            os.close(master)  # the terminal closes: the kernel sends SIGHUP to its session leader
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 129
    assert err.splitlines() == ["memfun: stopped by signal 1 — nothing of yours was changed"]
    assert git(git_repo, "for-each-ref", "refs/heads/memfun", "refs/memfun") == ""
    worktrees = git(git_repo, "worktree", "list", "--porcelain").splitlines()
    assert [w for w in worktrees if w.startswith("worktree ")] == [f"worktree {git_repo}"]


def test_every_log_record_is_redacted_whichever_logger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import logging

    from memfun_git.cli.handler import logging_handler
    from memfun_git.redact import register_secret

    register_secret("value-of-some-configured-key-42")
    library = logging.getLogger("dspy.clients.test")
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(self.format(record))

    own = Collect()
    library.addHandler(own)  # a library's own handler, as dspy installs one
    try:
        with logging_handler(tmp_path / "logs", verbose=False):
            library.warning("retrying with key %s", "value-of-some-configured-key-42")
            logging.getLogger("memfun_git.test").warning("token %s", TOKEN)
    finally:
        library.removeHandler(own)
    assert seen == ["retrying with key [REDACTED]"]
    log = (tmp_path / "logs" / "memfun.log").read_text()
    assert "token [REDACTED]" in log
    assert TOKEN not in log
    assert TOKEN not in capsys.readouterr().err


def test_commands_that_log_nothing_leave_no_log_file(git_repo: Path) -> None:
    assert run(["-C", str(git_repo), "config", "show"]) == 0
    assert not (git_repo / ".git" / "memfun" / "logs").exists()


@pytest.mark.parametrize("argv", [[], ["config"], ["sandbox"]])
def test_a_bare_command_group_prints_its_help(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: memfun")
    assert "Commands:" in out


@pytest.mark.parametrize(
    ("after", "option"),
    [(["-C", "REPO"], "-C"), (["-CREPO"], "-C"), (["--repo=REPO"], "--repo"), (["-v"], "-v")],
    ids=["-C DIR", "-CDIR", "--repo=DIR", "-v"],
)
def test_global_options_after_the_command_get_a_hint(
    git_repo: Path, capsys: pytest.CaptureFixture[str], after: list[str], option: str
) -> None:
    assert run(["ask", "hi", *(a.replace("REPO", str(git_repo)) for a in after)]) == 2
    assert capsys.readouterr().err == (
        f"memfun: No such option: {option} — options of memfun itself ({option}) go before"
        " the command\n"
    )


def _retrying_model(repo: Path, stub: StubLLMServer) -> None:
    """A model that fails once with a server error: memfun logs the retry (an INFO record)."""
    (repo / "memfun.toml").write_text(
        f'[llm]\nprovider = "custom"\nmodel = "m"\nbase_url = "{stub.url}"\nnum_retries = 1\n'
    )
    stub.add([StubReply(status=500), StubReply("[[ ## answer ## ]]\nok\n\n[[ ## completed ## ]]")])


def _logged(repo: Path) -> list[str]:
    """The messages of the records in the repository's log file."""
    log = repo / ".git" / "memfun" / "logs" / "memfun.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [line.split(": ", 1)[1] for line in lines if " memfun_git." in line]


@pytest.mark.parametrize(
    ("argv", "verbose"),
    [
        (["-C", "REPO", "ask", "--", "what", "-v", "-C", "/"], False),
        (["--repo=REPO", "-v", "ask", "what"], True),
        (["-CREPO", "--verbose", "ask", "what"], True),
    ],
    ids=["after-dashes", "--repo=DIR", "-CDIR"],
)
def test_memfuns_own_options_come_only_before_the_command(
    git_repo: Path, capsys: pytest.CaptureFixture[str], argv: list[str], verbose: bool
) -> None:
    """-v and -C are memfun's only before the subcommand (never a sandboxed command's own
    `-v` after --); -v shows memfun's records on stderr, the log file keeps them always."""
    with StubLLMServer() as stub:
        _retrying_model(git_repo, stub)
        assert run([a.replace("REPO", str(git_repo)) for a in argv]) == 0
    out, err = capsys.readouterr()
    assert out == "ok\n"
    logged = _logged(git_repo)
    assert logged, "the retry was not logged in the repository's log file"
    shown = [
        line.removeprefix("memfun: ") for line in err.splitlines() if line.startswith("memfun: ")
    ]
    assert shown == (logged if verbose else [])


def test_a_sandboxed_commands_own_options_are_its_own(
    git_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`-v` and `-C` after -- reach the command, and memfun's log stays where and as it was."""
    need_tool("bwrap")
    argv = ["-C", str(git_repo), "sandbox", "run", "--", "sh", "-c", 'echo "$0 $1 $2"']
    assert run([*argv, "-v", "-C", "/"]) == 0
    assert capsys.readouterr() == ("-v -C /\n", "")


@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "verbose"])
def test_info_records_reach_the_log_file_always_and_stderr_with_v(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], verbose: bool
) -> None:
    import logging

    from memfun_git.cli.handler import logging_handler

    with logging_handler(tmp_path / "logs", verbose=verbose):
        logging.getLogger("memfun_git.sandbox.run").info("ran %s: exit %d", "pytest", 0)
        logging.getLogger("memfun_git.gitops.gc").warning("kept %s", "memfun/t1")
    err = capsys.readouterr().err
    expected = ["memfun: ran pytest: exit 0", "memfun: kept memfun/t1"]
    assert err.splitlines() == (expected if verbose else expected[1:])
    log = (tmp_path / "logs" / "memfun.log").read_text()
    assert " INFO memfun_git.sandbox.run: ran pytest: exit 0\n" in log
    assert " WARNING memfun_git.gitops.gc: kept memfun/t1\n" in log


def test_an_error_line_to_a_closed_terminal_keeps_the_exit_status() -> None:
    """After SIGHUP stderr may be a terminal that is gone: writing fails, the status stays."""

    class Gone(io.StringIO):
        def write(self, s: str) -> int:
            raise OSError(errno.EIO, "Input/output error")

    with handle_errors(lambda: Path("/nonexistent"), Gone()) as result:
        raise Terminated(signal.SIGHUP)
    assert result == [129]


def _command_paths(command: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    subcommands: dict[str, object] = getattr(command, "commands", {})
    return [path] + [
        p for name, sub in subcommands.items() for p in _command_paths(sub, (*path, name))
    ]


@pytest.mark.parametrize(
    "path", _command_paths(typer.main.get_command(app)), ids=lambda p: " ".join(p) or "memfun"
)
def test_help_placeholders_read_plainly(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    """No typer type tags (`<str>`, `<list[str]>`) or braces (`{QUESTION}...`), and each
    command's one-line summary in a group's list is whole, not cut with "..."."""
    assert run([*path, "--help"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"<[\w\[\], |]+>|[{}]", out) is None, out
    usage = out.splitlines()[0]
    assert usage.startswith("Usage: " + " ".join(("memfun", *path)))
    commands = out.partition("Commands:\n")[2].splitlines()
    assert not [line for line in commands if line.rstrip().endswith("...")], out


def test_arguments_are_named_by_their_placeholder(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["ask", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "Usage: memfun ask [OPTIONS] QUESTION..."
    assert "  QUESTION...  What you want to know about the project.\n" in out
    assert run(["sandbox", "run", "--help"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "Usage: memfun sandbox run [OPTIONS] -- COMMAND..."
    )
    assert run(["init", "--help"]) == 0
    assert "--api-key-env NAME" in capsys.readouterr().out


def test_a_missing_option_value_points_at_the_subcommand(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["init", "--provider"]) == 2
    assert capsys.readouterr().err == (
        "memfun: Option '--provider' requires an argument — see `memfun init --help`\n"
    )


def test_input_that_ends_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    stream = io.StringIO()
    with handle_errors(lambda: Path("/nonexistent"), stream) as result:
        raise EOFError
    assert result == [2]
    assert stream.getvalue().startswith("memfun: the input ended before an answer — ")
