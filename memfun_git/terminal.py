"""Text from commands and models made safe to show: no terminal control sequences.

A sandboxed command's output (and anything a model wrote) reaches the user's terminal, the
log and the next prompt. Passed through raw, escape sequences act on the terminal: OSC 52
writes the clipboard, OSC 0/2 the window title, OSC 8 hides a link behind text, SGR 8 hides
text, and `\\r` or backspaces overwrite what was shown with something else. So every control
sequence is removed: CSI, OSC, DCS, SOS, PM and APC strings, other ESC sequences, C1 controls,
and C0 controls but tab and newline; a carriage return becomes a newline (`\\r\\n` one newline),
so no line can be overwritten. Colours go with them. Bytes that are not UTF-8 become U+FFFD
(a lone 0x9b is CSI to a terminal in 8-bit mode).

`ControlStripper` does it on a stream of byte chunks, holding back a sequence (or a UTF-8
character) cut at a chunk's end, up to `MAX_SEQUENCE` characters: a longer unterminated
sequence is dropped.
"""

from __future__ import annotations

import codecs
import re

__all__ = ["MAX_SEQUENCE", "ControlStripper", "strip_controls"]

MAX_SEQUENCE = 4096

_SEQUENCES = r"""
  \x1b\[[0-?]*[\x20-/]*[@-~]              # CSI: colours, cursor moves, erasing
| \x1b[\]PX^_][\s\S]*?(?:\x07|\x1b\\)     # OSC, DCS, SOS, PM, APC, ended by BEL or ST
| \x1b[\x20-/]*[0-~]                      # other ESC sequences
| \x9b[0-?]*[\x20-/]*[@-~]                # CSI as a C1 control
| [\x9d\x90\x98\x9e\x9f][\s\S]*?(?:\x07|\x9c|\x1b\\)  # C1 strings
| [\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]   # C0 controls but tab, newline and CR; C1 controls
"""
_CONTROLS = re.compile(_SEQUENCES, re.VERBOSE)
_STRINGS = "]PX^_"
"""What follows ESC to open a string (OSC, DCS, SOS, PM, APC) that ends only at BEL or ST."""
_STRING_END = re.compile(r"\x07|\x1b\\|\x9c")


def _clean(text: str) -> str:
    return _CONTROLS.sub("", text).replace("\r\n", "\n").replace("\r", "\n")


def strip_controls(text: str) -> str:
    """`text` without control sequences."""
    return _clean(text)


class ControlStripper:
    """Strips control sequences from a stream of byte chunks; gives UTF-8 bytes back."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._held = ""

    def feed(self, chunk: bytes) -> bytes:
        """What of `chunk` (after what was held) can be shown now."""
        text = self._held + self._decoder.decode(chunk)
        self._held = ""
        cut = _unfinished_from(text)
        if cut < len(text):
            if len(text) - cut <= MAX_SEQUENCE:
                self._held = text[cut:]
            text = text[:cut]
        return _clean(text).encode("utf-8")

    def close(self) -> bytes:
        """What is left at the end of the stream (an unfinished sequence is dropped)."""
        held = self._held + self._decoder.decode(b"", final=True)
        self._held = ""
        if held.startswith(("\x1b", "\x9b", "\x90", "\x98", "\x9d", "\x9e", "\x9f")):
            return b""
        return _clean(held).encode("utf-8")


def _unfinished_from(text: str) -> int:
    """Where a control sequence cut off by the end of `text` starts (len(text): none).

    Only cosmetic: whatever is let through is cleaned, and no control character survives
    cleaning, so a sequence split across chunks never reaches the terminal whole."""
    for start in (text.rfind("\x1b"), max(text.rfind(c) for c in "\x9b\x90\x98\x9d\x9e\x9f")):
        if start == -1:
            continue
        rest = text[start:]
        opener = rest[1:2] if rest[0] == "\x1b" else rest[0]
        if rest == "\x1b":
            return start
        if opener in _STRINGS or opener in "\x90\x98\x9d\x9e\x9f":
            if _STRING_END.search(rest, 1 if rest[0] != "\x1b" else 2) is None:
                return start
        elif _CONTROLS.match(rest) is None:
            return start
    return len(text) - 1 if text.endswith("\r") else len(text)
