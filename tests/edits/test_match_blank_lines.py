"""Edits about blank lines whose search misquotes the file's blank lines are refused (issue 18).

When the model's search differs from the file in blank lines and its edit adds or removes
blank lines, the matcher cannot tell which of the file's blank lines the model meant to change:
the gap it misquoted may be the one it changes. Where the text lines come out unchanged (a
no-op, or a change of whitespace only), a guess would be the whole result; such edits are
refused with `Reason.BLANK_LINES` and the file's lines, never applied. Edits that change text
still land (test_match.py covers blank-line slips next to changed lines).

The file is real: cobra's `cobra/cmd/licenses.go` before spf13/cobra@6d4267ff, which removed the
blank lines between the `init…()` calls.
"""

from __future__ import annotations

import pytest

from memfun_git.edits.match import apply_edit
from memfun_git.edits.results import EditMatch, EditResult, MatchKind, Reason
from memfun_git.errors import EditError

LICENSES = """\
func init() {
\t// Allows a user to use config for a custom license.
\tLicenses["custom"] = License{"Custom", []string{}, "", ""}

\tinitApache2()

\tinitMit()

\tinitBsdClause3()

\tinitGpl3()

\t// Licenses["apache20"] = License{
}
"""

CALLS = "\tinitApache2()\n\n\tinitMit()\n\n\tinitBsdClause3()\n\n\tinitGpl3()\n"
TIGHT = "\tinitApache2()\n\tinitMit()\n\tinitBsdClause3()\n\tinitGpl3()\n"


def refusal_of(original: str, search: str, replace: str) -> EditError:
    with pytest.raises(EditError) as caught:
        apply_edit(original, search, replace)
    return caught.value


def test_removing_blank_lines_with_one_gap_misquoted_is_refused() -> None:
    # The commit's change, but the model's search already lacks the first blank line: that
    # gap reads as "unchanged", the file's blank line stayed, and one blank line was left
    # behind in a change of whitespace only (what the bench found on cobra's history).
    search = CALLS.replace("initApache2()\n\n", "initApache2()\n", 1)
    error = refusal_of(LICENSES, search, TIGHT)
    assert error.refusal.reason is Reason.BLANK_LINES
    assert error.refusal.stage is MatchKind.WHITESPACE
    closest = error.refusal.closest
    assert closest is not None
    assert (closest.start_line, closest.end_line) == (5, 11)
    assert closest.text == CALLS.removesuffix("\n")
    assert "blank lines" in error.message
    assert "    6 | " in error.hint  # the file's blank line, numbered, is shown to quote


def test_adding_a_blank_line_the_file_already_has_is_refused_not_a_no_op() -> None:
    # The model believes two lines are adjacent and asks for a blank line between them; the
    # file has one there. Applying gives back the file unchanged: is one blank line wanted,
    # or a second one? Refused.
    tight = LICENSES.replace(CALLS, TIGHT)
    search = "\tinitMit()\n\tinitBsdClause3()\n"
    replace = "\tinitMit()\n\n\tinitBsdClause3()\n"
    original = tight.replace("initMit()\n", "initMit()\n\n")
    assert refusal_of(original, search, replace).refusal.reason is Reason.BLANK_LINES


def test_a_change_of_blank_lines_the_other_way_than_asked_is_refused() -> None:
    # The search has no blank line where the file has two; the replacement asks for one: taken
    # literally the file loses a blank line, although the model asked to add one.
    original = LICENSES.replace("initMit()\n\n", "initMit()\n\n\n")
    search = "\tinitMit()\n\tinitBsdClause3()\n"
    replace = "\tinitMit()\n\n\tinitBsdClause3()\n"
    assert refusal_of(original, search, replace).refusal.reason is Reason.BLANK_LINES


def test_removing_blank_lines_quoted_exactly_lands() -> None:
    expected = LICENSES.replace(CALLS, TIGHT)
    assert apply_edit(LICENSES, CALLS, TIGHT) == EditResult(
        expected, EditMatch(MatchKind.EXACT, 5, 11, 1.0)
    )


def test_removing_blank_lines_from_a_re_indented_search_with_the_file_s_gaps_lands() -> None:
    # Indentation slips are not blank-line slips: the gaps are the file's, the change lands.
    search = CALLS.replace("\t", "    ")
    expected = LICENSES.replace(CALLS, TIGHT)
    result = apply_edit(LICENSES, search, TIGHT.replace("\t", "    "))
    assert result == EditResult(expected, EditMatch(MatchKind.WHITESPACE, 5, 11, 1.0))


def test_a_blank_line_slip_in_an_edit_that_changes_text_still_lands() -> None:
    # Text changes: the result is not a question of blank lines alone, and the misquoted gap
    # (which the edit leaves as it is) keeps the file's blank line.
    search = CALLS.replace("initApache2()\n\n", "initApache2()\n", 1)
    replace = search.replace("initGpl3()", "initGpl3()\n\n\tinitLgpl()")
    expected = LICENSES.replace("initGpl3()\n", "initGpl3()\n\n\tinitLgpl()\n")
    assert apply_edit(LICENSES, search, replace).text == expected


def test_a_blank_line_slip_in_an_edit_that_changes_no_blank_lines_is_not_refused() -> None:
    # The edit adds and removes no blank line (its search and replace agree on every gap):
    # nothing about blank lines is asked, and the file's stay.
    search = CALLS.replace("initApache2()\n\n", "initApache2()\n", 1)
    result = apply_edit(LICENSES, search, search)
    assert result.text == LICENSES
