from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memfun_git import __version__
from memfun_git.cli.handler import handle_errors
from memfun_git.cli.main import run
from memfun_git.errors import TaskFailed
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
    ],
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


@pytest.mark.parametrize(
    ("signum", "code", "line"),
    [
        (signal.SIGINT, 130, "memfun: interrupted — nothing of yours was changed"),
        (signal.SIGTERM, 143, "memfun: stopped by signal 15 — nothing of yours was changed"),
    ],
    ids=["ctrl-c", "sigterm"],
)
def test_a_stop_signal_during_a_model_call_is_one_line(
    git_repo: Path, signum: int, code: int, line: str
) -> None:
    with StubLLMServer(
        [StubReply("[[ ## answer ## ]]\nlate\n\n[[ ## completed ## ]]", delay=30)]
    ) as stub:
        env = {**os.environ, "MEMFUN_LLM_PROVIDER": "custom", "MEMFUN_LLM_MODEL": "m"}
        env["MEMFUN_LLM_BASE_URL"] = stub.url
        proc = subprocess.Popen(
            [sys.executable, "-m", "memfun_git", "ask", "what?"],
            cwd=git_repo,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while not stub.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stub.requests, "the request never reached the stub"
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == code
    assert err.strip().splitlines() == [line]
    assert out == ""


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


def test_global_options_after_the_command_get_a_hint(
    git_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["ask", "hi", "-C", str(git_repo)]) == 2
    assert capsys.readouterr().err == (
        "memfun: No such option: -C — options of memfun itself (-C) go before the command\n"
    )


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
