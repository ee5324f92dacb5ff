"""open_wal: several processes opening one new file at once all get a working connection."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from memfun_git.sqlite_wal import open_wal

_OPENER = """
import sys
from pathlib import Path
from memfun_git.sqlite_wal import open_wal
def setup(db):
    db.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
for n in range(20):
    db = open_wal(Path(sys.argv[1]), setup)
    db.execute("INSERT INTO t VALUES (?)", (n,))
    db.close()
"""


def test_processes_opening_a_new_file_at_once_all_succeed(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    root = str(Path(__file__).resolve().parents[1])
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPENER, str(path)],
            env={"PYTHONPATH": root, "PATH": "/usr/bin:/bin"},
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    db = open_wal(path, lambda db: None)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert db.execute("SELECT count(*) FROM t").fetchone() == (80,)
    db.close()
