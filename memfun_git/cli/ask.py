"""`memfun ask`: a direct answer about the project, printed with its calls, tokens and cost.

While the model works, a spinner on stderr shows the endpoint and the time waited, and each
retry is announced (on a terminal only; `cli/progress.py`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from memfun_git import config
from memfun_git.gitops.repo import require_repo
from memfun_git.redact import redact, register_environ

__all__ = ["run_ask"]


def run_ask(
    start: Path,
    question: str,
    overrides: Mapping[str, Any],
    *,
    json_out: bool = False,
    environ: Mapping[str, str] | None = None,
) -> int:
    from memfun_git.cli.progress import CallSpinner
    from memfun_git.errors import UsageError
    from memfun_git.llm.session import LMSession
    from memfun_git.solvers.direct import answer_question

    env = os.environ if environ is None else environ
    if not question.strip():
        raise UsageError(
            "the question is empty", 'ask something, e.g. memfun ask "how is it tested?"'
        )
    paths = require_repo(start)
    assert paths.workdir is not None
    cfg = config.load(paths.workdir, environ=env, overrides=overrides)
    register_environ(env, [cfg.llm.key_env] if cfg.llm.key_env else [])
    project = cfg.project.name or paths.workdir.name
    with CallSpinner(environ=env) as spinner:
        session = LMSession.from_config(cfg.llm, env, observer=spinner)
        result = answer_question(session, paths.workdir, question, project)
    usage = session.usage
    if json_out:
        payload = {
            "answer": result.answer,
            "model": cfg.llm.model,
            "provider": cfg.llm.provider,
            "usage": usage.as_dict(),
        }
        print(redact(json.dumps(payload, ensure_ascii=False, indent=2)))
    else:
        _print_answer(result.answer)
        print(f"\n{cfg.llm.model} · {usage.summary()}", file=sys.stderr)
    return 0


def _print_answer(text: str) -> None:
    if sys.stdout.isatty() and not os.environ.get("NO_COLOR"):
        from rich.console import Console
        from rich.markdown import Markdown

        Console().print(Markdown(text))
    else:
        print(text)
