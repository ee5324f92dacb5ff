from __future__ import annotations

import logging
from pathlib import Path

import pytest

from memfun_git.redact import (
    MARKER,
    RedactingFilter,
    Redactor,
    redact,
    register_environ,
    register_secret,
    secret_names,
)

PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
    "AAAAAAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIH\n-----END OPENSSH PRIVATE KEY-----"
)

TOKEN = "ghs_" + "q" * 36

SHAPES = [
    pytest.param("key sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz012345", "sk-ant-", id="anthropic"),
    pytest.param("OPENAI=sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123", "sk-proj-", id="openai-proj"),
    pytest.param("sk-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789ab", "sk-Ab", id="openai"),
    pytest.param("token ghp_" + "a1B2" * 9, "ghp_", id="ghp"),
    pytest.param("gho_" + "Z9y8" * 9 + " end", "gho_", id="gho"),
    pytest.param("installation ghs_" + "x" * 36, "ghs_", id="ghs"),
    pytest.param(
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "github_pat_", id="pat"
    ),
    pytest.param("aws AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE", id="aws-access-key"),
    pytest.param(
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMI",
        id="aws-secret",
    ),
    pytest.param(f"before\n{PEM}\nafter", "b3BlbnNzaC1rZXk", id="pem"),
    pytest.param(
        "clone https://user:hunter2pass@example.com/r.git", "hunter2pass", id="url-password"
    ),
    pytest.param(
        "push https://x-access-token:abc123def456@github.com/o/r.git",
        "abc123def456",
        id="url-token",
    ),
    pytest.param("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload", "eyJhbGci", id="bearer"),
]


@pytest.mark.parametrize(("text", "secret"), SHAPES)
def test_credential_shapes_are_redacted(text: str, secret: str) -> None:
    out = Redactor()(text)
    assert secret not in out
    assert MARKER in out


def test_shapes_keep_the_surrounding_text() -> None:
    r = Redactor()
    assert r("clone https://user:hunter2pass@example.com/r.git") == (
        f"clone https://user:{MARKER}@example.com/r.git"
    )
    assert r(f"a\n{PEM}\nb") == f"a\n{MARKER}\nb"
    assert r("Authorization: Bearer abcdefgh12345") == f"Authorization: Bearer {MARKER}"


def test_ordinary_text_is_left_alone() -> None:
    text = "def ask(sk, gh): return 'https://example.com/path' + 'task-1234' # sk-short"
    assert Redactor()(text) == text


def test_known_values_are_redacted_longest_first() -> None:
    r = Redactor(["plainsecretvalue", "plainsecretvalue-longer", "short"])
    assert r("a plainsecretvalue-longer b plainsecretvalue c short") == (
        f"a {MARKER} b {MARKER} c short"
    )


def test_a_known_value_inside_a_token_does_not_leave_the_token_s_rest() -> None:
    token = "ghs_" + "k" * 36
    r = Redactor(["k" * 20, "prefix-" + "x" * 12])
    assert r(f"token {token} end") == f"token {MARKER} end"
    key = "sk-ant-" + "a" * 24
    assert Redactor([f"prefix-{key}"])(f"a prefix-{key} b") == f"a {MARKER} b"
    assert r(f"Authorization: Bearer {token}") == f"Authorization: Bearer {MARKER}"
    # a token written right against a registered value still matches its shape
    value = Redactor(["mysecretvalue1"])
    assert value("mysecretvalue1" + "ghp_" + "a" * 36) == MARKER * 2
    assert value("AKIAIOSFODNN7EXAMPLE" + "mysecretvalue1") == MARKER * 2


def test_a_value_with_a_lifetime_is_forgotten_after_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import memfun_git.redact as module

    now = [1000.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: now[0])
    r = Redactor(["permanent-secret-1"])
    r.add("short-lived-token-1", "permanent-secret-1", lifetime=60)
    assert r("short-lived-token-1 permanent-secret-1") == f"{MARKER} {MARKER}"
    now[0] += 61
    r.add("short-lived-token-2", lifetime=60)  # a later add forgets what has expired
    assert r("short-lived-token-1 permanent-secret-1 short-lived-token-2") == (
        f"short-lived-token-1 {MARKER} {MARKER}"
    )
    r.add("short-lived-token-2")  # registered for good: it never expires
    now[0] += 120
    r.add("short-lived-token-3", lifetime=1)
    assert r("short-lived-token-2") == MARKER


def test_environment_secrets_are_found_by_name() -> None:
    env = {
        "MY_SERVICE_TOKEN": "tok-0123456789",
        "DB_PASSWORD": "correct-horse",
        "CUSTOM_LLM_KEY": "custom-key-value",
        "PATH": "/usr/bin:/bin",
        "TOKENIZERS_PARALLELISM": "false",
    }
    assert sorted(secret_names(env)) == ["DB_PASSWORD", "MY_SERVICE_TOKEN"]
    register_environ(env, names=["CUSTOM_LLM_KEY"])
    out = redact("tok-0123456789 correct-horse custom-key-value /usr/bin:/bin")
    assert out == f"{MARKER} {MARKER} {MARKER} /usr/bin:/bin"


def test_logging_filter_redacts_messages_arguments_and_tracebacks(tmp_path: Path) -> None:
    register_secret("value-of-the-api-key-123")
    log_file = tmp_path / "out.log"
    handler = logging.FileHandler(log_file)
    handler.addFilter(RedactingFilter())
    log = logging.getLogger("memfun_git.test_redact")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        log.info("calling with %s", "value-of-the-api-key-123")
        try:
            raise RuntimeError("provider said: bad key " + TOKEN)
        except RuntimeError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
        handler.close()
    text = log_file.read_text()
    assert "value-of-the-api-key-123" not in text
    assert TOKEN not in text
    assert text.count(MARKER) == 2
    assert "RuntimeError" in text


def test_keys_in_url_query_strings_are_redacted() -> None:
    out = Redactor()("base https://llm.example/v1?api_key=abc123secretvalue456&model=x")
    assert out == f"base https://llm.example/v1?api_key={MARKER}&model=x"
