"""Rewrite safety: shared nodes, hand-written evidence, files the splicer cannot edit."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from pytest_falsify.rewrite import EntryUpdate, RewriteError, rewrite_text

TODAY = dt.date(2026, 11, 22)
EVIDENCE = {"tests": [{"test": "t.py::test_a", "outcome": "passed", "level": "algorithm"}]}

MERGED = """\
falsification_tests:
  - &base
    id: A
    prediction: p
    discharge_level: algorithm
    discharge_status: UNBOUND
  - <<: *base
    id: B
"""


def update(fid: str, status: str | None = "DISCHARGED", evidence: dict | None = EVIDENCE):
    return {fid: EntryUpdate(fid, None, status, evidence)}


def test_an_entry_other_entries_merge_is_not_edited_and_is_named():
    with pytest.raises(RewriteError, match=r"A: its entry \(line 2\) is shared through a YAML anchor"):
        rewrite_text(MERGED, update("A"), TODAY)


def test_an_entry_that_inherits_through_a_merge_key_is_not_edited():
    with pytest.raises(RewriteError, match="B: its entry .* merge key"):
        rewrite_text(MERGED, update("B"), TODAY)


def test_a_gate_sharing_an_anchored_status_is_never_discharged_by_another_gates_update():
    text = ("gates:\n  - id: G1\n    rule: r\n    status: &s UNBOUND\n"
            "  - id: G2\n    rule: r\n    status: *s\n")
    with pytest.raises(RewriteError, match=r"G1: status \(line 4\) is shared through a YAML anchor"):
        rewrite_text(text, update("G1", evidence=None), TODAY)


def test_the_verification_compares_resolved_data_where_aliases_exist():
    # Untouched text can still change meaning through an alias: only C is edited here,
    # and the anchors elsewhere force the resolved-data comparison.
    text = MERGED + "  - id: C\n    prediction: q\n"
    new = rewrite_text(text, update("C"), TODAY)
    entries = yaml.safe_load(new)["falsification_tests"]
    assert entries[1]["discharge_status"] == "UNBOUND" and entries[2]["discharge_status"] == "DISCHARGED"


def test_hand_written_keys_and_comments_inside_evidence_survive():
    text = ("falsification_tests:\n  - id: A\n    prediction: p\n    evidence:\n"
            "      # measured on the H200 by hand\n      notes: see PR 123\n"
            "      tests: []\n      benchmark: {tflops: 74.0}   # by hand\n")
    new = rewrite_text(text, update("A"), TODAY)
    assert "      # measured on the H200 by hand\n      notes: see PR 123\n" in new
    assert "      benchmark: {tflops: 74.0}   # by hand\n" in new
    ev = yaml.safe_load(new)["falsification_tests"][0]["evidence"]
    assert ev == {"notes": "see PR 123", **EVIDENCE, "benchmark": {"tflops": 74.0}}
    assert rewrite_text(new, update("A"), TODAY) == new


def test_plugin_evidence_is_added_beside_hand_written_evidence_keys():
    text = "falsification_tests:\n  - id: A\n    prediction: p\n    evidence:\n      notes: prose\n"
    ev = yaml.safe_load(rewrite_text(text, update("A"), TODAY))["falsification_tests"][0]["evidence"]
    assert ev == {"notes": "prose", **EVIDENCE}


@pytest.mark.parametrize(("text", "reason"), [
    ("falsification_tests:\r  - id: A\r    prediction: p\r", "bare CR"),
    ("falsification_tests:\n  - id: A\n    prediction: p\n    notes: |\n      last", "block scalar"),
    ("falsification_tests:\n  - ? id\n    : A\n    prediction: p\n", r"explicit '\? key'"),
])
def test_a_file_the_splicer_cannot_edit_is_refused_with_its_reason(text, reason):
    with pytest.raises(RewriteError, match=reason):
        rewrite_text(text, update("A"), TODAY)


def test_a_trailing_comma_in_a_flow_entry_is_edited_correctly():
    text = "falsification_tests:\n  - {id: A, prediction: p, }\n"
    new = rewrite_text(text, update("A", evidence=None), TODAY)
    assert yaml.safe_load(new)["falsification_tests"][0]["discharge_status"] == "DISCHARGED"

