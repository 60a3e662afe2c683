"""The verdict: a falsifier's status derived from the evidence of its bound tests.

Pure functions only, so the table of docs/design.md is tested exhaustively without pytest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

PASSED = "passed"
FAILED = "failed"
BLOCKED = "blocked"
#: Outcomes that are reported but are not evidence: they never change a status.
SKIPPED = "skipped"
ERROR = "error"
XFAIL = "xfail"
XPASS = "xpass"
EVIDENCE_OUTCOMES = (PASSED, FAILED, BLOCKED)
ALL_OUTCOMES = (PASSED, FAILED, BLOCKED, SKIPPED, ERROR, XFAIL, XPASS)


def is_evidence(outcome: str) -> bool:
    return outcome in EVIDENCE_OUTCOMES


def verdict(current: str | None, discharge_level: str, evidence: Iterable[Mapping]) -> str:
    """Status of one falsifier.

    `evidence` is the latest record of each bound test (`outcome`, `level`); records that
    are not evidence (skips, errors, xfail/xpass) are ignored, so a run that did not
    exercise a test can never lower a status. With no evidence the status is unchanged.

    A mix of passes and blocked skips is judged on the passes: the blocked test adds
    nothing, and if it was the live one the level is simply not met (PARTIAL).
    """
    records = [e for e in evidence if is_evidence(e.get("outcome", ""))]
    if not records:
        return current or "UNBOUND"
    if any(e["outcome"] == FAILED for e in records):
        return "FALSIFIED"
    passes = [e for e in records if e["outcome"] == PASSED]
    if not passes:
        return "BLOCKER_FIXTURE_ABSENT"
    if discharge_level == "algorithm" or any(e.get("level") == "live" for e in passes):
        return "DISCHARGED"
    return "PARTIAL_ALGORITHM_LEVEL"


#: How much a status claims. A status the tool did not derive is never lowered by evidence
#: without a failure (a pass at a lower level, or blocked tests): see `holds_hand_claim`.
CLAIM_STRENGTH = {
    "DISCHARGED": 3,
    "ACTIVE_WITH_LIVE_EVIDENCE": 3,
    "PARTIAL_ALGORITHM_LEVEL": 2,
    "FUNCTIONAL": 2,
    "BLOCKER_FIXTURE_ABSENT": 1,
}


def holds_hand_claim(on_disk: str | None, derived: str, tool_derived: bool) -> bool:
    """True when `on_disk`, a status typed by hand, stays although the evidence gives `derived`.

    Only a claim the tool did not derive is held (`tool_derived`: the entry carries evidence
    records the tool wrote), only against a weaker status, and never against a failure:
    FALSIFIED always goes through.
    """
    if tool_derived or derived == "FALSIFIED":
        return False
    return CLAIM_STRENGTH.get(derived, 0) < CLAIM_STRENGTH.get(on_disk or "", 0)


def merge(stored: Iterable[Mapping], fresh: Iterable[Mapping]) -> list[dict]:
    """Latest record per test: fresh evidence replaces stored; non-evidence replaces nothing.

    Order: stored order first (so files do not churn), then new tests in the order given.
    """
    out: dict[str, dict] = {str(r["test"]): dict(r) for r in stored}
    for r in fresh:
        if is_evidence(r.get("outcome", "")):
            out[str(r["test"])] = dict(r)
    return list(out.values())


def worst_of(records: Iterable[Mapping]) -> dict | None:
    """Combine several results of one test (e.g. from several hosts), worst wins.

    failed > passed(live) > passed(algorithm) > blocked; non-evidence is dropped.
    """
    rank = {FAILED: 3, PASSED: 1, BLOCKED: 0}
    best: dict | None = None
    best_key = (-1, -1)
    for r in records:
        o = r.get("outcome", "")
        if not is_evidence(o):
            continue
        key = (rank[o], 1 if r.get("level") == "live" else 0)
        if key > best_key:
            best, best_key = dict(r), key
    return best
