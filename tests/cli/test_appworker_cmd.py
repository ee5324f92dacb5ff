"""`memfun app worker` as a new operator meets it: what it cannot work without (the App's id,
its private key, a model) is one line naming the thing to set, exit 2, before any lease."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.fake_github import app_key

KEY = app_key()[0]


def _worker(home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MEMFUN_")}
    return subprocess.run(
        [sys.executable, "-m", "memfun_git", "app", "worker", "--idle-exit", "0"],
        cwd=home, env=base | {"HOME": str(home), **env}, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("env", "config", "said"),
    [
        ({}, "", "MEMFUN_APP_ID is not set"),
        ({"MEMFUN_APP_ID": "7", "MEMFUN_APP_PRIVATE_KEY": "not a key"}, "",
         "MEMFUN_APP_PRIVATE_KEY holds no private key that loads (PEM)"),
        ({"MEMFUN_APP_ID": "7"}, '[github]\nprivate_key_file = "missing.pem"\n',
         "cannot read [github] private_key_file missing.pem"),
        ({"MEMFUN_APP_ID": "7", "MEMFUN_APP_PRIVATE_KEY": KEY}, "", "no model"),
    ],
)  # fmt: skip
def test_what_the_worker_cannot_work_without_is_one_line(
    tmp_path: Path, env: dict[str, str], config: str, said: str
) -> None:
    if config:
        (tmp_path / "memfun.toml").write_text(config)
    done = _worker(tmp_path, **env)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert said in lines[0]
    assert "Traceback" not in done.stderr
    assert KEY.splitlines()[1] not in done.stderr
    assert not (tmp_path / ".memfun").exists()  # refused before opening the queue
