"""`apply_edit` on real code: every honest slip lands exactly, every ambiguity is refused.

The files are real: CPython's `string.Template.substitute`/`safe_substitute` (Lib/string.py,
3.11, verbatim), Go's `strings.ToLower`/`ToUpper` (tab-indented twins), and the `string`
module's own source read at test time. Expected results are the file with one literal
replacement, checked to occur exactly once, so every assertion compares whole files. Each
landing also checks how it matched (the stage and the lines); each refusal checks its
`Refusal` record (reason, places, closest candidate, stage), not only its words.
"""

from __future__ import annotations

import inspect
import string
import textwrap
from difflib import SequenceMatcher

import pytest

from memfun_git.edits.match import apply_edit
from memfun_git.edits.results import (
    Candidate,
    EditMatch,
    EditResult,
    MatchKind,
    Reason,
    Refusal,
)
from memfun_git.edits.transfer import norm
from memfun_git.errors import EditError, ExitCode, MemfunError

EXACT, WHITESPACE, ELIDED, WINDOW = MatchKind

TEMPLATE = """\
class Template:
    def substitute(self, mapping=_sentinel_dict, /, **kws):
        if mapping is _sentinel_dict:
            mapping = kws
        elif kws:
            mapping = _ChainMap(kws, mapping)
        # Helper function for .sub()
        def convert(mo):
            # Check the most common path first.
            named = mo.group('named') or mo.group('braced')
            if named is not None:
                return str(mapping[named])
            if mo.group('escaped') is not None:
                return self.delimiter
            if mo.group('invalid') is not None:
                self._invalid(mo)
            raise ValueError('Unrecognized named group in pattern',
                             self.pattern)
        return self.pattern.sub(convert, self.template)

    def safe_substitute(self, mapping=_sentinel_dict, /, **kws):
        if mapping is _sentinel_dict:
            mapping = kws
        elif kws:
            mapping = _ChainMap(kws, mapping)
        # Helper function for .sub()
        def convert(mo):
            named = mo.group('named') or mo.group('braced')
            if named is not None:
                try:
                    return str(mapping[named])
                except KeyError:
                    return mo.group()
            if mo.group('escaped') is not None:
                return self.delimiter
            if mo.group('invalid') is not None:
                return mo.group()
            raise ValueError('Unrecognized named group in pattern',
                             self.pattern)
        return self.pattern.sub(convert, self.template)
"""

GO = """\
func ToLower(s string) string {
\tisASCII, hasUpper := true, false
\tfor i := 0; i < len(s); i++ {
\t\tc := s[i]
\t\tif c >= utf8.RuneSelf {
\t\t\tisASCII = false
\t\t\tbreak
\t\t}
\t\thasUpper = hasUpper || ('A' <= c && c <= 'Z')
\t}
\tif isASCII {
\t\tif !hasUpper {
\t\t\treturn s
\t\t}
\t\tvar b = NewBuilder(len(s))
\t\tfor i := 0; i < len(s); i++ {
\t\t\tb.WriteByte(lowerTable[s[i]])
\t\t}
\t\treturn b.String()
\t}
\treturn strings.Map(unicode.ToLower, s)
}

func ToUpper(s string) string {
\tisASCII, hasLower := true, false
\tfor i := 0; i < len(s); i++ {
\t\tc := s[i]
\t\tif c >= utf8.RuneSelf {
\t\t\tisASCII = false
\t\t\tbreak
\t\t}
\t\thasLower = hasLower || ('a' <= c && c <= 'z')
\t}
\tif isASCII {
\t\tif !hasLower {
\t\t\treturn s
\t\t}
\t\tvar b = NewBuilder(len(s))
\t\tfor i := 0; i < len(s); i++ {
\t\t\tb.WriteByte(upperTable[s[i]])
\t\t}
\t\treturn b.String()
\t}
\treturn strings.Map(unicode.ToUpper, s)
}
"""

# A typing.Protocol whose bodies are literally `...`, as in typeshed and our own backends.
PROTOCOL = """\
class Transport(Protocol):
    def read(self) -> bytes:
        ...

    def close(self) -> None:
        ...
"""


def once(text: str, old: str, new: str) -> str:
    """`text` with its one occurrence of `old` replaced by `new`."""
    assert text.count(old) == 1, old
    return text.replace(old, new)


def shift(block: str, by: int) -> str:
    """Indent (by > 0) or dedent (by < 0) every non-blank line by `by` spaces."""
    if by >= 0:
        return textwrap.indent(block, " " * by)
    return "".join(x[-by:] if x.strip() else x for x in block.splitlines(keepends=True))


# -- the kinds of slip, each landing exactly -------------------------------------------------

SAFE_TRY = """\
            if named is not None:
                try:
                    return str(mapping[named])
                except KeyError:
                    return mo.group()
"""
SAFE_TRY_NEW = """\
            if named is not None:
                try:
                    return str(mapping[named])
                except KeyError:
                    log.debug('no value for %s', named)
                    return mo.group()
"""
AFTER_SAFE_TRY = once(TEMPLATE, SAFE_TRY, SAFE_TRY_NEW)


def test_exact() -> None:
    assert apply_edit(TEMPLATE, SAFE_TRY, SAFE_TRY_NEW) == EditResult(
        AFTER_SAFE_TRY, EditMatch(EXACT, 29, 33, 1.0)
    )


def test_trailing_whitespace_added_to_search_lines() -> None:
    lines = SAFE_TRY.splitlines(keepends=True)
    search = lines[0].replace("\n", "  \n") + lines[1].replace("\n", "\t\n") + "".join(lines[2:])
    assert apply_edit(TEMPLATE, search, SAFE_TRY_NEW) == EditResult(
        AFTER_SAFE_TRY, EditMatch(WHITESPACE, 29, 33, 1.0)
    )


@pytest.mark.parametrize("by", [4, 8, -4, -8], ids=["in-4", "in-8", "out-4", "out-8"])
def test_reindented_search_and_replace_keep_the_files_indentation(by: int) -> None:
    assert apply_edit(TEMPLATE, shift(SAFE_TRY, by), shift(SAFE_TRY_NEW, by)) == EditResult(
        AFTER_SAFE_TRY, EditMatch(WHITESPACE, 29, 33, 1.0)
    )


def test_dedented_to_column_0() -> None:
    search, replace = textwrap.dedent(SAFE_TRY), textwrap.dedent(SAFE_TRY_NEW)
    assert search.startswith("if named is not None:\n    try:\n")
    assert apply_edit(TEMPLATE, search, replace) == EditResult(
        AFTER_SAFE_TRY, EditMatch(WHITESPACE, 29, 33, 1.0)
    )


def test_tab_indented_go_quoted_with_spaces_keeps_tabs() -> None:
    search = "    if !hasLower {\n        return s\n    }\n    var b = NewBuilder(len(s))\n"
    replace = (
        "    if !hasLower {\n        return s\n    }\n"
        "    b := NewBuilder(len(s))\n    b.Grow(len(s))\n"
    )
    expected = once(
        GO,
        "\t\treturn s\n\t\t}\n\t\tvar b = NewBuilder(len(s))\n\t\tfor i := 0; i < len(s); i++ {\n"
        "\t\t\tb.WriteByte(upper",
        "\t\treturn s\n\t\t}\n\t\tb := NewBuilder(len(s))\n\t\tb.Grow(len(s))\n"
        "\t\tfor i := 0; i < len(s); i++ {\n\t\t\tb.WriteByte(upper",
    )
    assert apply_edit(GO, search, replace) == EditResult(
        expected, EditMatch(WHITESPACE, 35, 38, 1.0)
    )


def test_tab_indented_go_one_tab_shallower() -> None:
    search = "\tfor i := 0; i < len(s); i++ {\n\t\tb.WriteByte(upperTable[s[i]])\n\t}\n"
    replace = "\tfor i := range len(s) {\n\t\tb.WriteByte(upperTable[s[i]])\n\t}\n"
    expected = once(
        GO,
        "\t\tfor i := 0; i < len(s); i++ {\n\t\t\tb.WriteByte(upperTable",
        "\t\tfor i := range len(s) {\n\t\t\tb.WriteByte(upperTable",
    )
    assert apply_edit(GO, search, replace) == EditResult(
        expected, EditMatch(WHITESPACE, 39, 41, 1.0)
    )


BOUNDARY = """\
        return self.pattern.sub(convert, self.template)

    def safe_substitute(self, mapping=_sentinel_dict, /, **kws):
        if mapping is _sentinel_dict:
"""


@pytest.mark.parametrize("gap", ["\n\n\n", "\n"], ids=["blank-added", "blank-dropped"])
def test_blank_line_slip_in_search(gap: str) -> None:
    search = BOUNDARY.replace("\n\n", gap)
    replace = BOUNDARY.replace("safe_substitute", "lenient_substitute")
    expected = once(TEMPLATE, "def safe_substitute", "def lenient_substitute")
    assert apply_edit(TEMPLATE, search, replace) == EditResult(
        expected, EditMatch(WHITESPACE, 19, 22, 1.0)
    )


ESCAPED = """\
            if mo.group('escaped') is not None:
                return self.delimiter
            if mo.group('invalid') is not None:
                return mo.group()
"""


@pytest.mark.parametrize(
    ("wrong", "right"),
    [
        ("self.delimtier", "self.delimiter"),  # typo
        ("self.delimiters", "self.delimiter"),  # plural
        ("mo.group('inv')", "mo.group('invalid')"),  # dropped part
    ],
    ids=["typo", "plural", "dropped-part"],
)
def test_one_line_misremembered(wrong: str, right: str) -> None:
    search = once(ESCAPED, right, wrong)
    replace = ESCAPED.replace("return mo.group()", "return mo.group(0)")
    expected = once(
        TEMPLATE,
        "                return mo.group()\n            raise",
        "                return mo.group(0)\n            raise",
    )
    result = apply_edit(TEMPLATE, search, replace)
    assert result.text == expected
    assert (result.match.kind, result.match.start_line, result.match.end_line) == (WINDOW, 34, 37)
    # The window's score: the mean of its lines' similarities, three of the four equal.
    slipped = next(x for x in search.splitlines() if wrong in x)
    similarity = SequenceMatcher(None, norm(slipped), norm(slipped.replace(wrong, right))).ratio()
    assert result.match.score == pytest.approx((3 + similarity) / 4)
    assert 0.85 <= result.match.score < 1


def test_middle_elided_in_search_and_replace() -> None:
    search = """\
    def safe_substitute(self, mapping=_sentinel_dict, /, **kws):
        ...
            raise ValueError('Unrecognized named group in pattern',
                             self.pattern)
        return self.pattern.sub(convert, self.template)
"""
    replace = search.replace("convert, self.template", "convert, str(self.template)")
    expected = TEMPLATE[: TEMPLATE.rindex("convert, self.template")] + (
        "convert, str(self.template))\n"
    )
    assert apply_edit(TEMPLATE, search, replace) == EditResult(
        expected, EditMatch(ELIDED, 21, 40, 1.0)
    )


def test_elided_lines_are_replaced_when_the_replacement_has_no_dots() -> None:
    search = """\
    def safe_substitute(self, mapping=_sentinel_dict, /, **kws):
        ...
        return self.pattern.sub(convert, self.template)
"""
    replace = """\
    def safe_substitute(self, mapping=_sentinel_dict, /, **kws):
        return self.substitute(mapping, **kws)
"""
    start = TEMPLATE.index("    def safe_substitute")
    assert apply_edit(TEMPLATE, search, replace) == EditResult(
        TEMPLATE[:start] + replace, EditMatch(ELIDED, 21, 40, 1.0)
    )


def test_crlf_file_stays_crlf_byte_for_byte() -> None:
    crlf = GO.replace("\n", "\r\n")
    search = "\t\t\tb.WriteByte(upperTable[s[i]])\n"
    replace = "\t\t\tb.WriteByte(upperTable[s[i]]) // ASCII only\n"
    expected = once(crlf, "upperTable[s[i]])\r\n", "upperTable[s[i]]) // ASCII only\r\n")
    assert apply_edit(crlf, search, replace) == EditResult(expected, EditMatch(EXACT, 40, 40, 1.0))
    # A search quoted with CRLF, re-indented, lands the same way.
    spaced = "        b.WriteByte(upperTable[s[i]])\r\n"
    new = "        b.WriteByte(upperTable[s[i]]) // ASCII only\r\n"
    assert apply_edit(crlf, spaced, new) == EditResult(expected, EditMatch(WHITESPACE, 40, 40, 1.0))


def test_fragment_within_one_line() -> None:
    expected = once(TEMPLATE, "self._invalid(mo)", "self._invalid(mo, strict=True)")
    assert apply_edit(TEMPLATE, "self._invalid(mo)", "self._invalid(mo, strict=True)") == (
        EditResult(expected, EditMatch(EXACT, 16, 16, 1.0))
    )


@pytest.mark.parametrize(("indent", "kind"), [(16, EXACT), (0, WHITESPACE)], ids=["exact", "ws"])
def test_search_ends_with_newline_and_replace_does_not(indent: int, kind: MatchKind) -> None:
    search = shift(
        "                except KeyError:\n                    return mo.group()\n", indent - 16
    )
    replace = shift(
        "                except KeyError:\n                    return None", indent - 16
    )
    expected = once(
        TEMPLATE,
        "KeyError:\n                    return mo.group()\n",
        "KeyError:\n                    return None\n",
    )
    assert apply_edit(TEMPLATE, search, replace) == EditResult(
        expected, EditMatch(kind, 32, 33, 1.0)
    )


def test_replace_without_search_newline_in_whitespace_match() -> None:
    search = "except KeyError:\n    return mo.group()"
    replace = "except KeyError:\n    return None\n"
    expected = once(
        TEMPLATE,
        "KeyError:\n                    return mo.group()\n",
        "KeyError:\n                    return None\n",
    )
    assert apply_edit(TEMPLATE, search, replace) == EditResult(
        expected, EditMatch(WHITESPACE, 32, 33, 1.0)
    )


def test_module_source_read_at_test_time() -> None:
    """The whole of Lib/string.py, whatever this Python's version of it says."""
    module = inspect.getsource(string)
    method = inspect.getsource(string.Template.safe_substitute)
    assert module.count(method) == 1
    body = method.splitlines(keepends=True)
    changed = [*body[:-1], body[-1].replace("self.template)", "str(self.template))")]
    # Quoted dedented to column 0, with its middle elided.
    search = textwrap.dedent("".join([*body[:2], body[1][:8] + "...\n", body[-1]]))
    replace = textwrap.dedent("".join([*body[:2], body[1][:8] + "...\n", changed[-1]]))
    assert search.startswith("def safe_substitute(")
    assert "\n    ...\n" in search
    first = module[: module.index(method)].count("\n") + 1
    assert apply_edit(module, search, replace) == EditResult(
        module.replace(method, "".join(changed)),
        EditMatch(ELIDED, first, first + len(body) - 1, 1.0),
    )


# -- refusals ----------------------------------------------------------------------------------


def refusal_of(original: str, search: str, replace: str = "x\n") -> tuple[Refusal, str]:
    """The refusal record and the text the model reads, of an edit that must be refused."""
    with pytest.raises(EditError) as info:
        apply_edit(original, search, replace)
    return info.value.refusal, str(info.value)


@pytest.mark.parametrize("search", ["", "\n", "   \n\t\n"], ids=["empty", "newline", "blank"])
def test_empty_search_is_refused(search: str) -> None:
    assert refusal_of(TEMPLATE, search) == (
        Refusal(Reason.EMPTY_SEARCH),
        "the search text is empty — quote the lines to change (or write the file)",
    )


def test_not_found_shows_the_closest_candidate() -> None:
    search = "\tif isUnicode {\n\t\treturn strings.Map(unicode.ToTitle, s)\n\t}\n"
    with pytest.raises(EditError) as info:
        apply_edit(GO, search, "")
    error = info.value
    closest = error.refusal.closest
    assert closest is not None
    assert closest.score == pytest.approx(0.57, abs=0.005)
    assert error.refusal == Refusal(
        Reason.NOT_FOUND,
        closest=Candidate(12, 14, "\t\tif !hasUpper {\n\t\t\treturn s\n\t\t}", closest.score),
        stage=WINDOW,
    )
    listing = "   12 | \t\tif !hasUpper {\n   13 | \t\t\treturn s\n   14 | \t\t}"
    assert (error.message, error.hint) == (
        "the search text was not found in the file",
        f"quote the lines exactly as they are. The closest lines (similarity 57%):\n{listing}",
    )
    # Reaching a user, a refused edit is one line of the exception tree: the task failed.
    assert isinstance(error, MemfunError)
    assert error.exit_code == ExitCode.FAILED
    assert str(error) == f"{error.message} — {error.hint}"


def test_not_found_in_a_file_without_text_has_no_candidate() -> None:
    assert refusal_of("\n\n", "x = 1\n") == (
        Refusal(Reason.NOT_FOUND, stage=WINDOW),
        "the search text was not found in the file — quote the lines exactly as they are",
    )


@pytest.mark.parametrize(
    ("search", "places", "stage"),
    [
        ("        if mapping is _sentinel_dict:\n            mapping = kws\n", (3, 22), EXACT),
        ("if mapping is _sentinel_dict:\n    mapping = kws\n", (3, 22), WHITESPACE),
        ("_ChainMap(kws, mapping)", (6, 25), EXACT),
        ("\t\tc := s[i]\n\t\tif c >= utf8.RuneSelf {\n", (4, 27), EXACT),
    ],
    ids=["exact", "whitespace", "fragment", "go-exact"],
)
def test_found_in_two_places_is_refused(
    search: str, places: tuple[int, int], stage: MatchKind
) -> None:
    refusal, text = refusal_of(TEMPLATE if "\t" not in search else GO, search)
    assert refusal == Refusal(Reason.AMBIGUOUS, places=places, stage=stage)
    assert text == (
        f"the search text matches 2 places (lines {places[0]}, {places[1]}) — include more "
        "surrounding lines so that it matches one place"
    )


def test_every_place_is_kept_when_the_message_shows_six() -> None:
    original = "".join(f"def handler_{i}(event):\n    return None\n\n" for i in range(9))
    refusal, text = refusal_of(original, "    return None\n")
    assert refusal == Refusal(
        Reason.AMBIGUOUS, places=(2, 5, 8, 11, 14, 17, 20, 23, 26), stage=EXACT
    )
    assert "matches 9 places (lines 2, 5, 8, 11, 14, 17, …)" in text


def test_ambiguous_fuzzy_match_is_refused() -> None:
    search = "\tfor i := 0; i < len(s); i++ {\n\t\tc := s[i]\n\t\tif c >= utf8.RuneSel {\n"
    refusal, text = refusal_of(GO, search + "\t\t\tisASCII = false\n")
    assert refusal == Refusal(Reason.AMBIGUOUS, places=(3, 26), stage=WINDOW)
    assert text.startswith("the search text matches 2 places (lines 3, 26) — ")


def test_elision_with_more_than_one_reading_is_refused() -> None:
    search = (
        "        if mapping is _sentinel_dict:\n"
        "        ...\n"
        "                             self.pattern)\n"
    )
    assert refusal_of(TEMPLATE, search) == (
        Refusal(Reason.AMBIGUOUS, places=(3, 22), stage=ELIDED),
        "the search text with `...` can be read in more than one way (from lines 3, 22) — "
        "quote more lines around each `...`",
    )


def test_elided_search_not_found_shows_the_part_the_file_lacks() -> None:
    search = """\
    def safe_substitute(self, mapping=_sentinel_dict, /, **kws):
        ...
            if mo.group('invalid') is not None:
                return mo.group(0)
        ...
        return self.pattern.sub(convert, self.template)
"""
    refusal, text = refusal_of(TEMPLATE, search)
    closest = refusal.closest
    assert closest is not None
    # Part 2 misremembers `mo.group()`: the candidate is that part's closest lines, 36-37
    # (the twin at 15-16 differs more), scored like any window.
    similarity = SequenceMatcher(None, "return mo.group(0)", "return mo.group()").ratio()
    assert closest.score == pytest.approx((1 + similarity) / 2)
    assert refusal == Refusal(
        Reason.NOT_FOUND,
        closest=Candidate(
            36,
            37,
            "            if mo.group('invalid') is not None:\n                return mo.group()",
            closest.score,
        ),
        stage=ELIDED,
    )
    assert text == (
        "the search text with `...` was not found (quoted part 2 of 3 is not in the file) — "
        "every quoted part must match the file, in order. The closest lines (similarity 99%):\n"
        "   36 |             if mo.group('invalid') is not None:\n"
        "   37 |                 return mo.group()"
    )


def test_elided_parts_out_of_order_are_not_found() -> None:
    search = """\
        return self.pattern.sub(convert, self.template)
        ...
    def safe_substitute(self, mapping=_sentinel_dict, /, **kws):
"""
    refusal, text = refusal_of(TEMPLATE[TEMPLATE.index("    def safe_substitute") :], search)
    assert refusal.reason is Reason.NOT_FOUND
    assert refusal.stage is ELIDED
    assert refusal.closest is not None
    assert text.startswith(
        "the search text with `...` was not found (its quoted parts are not in the file in this "
        "order) — every quoted part must match the file, in order. The closest lines"
    )


@pytest.mark.parametrize(
    ("search", "replace", "text"),
    [
        (
            "    def safe_substitute(self, mapping=_sentinel_dict, /, **kws):\n        ...\n",
            "x\n",
            "the search text's `...` has no quoted lines on one side — quote lines on both "
            "sides of each `...`",
        ),
        (
            "    def safe_substitute(self, mapping=_sentinel_dict, /, **kws):\n"
            "        ...\n"
            "            named = mo.group('named') or mo.group('braced')\n"
            "        ...\n"
            "        return self.pattern.sub(convert, self.template)\n",
            "    def safe_substitute(self, mapping=_sentinel_dict, /, **kws):\n"
            "        ...\n"
            "        return self.pattern.sub(convert, self.template)\n",
            "the replacement has 1 `...` lines but the search has 2 — use the same number, or "
            "none to replace the elided lines too",
        ),
    ],
    ids=["one-sided", "replacement-count"],
)
def test_unusable_elision_is_refused(search: str, replace: str, text: str) -> None:
    assert refusal_of(TEMPLATE, search, replace) == (
        Refusal(Reason.BAD_ELISION, stage=ELIDED),
        text,
    )


def test_dots_line_read_literally_or_as_elision_is_refused() -> None:
    search = (
        "    def read(self) -> bytes:\n        ...\n    def close(self) -> None:\n        ...\n"
    )
    replace = search[: search.rindex("...")] + "raise NotImplementedError\n"
    assert refusal_of(PROTOCOL, search, replace) == (
        Refusal(Reason.BAD_ELISION, stage=ELIDED),
        "the search's `...` line can be read as the file's own `...` line or as elided lines, "
        "with different results — quote the lines in full",
    )
    # Quoted exactly, the file's own `...` lines are text like any other.
    exact = "    def read(self) -> bytes:\n        ...\n\n    def close(self) -> None:\n"
    new = exact.replace("read(self)", "read(self, n: int = -1)")
    assert apply_edit(PROTOCOL, exact, new) == EditResult(
        once(PROTOCOL, "read(self)", "read(self, n: int = -1)"), EditMatch(EXACT, 2, 5, 1.0)
    )


# -- regressions: inputs that once gave wrong results --


def test_one_shared_line_of_three_is_not_a_match() -> None:
    # Only `def g():` is in the file: one shared line of three is no match.
    original = "def f():\n    x = 1\n    return x\n\ndef g():\n    y = 2\n    return y\n"
    refusal, _ = refusal_of(original, "def g():\n    total = compute()\n    print(total)\n")
    assert refusal.reason is Reason.NOT_FOUND


def test_a_window_never_runs_past_the_end_of_the_file() -> None:
    original = "def f():\n    x = 1\n    return x\n\ndef g():\n    y = 2\n    return y\n"
    refusal, _ = refusal_of(original, "return y\nfoo bar baz\nqux quux\n")
    assert refusal.reason is Reason.NOT_FOUND
    # The closest window stops at the file's last line too.
    assert refusal.closest is not None
    assert refusal.closest.end_line <= len(original.splitlines())


def test_search_without_newline_and_replace_with_one_in_an_exact_match() -> None:
    search = "                except KeyError:\n                    return mo.group()"
    replace = "                except KeyError:\n                    return None\n"
    expected = once(
        TEMPLATE,
        "KeyError:\n                    return mo.group()\n",
        "KeyError:\n                    return None\n",
    )
    assert apply_edit(TEMPLATE, search, replace) == EditResult(
        expected, EditMatch(EXACT, 32, 33, 1.0)
    )


@pytest.mark.parametrize("gap", ["\n\n\n", "\n"], ids=["blank-added", "blank-dropped"])
def test_blank_line_slip_in_search_and_replace_next_to_a_changed_line(gap: str) -> None:
    # The model remembers two blank lines (or none) where the file has one, in search and
    # replace alike: they agree on the gap, so the file's one blank line stays, although the
    # line after the gap changes.
    search = BOUNDARY.replace("\n\n", gap)
    replace = search.replace("safe_substitute", "lenient_substitute")
    expected = once(TEMPLATE, "def safe_substitute", "def lenient_substitute")
    assert apply_edit(TEMPLATE, search, replace) == EditResult(
        expected, EditMatch(WHITESPACE, 19, 22, 1.0)
    )


# httpx's NetRCInfo.get_credentials before encode/httpx#1298, which put its signature on one line.
NETRC = """\
    def get_credentials(
        self, authority: str
    ) -> typing.Optional[typing.Tuple[str, str]]:
        if self.netrc_info is None:
            return None

        auth_info = self.netrc_info.authenticators(authority)
        if auth_info is None or auth_info[2] is None:
            return None
        return (auth_info[0], auth_info[2])
"""


def test_misremembered_line_rewritten_into_fewer_lines_leaves_nothing_behind() -> None:
    # The model quotes `def get(` for `def get_credentials(` (too unlike to pair by
    # similarity) and joins three lines into one: the file's line is the one it stands for,
    # and goes with the other two instead of staying above the new signature.
    search = NETRC.replace("def get_credentials(", "def get(")
    replace = NETRC.replace(
        "def get_credentials(\n        self, authority: str\n    ) -> ",
        "def get_credentials(self, host: str) -> ",
    ).replace("authenticators(authority)", "authenticators(host)")
    expected = "class NetRCInfo:\n" + replace
    result = apply_edit("class NetRCInfo:\n" + NETRC, search, replace)
    assert result.text == expected
    assert (result.match.kind, result.match.start_line, result.match.end_line) == (WINDOW, 2, 11)
