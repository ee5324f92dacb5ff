from __future__ import annotations

import io

from memfun_git.cli.progress import CallSpinner
from memfun_git.llm.observe import CallFinished, CallRetrying, CallStarted, LMEvent

URL = "http://llm.example:8000/v1"
EVENTS: list[LMEvent] = [
    CallStarted(1, "ask", URL, "stub-model", 1, 3),
    CallFinished(1, "ask", URL, 0.2, failure="LLMRateLimited"),
    CallRetrying(1, "ask", URL, "rate-limited", 2.0, 2, 3),
    CallStarted(1, "ask", URL, "stub-model", 2, 3),
    CallFinished(1, "ask", URL, 0.3, 11, 7, "stop"),
]


def test_nothing_is_drawn_without_a_terminal() -> None:
    out = io.StringIO()
    with CallSpinner(out, environ={"TERM": "xterm"}) as spinner:
        for event in EVENTS:
            spinner(event)
    assert not spinner.enabled
    assert out.getvalue() == ""


def test_nothing_is_drawn_on_a_dumb_terminal() -> None:
    out = io.StringIO()
    with CallSpinner(out, terminal=True, environ={"TERM": "dumb"}) as spinner:
        for event in EVENTS:
            spinner(event)
    assert out.getvalue() == ""


def test_a_terminal_sees_the_call_and_its_retries() -> None:
    out = io.StringIO()
    with CallSpinner(out, terminal=True, environ={"TERM": "xterm-256color"}) as spinner:
        spinner(EVENTS[0])
        drawn_while_waiting = out.getvalue()
        for event in EVENTS[1:]:
            spinner(event)
    text = out.getvalue()
    assert f"ask · stub-model at {URL} · 0 s" in drawn_while_waiting
    assert f"rate-limited by {URL} — retrying in 2 s (attempt 2 of 3)" in text
    # The spinner is gone at the end (transient): its line erased, the cursor shown again.
    assert text.rstrip("\r").endswith("\x1b[2K\x1b[?25h")
