"""engine.make_plan: the shortcut for a claim whose one test ran again as stored gives
exactly what the general path gives (it only skips building the records it compares)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from pytest_falsify import engine
from pytest_falsify.contracts import Contract, ContractSet, Entry
from pytest_falsify.fingerprint import SourceIndex

OUTCOMES = st.sampled_from(["passed", "failed", "blocked", "skipped", "error"])
LEVELS = st.sampled_from(["algorithm", "live"])
STATUSES = st.sampled_from([None, "DISCHARGED", "FALSIFIED", "PARTIAL_ALGORITHM_LEVEL",
                            "BLOCKER_FIXTURE_ABSENT", "PROPOSED"])
TESTS = st.sampled_from(["t.py::a", "t.py::b"])


@st.composite
def claims(draw):
    """(entry's status, level, stored records, this run's results) of one claim; half the
    time the first result reruns the first stored test (the shortcut's case), with at most
    one of its outcome and level changed."""
    stored = [{"test": t, "outcome": o, "level": lv, "date": "2026-11-30"}
              for t, o, lv in draw(st.lists(st.tuples(TESTS, OUTCOMES, LEVELS), max_size=2))]
    results = [{"test": t, "ids": ["c::X-1"], "outcome": o, "level": lv, "metrics": m,
                "date": "2026-12-01", "host": "h"}
               for t, o, lv, m in draw(st.lists(st.tuples(
                   TESTS, OUTCOMES, LEVELS, st.sampled_from([{}, {"cosine": 0.99}])),
                   max_size=2, unique_by=lambda x: x[0]))]
    if stored and results and draw(st.booleans()):
        r, s = results[0], stored[0]
        if all(x["test"] != s["test"] for x in results[1:]):
            r.update(test=s["test"], outcome=s["outcome"], level=s["level"])
            changed = draw(st.sampled_from([None, "outcome", "level"]))
            if changed:
                r[changed] = draw(OUTCOMES if changed == "outcome" else LEVELS)
    status = draw(st.one_of(st.just("DISCHARGED"), STATUSES))  # often what a pass derives
    return status, draw(LEVELS), stored, results


def _plan(status, level, stored, results):
    entry = Entry("X-1", "falsification_tests", Path("c.yaml"), 3, status, "status", level,
                  {"tests": stored} if stored else None, {}, "c", status)
    cset = ContractSet([Contract(Path("c.yaml"), "c", "1.0.0", [entry])], [],
                       by_qid={entry.qid: entry}, qids_of={"X-1": [entry.qid]})
    plan = engine.make_plan(cset, {r["test"]: r for r in results}, prune=lambda t: False,
                            index=SourceIndex(Path("/nonexistent")))  # no source: code changed
    return (plan.statuses, {p: {k: vars(u) for k, u in ups.items()} for p, ups in plan.updates.items()},
            [str(t) for t in plan.transitions], [str(h) for h in plan.hand_claims],
            [e.qid for e in plan.unbound_claims], plan.pruned)


def _rerun(outcome="passed", level="algorithm", **extra) -> list[dict]:
    return [{"test": "t.py::a", "ids": ["c::X-1"], "outcome": outcome, "level": level,
             "metrics": {}, "date": "2026-12-01", **extra}]


STORED = [{"test": "t.py::a", "outcome": "passed", "level": "algorithm", "date": "2026-11-30"}]


@settings(max_examples=500, deadline=None)
@given(claims())
@example(("DISCHARGED", "algorithm", STORED, _rerun()))  # the shortcut's own case
@example(("DISCHARGED", "algorithm", STORED, _rerun(level="live")))  # a new level: rewritten
@example(("DISCHARGED", "algorithm", STORED, _rerun(outcome="failed")))
@example(("PARTIAL_ALGORITHM_LEVEL", "live", STORED, _rerun()))  # a hand status, or drift
@example(("DISCHARGED", "algorithm", STORED, _rerun(fingerprint={"k.py": "00 f"})))
@example(("DISCHARGED", "algorithm", STORED, _rerun(falsifiable={"killed": ["f"]})))
@example(("DISCHARGED", "algorithm", STORED, [{**_rerun()[0], "test": "t.py::b"}]))
@example(("DISCHARGED", "algorithm", STORED * 2, _rerun()))
def test_the_plan_of_an_unchanged_rerun_is_the_general_paths(claim):
    status, level, stored, results = claim
    fast = _plan(status, level, stored, results)
    real = engine._same_single
    try:
        engine._same_single = lambda *a: None  # every claim through the general path
        general = _plan(status, level, stored, results)
    finally:
        engine._same_single = real
    assert fast == general


def test_an_unchanged_rerun_takes_the_shortcut_and_keeps_its_status(monkeypatch):
    seen = []
    real = engine._same_single
    monkeypatch.setattr(engine, "_same_single", lambda *a: seen.append(real(*a)) or seen[-1])
    stored = [{"test": "t.py::a", "outcome": "passed", "level": "algorithm"}]
    results = [{"test": "t.py::a", "ids": ["c::X-1"], "outcome": "passed", "level": "algorithm"}]
    statuses, updates, *_ = _plan("DISCHARGED", "algorithm", stored, results)
    assert seen == ["DISCHARGED"] and statuses["c::X-1"] == ("c", "DISCHARGED", "DISCHARGED")
    assert updates == {}
