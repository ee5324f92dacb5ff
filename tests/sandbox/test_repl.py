"""The explore tier's REPL (sandbox/repl.py), run for real in bubblewrap and in the local member.

It keeps its variables between steps, reaches host tools over DSPy's protocol, sees none of
memfun's secrets and no network, may read the worktree but not write it, and ends whole.
"""

from __future__ import annotations

import uuid

import pytest
from dspy.primitives.code_interpreter import CodeExecutionError, FinalOutput

from memfun_git.gitops.worktree import Workspace
from memfun_git.redact import MARKER
from memfun_git.sandbox.repl import SandboxInterpreter
from tests.helpers.require import need_tool
from tests.helpers.sandboxes import SECRETS, User, processes_with, sandbox_for


@pytest.fixture
def bwrap_repl(ws: Workspace, user: User) -> SandboxInterpreter:
    need_tool("bwrap")
    return SandboxInterpreter(sandbox_for(ws, user), execution_timeout=60)


def test_state_persists_and_tools_reach_the_host(bwrap_repl: SandboxInterpreter) -> None:
    seen: list[str] = []

    def note(text: str) -> str:
        seen.append(text)
        return text.upper()

    repl = bwrap_repl
    repl.tools["note"] = note
    try:
        assert repl.execute("x = 20\nprint('ready')") == "ready"
        assert repl.execute("x += 1\nprint(note(text=str(x)))") == "21"
        assert seen == ["21"]
        repl.output_fields = [{"name": "answer", "type": "int"}]
        final = repl.execute("SUBMIT(answer=x * 2)")
        assert isinstance(final, FinalOutput)
        assert final.output == {"answer": 42}
    finally:
        repl.shutdown()


def test_no_secret_no_network_and_a_read_only_worktree(
    bwrap_repl: SandboxInterpreter, ws: Workspace
) -> None:
    repl = bwrap_repl
    marker = uuid.uuid4().hex
    try:
        environ = repl.execute("import os\nprint(sorted(os.environ.items()))")
        for value in SECRETS.values():
            assert value not in str(environ)
        init = repl.execute("print(open('/proc/1/environ','rb').read())")
        for value in SECRETS.values():
            assert value not in str(init)
        net = repl.execute(
            "import socket\n"
            "try:\n"
            "    socket.create_connection(('127.0.0.1', 6379), timeout=2)\n"
            "    print('CONNECTED')\n"
            "except OSError as exc:\n"
            "    print('refused', type(exc).__name__)\n"
        )
        assert "CONNECTED" not in str(net)
        listed = repl.execute("import os\nprint(sorted(os.listdir('.')))")
        assert "README.md" in str(listed) or ".git" in str(listed)
        wrote = repl.execute(
            f"try:\n    open('{marker}.txt', 'w').write('x')\n    print('WROTE')\n"
            "except OSError as exc:\n    print('read-only', exc.errno)\n"
        )
        assert "WROTE" not in str(wrote)
        assert not (ws.path / f"{marker}.txt").exists()
    finally:
        repl.shutdown()


def test_output_and_model_bound_arguments_are_redacted(bwrap_repl: SandboxInterpreter) -> None:
    secret = SECRETS["OPENAI_API_KEY"]
    prompts: list[str] = []

    def llm_query(prompt: str) -> str:
        prompts.append(prompt)
        return "fine"

    repl = bwrap_repl
    repl.tools["llm_query"] = llm_query
    try:
        shown = repl.execute(f"key = {secret!r}\nprint('key is', key)")
        assert secret not in str(shown)
        assert MARKER in str(shown)
        assert repl.execute("print(llm_query(prompt='look: ' + key))") == "fine"
        assert prompts
        assert secret not in prompts[0]
        with pytest.raises(CodeExecutionError) as failed:
            repl.execute("raise ValueError(key)")
        assert secret not in str(failed.value)
        assert secret not in str(repl.execute("[key, {'k': key}]"))  # the last value, as is
        repl.output_fields = [{"name": "answer", "type": "str"}]
        final = repl.execute("SUBMIT(answer=key)")
        assert isinstance(final, FinalOutput)
        assert secret not in str(final.output)
    finally:
        repl.shutdown()


def test_shutdown_ends_every_process(bwrap_repl: SandboxInterpreter) -> None:
    repl = bwrap_repl
    tag = f"memfun-repl-{uuid.uuid4().hex[:8]}"
    repl.execute(
        "import subprocess\n"
        f"subprocess.Popen(['sh', '-c', 'sleep 300; :', '{tag}'], start_new_session=True)\n"
        "print('ok')"
    )
    assert processes_with(tag)
    repl.shutdown()
    assert not processes_with(tag)


def test_the_local_member_runs_it_too(ws: Workspace, user: User) -> None:
    repl = SandboxInterpreter(sandbox_for(ws, user, backend="local"), execution_timeout=60)
    tag = f"memfun-local-repl-{uuid.uuid4().hex[:8]}"
    try:
        repl.execute("total = sum(range(5))")
        assert repl.execute("print(total)") == "10"
        environ = repl.execute("import os\nprint(dict(os.environ))")
        for value in SECRETS.values():
            assert value not in str(environ)
        repl.execute(
            "import subprocess\n"
            f"subprocess.Popen(['sh', '-c', 'sleep 300; :', '{tag}'], start_new_session=True)\n"
            "print('ok')"
        )
        assert processes_with(tag)
    finally:
        repl.shutdown()
    assert not processes_with(tag)  # the reaper ended the setsid child


def test_a_missing_python_is_one_clear_error(ws: Workspace, user: User) -> None:
    need_tool("bwrap")
    from dspy.primitives.code_interpreter import CodeInterpreterError

    repl = SandboxInterpreter(sandbox_for(ws, user), python="python-memfun-missing")
    with pytest.raises(CodeInterpreterError, match=r"cannot start.*python-memfun-missing"):
        repl.start()
