"""The verdict table of docs/design.md, over every combination of outcomes and levels."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_falsify import verdict as V
from pytest_falsify.contracts import KNOWN_STATUSES

records = st.lists(st.fixed_dictionaries({
    "test": st.sampled_from([f"t{i}" for i in range(6)]),
    "outcome": st.sampled_from(V.ALL_OUTCOMES),
    "level": st.sampled_from(["algorithm", "live"]),
}), max_size=6)
statuses = st.sampled_from((None,) + KNOWN_STATUSES)
levels = st.sampled_from(["algorithm", "live"])


def reference(current, level, evidence):
    """The table, written as plainly as possible."""
    ev = [e for e in evidence if e["outcome"] in ("passed", "failed", "blocked")]
    if not ev:
        return current or "UNBOUND"
    if any(e["outcome"] == "failed" for e in ev):
        return "FALSIFIED"
    passes = [e for e in ev if e["outcome"] == "passed"]
    if not passes:
        return "BLOCKER_FIXTURE_ABSENT"
    met = level == "algorithm" or any(e["level"] == "live" for e in passes)
    return "DISCHARGED" if met else "PARTIAL_ALGORITHM_LEVEL"


@pytest.mark.falsifier("FALSIFY-PLUGIN-001", "FALSIFY-PLUGIN-004", "FALSIFY-PLUGIN-011")
@pytest.mark.parametrize("level", ["algorithm", "live"])
def test_every_combination_of_two_tests_follows_the_table(level):
    for (o1, l1), (o2, l2) in itertools.product(
        itertools.product(V.ALL_OUTCOMES, ["algorithm", "live"]), repeat=2
    ):
        ev = [{"test": "a", "outcome": o1, "level": l1}, {"test": "b", "outcome": o2, "level": l2}]
        for current in (None, "DISCHARGED", "FALSIFIED"):
            assert V.verdict(current, level, ev) == reference(current, level, ev), (current, ev)


@pytest.mark.falsifier("FALSIFY-PLUGIN-001")
@given(statuses, levels, records)
def test_a_failure_always_wins(current, level, evidence):
    failing = evidence + [{"test": "f", "outcome": "failed", "level": "algorithm"}]
    assert V.verdict(current, level, failing) == "FALSIFIED"


@pytest.mark.falsifier("FALSIFY-PLUGIN-004")
@given(statuses, levels, records, st.lists(st.sampled_from(["skipped", "error", "xfail", "xpass"])))
def test_outcomes_that_are_not_evidence_never_change_the_verdict(current, level, evidence, noise):
    extra = [{"test": f"n{i}", "outcome": o, "level": "live"} for i, o in enumerate(noise)]
    assert V.verdict(current, level, evidence + extra) == V.verdict(current, level, evidence)


@pytest.mark.falsifier("FALSIFY-PLUGIN-004")
@given(statuses, levels, st.lists(st.sampled_from(["skipped", "error", "xfail", "xpass"])))
def test_no_evidence_keeps_the_status(current, level, outcomes):
    ev = [{"test": str(i), "outcome": o, "level": "live"} for i, o in enumerate(outcomes)]
    assert V.verdict(current, level, ev) == (current or "UNBOUND")


@pytest.mark.falsifier("FALSIFY-PLUGIN-011")
@given(statuses, levels, st.integers(1, 4))
def test_all_blocked_is_blocker(current, level, n):
    ev = [{"test": str(i), "outcome": "blocked", "level": "live"} for i in range(n)]
    assert V.verdict(current, level, ev) == "BLOCKER_FIXTURE_ABSENT"


@given(statuses, records)
def test_live_level_needs_a_live_pass(current, evidence):
    result = V.verdict(current, "live", evidence)
    if result == "DISCHARGED" and any(V.is_evidence(e["outcome"]) for e in evidence):
        assert any(e["outcome"] == "passed" and e["level"] == "live" for e in evidence)


@pytest.mark.falsifier("FALSIFY-PLUGIN-004")
@given(records, records)
def test_merge_keeps_stored_evidence_that_fresh_non_evidence_would_erase(stored, fresh):
    stored = list({r["test"]: r for r in stored if V.is_evidence(r["outcome"])}.values())
    merged = {r["test"]: r for r in V.merge(stored, fresh)}
    for r in stored:
        newer = [f for f in fresh if f["test"] == r["test"] and V.is_evidence(f["outcome"])]
        assert merged[r["test"]] == (newer[-1] if newer else r)


def test_worst_of_prefers_failure_then_live_pass():
    rs = [{"outcome": "passed", "level": "algorithm"}, {"outcome": "passed", "level": "live"},
          {"outcome": "skipped", "level": "live"}]
    assert V.worst_of(rs)["level"] == "live"
    assert V.worst_of(rs + [{"outcome": "failed", "level": "algorithm"}])["outcome"] == "failed"
    assert V.worst_of([{"outcome": "skipped"}]) is None


@pytest.mark.falsifier("FALSIFY-PLUGIN-013")
@pytest.mark.parametrize(("on_disk", "derived", "held"), [
    ("DISCHARGED", "PARTIAL_ALGORITHM_LEVEL", True),
    ("DISCHARGED", "BLOCKER_FIXTURE_ABSENT", True),
    ("ACTIVE_WITH_LIVE_EVIDENCE", "PARTIAL_ALGORITHM_LEVEL", True),
    ("PARTIAL_ALGORITHM_LEVEL", "DISCHARGED", False),
    ("DISCHARGED", "DISCHARGED", False),
    ("PROPOSED", "PARTIAL_ALGORITHM_LEVEL", False),
    ("FALSIFIED", "PARTIAL_ALGORITHM_LEVEL", False),
    (None, "PARTIAL_ALGORITHM_LEVEL", False),
])
def test_a_hand_claim_is_held_only_against_weaker_evidence(on_disk, derived, held):
    assert V.holds_hand_claim(on_disk, derived, tool_derived=False) is held


@pytest.mark.falsifier("FALSIFY-PLUGIN-013")
@given(statuses, st.sampled_from(("UNBOUND",) + tuple(V.CLAIM_STRENGTH)))
def test_a_status_the_tool_derived_is_never_held(on_disk, derived):
    assert not V.holds_hand_claim(on_disk, derived, tool_derived=True)


@pytest.mark.falsifier("FALSIFY-PLUGIN-013")
@given(statuses)
def test_a_failure_is_never_held_back_by_a_hand_claim(on_disk):
    assert not V.holds_hand_claim(on_disk, "FALSIFIED", tool_derived=False)
