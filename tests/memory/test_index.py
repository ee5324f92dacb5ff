"""The memory index: rebuilt from its sources when missing or corrupt, forgets for good, and
ranks: among 1,000 entries of one domain, the entry answering a request is in the top 5."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from memfun_git.gitops.repo import require_repo
from memfun_git.memory.entries import Entry
from memfun_git.memory.index import MemoryIndex, index_path
from memfun_git.memory.store import open_index
from tests.conftest import git

MEMORY = """# Memory

## Preferences
- [19f59f 2026-12-01] always use pool_size=10 for dev databases
## Project facts
- [bd7303 2026-12-01] the API server listens on port 8080
"""

# (request as a user would ask it, the entry that answers it): the request shares a key term
# with the entry, in another form, and is never a copy of it.
PAIRS = [
    ("how big should the connection pool be when developing?",
     "dev database connections: pool_size is always 10"),
    ("which port does the billing service bind to?",
     "the billing service binds port 9102 in every environment"),
    ("what retry policy do outbound webhooks follow?",
     "outbound webhook deliveries retry 5 times with exponential backoff"),
    ("where are the database migrations generated?",
     "migrations are generated with alembic into db/migrations, never by hand"),
    ("how should I log errors in workers?",
     "workers log errors with structlog, never print, and include the job id"),
    ("what is the timeout for calls to the payments provider?",
     "payments provider calls time out after 15 seconds"),
    ("which formatter do we use for the frontend?",
     "frontend code is formatted by prettier with a print width of 100"),
    ("how are feature flags toggled in staging?",
     "feature flags are toggled through the flagd service, staging reads flags.staging.json"),
    ("what cache backs the sessions?",
     "user sessions are cached in redis database 3 with a 12 hour ttl"),
    ("how do we name the release branches?",
     "release branches are named release/YYYY.MM and cut on Mondays"),
    ("which python version do the lambdas run on?",
     "all lambda functions run python 3.12 with arm64"),
    ("how do I authenticate against the internal admin API?",
     "the internal admin api authenticates with mTLS certificates from vault"),
    ("where do uploaded images get stored?",
     "image uploads are stored in the s3 bucket acme-media under uploads/"),
    ("what's the rate limit on the public search endpoint?",
     "public search endpoint is rate limited to 60 requests per minute per key"),
    ("how are emails rendered?",
     "transactional email templates render with mjml in templates/email"),
    ("which queue handles the thumbnail jobs?",
     "thumbnail generation jobs run on the media-low priority celery queue"),
    ("how should money amounts be represented?",
     "money amounts are integers in cents, never floats"),
    ("what do we use for dependency injection in the backend?",
     "backend services wire dependencies with the punq container in app/container.py"),
    ("how are the end to end tests run?",
     "end-to-end tests run with playwright against docker compose, make e2e"),
    ("which time zone do the scheduled reports use?",
     "scheduled reports always use UTC and are sent at 06:00"),
    ("how large can uploaded attachments be?",
     "attachment uploads are limited to 25 MB, enforced in nginx and the api"),
    ("how do we paginate the listing endpoints?",
     "listing endpoints paginate with opaque cursors, never offsets"),
]  # fmt: skip

_SUBJECTS = [
    "the api", "the billing service", "the workers", "the frontend", "the database", "sessions",
    "the search endpoint", "release branches", "lambdas", "webhooks", "email templates",
    "the payments provider", "feature flags", "image uploads", "the admin api", "reports",
    "the queue", "the cache", "migrations", "the logs", "attachments", "listing endpoints",
]  # fmt: skip
_CLAIMS = [
    "were reviewed by the platform team in {n}", "must stay backwards compatible since v{n}",
    "are documented in docs/{w}.md", "are owned by the {w} squad", "use the {w} client library",
    "run in the {w} cluster", "are monitored by the {w} dashboard",
    "had an incident in sprint {n}", "are deployed with the {w} pipeline",
    "depend on the {w} module", "were rewritten in q{n}", "read settings from {w}.toml",
]  # fmt: skip
_WORDS = ["atlas", "orion", "delta", "kappa", "nova", "vega", "lumen", "pico", "terra", "zephyr"]


def _distractors(count: int) -> list[str]:
    rng = random.Random(19)
    found: set[str] = set()
    while len(found) < count:
        claim = rng.choice(_CLAIMS).format(n=rng.randint(1, 99), w=rng.choice(_WORDS))
        found.add(f"{rng.choice(_SUBJECTS)} {claim}")
    return sorted(found)


def test_recall_is_ranked_the_answer_is_in_the_top_five(tmp_path: Path) -> None:
    with MemoryIndex.open(tmp_path / "memory.db") as index:
        answers = [Entry.new(text, day="2026-12-01") for _, text in PAIRS]
        noise = [Entry.new(text, day="2026-12-02") for text in _distractors(1000 - len(PAIRS))]
        index.add([*noise, *answers])  # the answers are not the newest: ranking, not recency
        assert index.count() == 1000
        misses = []
        for request, text in PAIRS:
            top = [e.text for e in index.search(request, 5)]
            if text not in top:
                misses.append((request, top))
    assert len(PAIRS) >= 20
    assert misses == []


def test_a_deleted_or_corrupt_index_is_rebuilt_from_memory_md(git_repo: Path) -> None:
    (git_repo / ".memfun").mkdir()
    (git_repo / ".memfun" / "MEMORY.md").write_text(MEMORY)
    git(git_repo, "add", ".memfun/MEMORY.md")
    git(git_repo, "commit", "-qm", "memory")
    paths = require_repo(git_repo)
    with open_index(paths, user_memory=False) as index:
        assert index.count() == 2
    path = index_path(paths.common_dir)
    path.write_bytes(b"not a database at all" * 200)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    with open_index(paths, user_memory=False) as index:
        assert [e.id for e in index.search("which port does the api use")] == ["bd7303"]
    path.unlink()
    with open_index(paths, user_memory=False) as index:
        assert index.count() == 2


def test_a_changed_memory_md_is_read_again_and_a_forgotten_entry_stays_forgotten(
    git_repo: Path,
) -> None:
    (git_repo / ".memfun").mkdir()
    (git_repo / ".memfun" / "MEMORY.md").write_text(MEMORY)
    paths = require_repo(git_repo)
    with open_index(paths, user_memory=False) as index:
        assert index.count() == 2  # the working tree's file is a source too
        index.forget("19f59f")
    (git_repo / ".memfun" / "MEMORY.md").write_text(MEMORY + "- a new line\n")
    with open_index(paths, user_memory=False) as index:
        assert sorted(e.text for e in index.all()) == [
            "a new line",
            "the API server listens on port 8080",
        ]


@pytest.mark.parametrize("query", ["", "   ", "the and for"])
def test_a_query_without_words_recalls_nothing(tmp_path: Path, query: str) -> None:
    with MemoryIndex.open(tmp_path / "m.db") as index:
        index.add([Entry.new("the API server listens on port 8080")])
        assert index.search(query) == []
