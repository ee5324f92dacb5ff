"""app/: the GitHub App's manifest asks for what the App uses, and the sample memfun.toml is
a configuration memfun accepts as it is."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from memfun_git import config

APP = Path(__file__).resolve().parents[1] / "app"


def test_the_manifest_asks_for_the_permissions_and_events_the_app_uses() -> None:
    manifest = json.loads((APP / "manifest.json").read_text())
    assert manifest["default_permissions"] == {
        "contents": "write",  # push memfun/<task>
        "issues": "write",  # the progress comment
        "pull_requests": "write",  # the draft pull request, its reviewer
        "metadata": "read",
    }
    assert sorted(manifest["default_events"]) == ["issue_comment", "issues"]
    assert manifest["hook_attributes"]["url"].endswith("/webhook")


def test_the_sample_configuration_loads_and_names_only_variables(tmp_path: Path) -> None:
    shutil.copy(APP / "memfun.toml", tmp_path / "memfun.toml")
    cfg = config.load(tmp_path, environ={"HOME": str(tmp_path)})
    cfg.check()
    assert cfg.github.webhook_secret_env == "MEMFUN_WEBHOOK_SECRET"
    assert cfg.github.label == "memfun"
    assert cfg.backend.tier == "sqlite"
    assert cfg.llm.key_env == "ANTHROPIC_API_KEY"
    text = (APP / "memfun.toml").read_text()
    assert "BEGIN" not in text
    assert "ghs_" not in text
