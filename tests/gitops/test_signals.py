"""Stop signals are held while refs and worktrees change, and delivered right after."""

from __future__ import annotations

import signal
import textwrap

import pytest

from tests.helpers.messy import Child

_HOLDER = textwrap.dedent(
    """
    import signal, sys

    from memfun_git.gitops.signals import no_interrupts

    def stop(signum, frame):
        print(f"got {signal.Signals(signum).name}", flush=True)
        sys.exit(0)

    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        signal.signal(getattr(signal, name), stop)
    with no_interrupts():
        print("held", flush=True)
        sys.stdin.readline()  # the test sends the signal, then a line
        print("still held", flush=True)
    print("not reached: the pending signal is delivered as the block ends", flush=True)
    """
)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_during_a_held_block_is_delivered_after_it(signum: int) -> None:
    """SIGTERM (workers, CI) and SIGHUP (a closed terminal) could stop memfun half-way
    through a ref or worktree change; only SIGINT was held."""
    child = Child(code=_HOLDER, stdin=True)
    child.wait_for("held")
    child.proc.send_signal(signum)
    assert child.proc.stdin is not None
    child.proc.stdin.write("go on\n")
    child.proc.stdin.flush()
    code, out, err = child.finish(timeout=30)
    assert (code, err) == (0, "")
    assert out == f"still held\ngot {signal.Signals(signum).name}\n"
