"""The event stream: every sink gets every event, in order; a broken renderer fails nothing."""

from __future__ import annotations

import pytest

from memfun_git.events import Event, Events, StepStarted


def test_events_reach_every_sink_and_a_failing_one_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("renderer bug")

    events = Events(seen.append, broken)
    later: list[Event] = []
    events.subscribe(later.append)
    events(StepStarted("solve"))
    events.emit(StepStarted("lint", "ruff"))
    assert seen == later == [StepStarted("solve"), StepStarted("lint", "ruff")]
    assert "an event renderer failed on StepStarted" in caplog.text
