"""A project's own status words mapped into the lattice (`falsify_status_map`)."""

from __future__ import annotations

import pytest

from pytest_falsify import statuses

pytestmark = pytest.mark.falsifier("FALSIFY-LOAD-002")

APRENDER = ["MERGED = PARTIAL_ALGORITHM_LEVEL", "IMPLEMENTED = PARTIAL_ALGORITHM_LEVEL",
            "VERIFIED* = DISCHARGED"]


def smap(lines=APRENDER) -> statuses.StatusMap:
    m, problems = statuses.parse(lines)
    assert problems == []
    return m


def test_a_mapped_word_resolves_to_its_status():
    assert smap().resolve("MERGED") == "PARTIAL_ALGORITHM_LEVEL"


def test_a_prefix_rule_maps_a_status_followed_by_free_text():
    assert smap().resolve("VERIFIED — 74.0 TFLOP/s on H100 SXM") == "DISCHARGED"


def test_the_longest_prefix_wins():
    m = smap(["VERIFIED* = DISCHARGED", "VERIFIED_PARTIAL* = PARTIAL_ALGORITHM_LEVEL"])
    assert m.resolve("VERIFIED_PARTIAL on CPU") == "PARTIAL_ALGORITHM_LEVEL"


def test_known_statuses_need_no_map():
    assert statuses.StatusMap().resolve("PROPOSED") == "PROPOSED"


def test_an_unknown_word_stays_unknown_without_a_map():
    assert statuses.StatusMap().resolve("MERGED") is None


def test_an_unknown_word_names_the_nearest_mapped_word_and_its_ini_line():
    message, fix = smap().unknown("MERGD")
    assert message == "unknown status 'MERGD'"
    assert "did you mean MERGED?" in fix
    assert "falsify_status_map = MERGED = PARTIAL_ALGORITHM_LEVEL" in fix


def test_an_unknown_word_shows_the_ini_line_that_would_map_it():
    _, fix = statuses.StatusMap().unknown("MERGED")
    assert "or map it: falsify_status_map = MERGED = <UNBOUND |" in fix


def test_the_nearest_word_ignores_case():
    _, fix = statuses.StatusMap().unknown("discharged")
    assert "did you mean DISCHARGED?" in fix


@pytest.mark.parametrize(("line", "message"), [
    ("MERGED PARTIAL_ALGORITHM_LEVEL", "cannot read"),
    ("MERGED = PARTIAL", "unknown status 'PARTIAL'"),
    ("DISCHARGED = PARTIAL_ALGORITHM_LEVEL", "known status already"),
    ("* = DISCHARGED", "would map every word"),
])
def test_a_bad_map_line_is_a_problem_naming_the_line(line, message):
    _, problems = statuses.parse([line])
    assert len(problems) == 1 and message in problems[0].message and problems[0].line == line


def test_blank_lines_and_comments_are_ignored():
    assert smap(["", "# aprender's words", *APRENDER]).resolve("IMPLEMENTED") == "PARTIAL_ALGORITHM_LEVEL"
