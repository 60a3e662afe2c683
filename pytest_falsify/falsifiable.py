"""Is a falsifier falsifiable? Its declared faults against what mutants mode saw. Pure.

A falsifier names the faults that must make its tests fail (`faults: [name, ...]`).
Mutants mode re-runs each bound test under each of its falsifiers' faults and records,
on the test's evidence record, `falsifiable: {killed: [...], survived: [...]}`. Over the
latest records of a falsifier's bound tests:

| declared faults | mutants evidence | state |
|---|---|---|
| none | - | UNPROVEN (no faults declared) |
| some | none of them tried | UNPROVEN (mutants mode has not run them) |
| some | at least one killed a bound test | KILLED |
| some | none killed, some passing bound test not tried (its code changed) | UNPROVEN |
| some | tried on every passing bound test, none killed | VACUOUS |

A FALSIFIED falsifier is KILLED whatever it declares: one of its tests did fail.

`FalsifiableState` is the shape the summary, the JSON report and dashboards read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypedDict

KILLED = "killed"
VACUOUS = "VACUOUS"
UNPROVEN = "unproven"


class FalsifiableState(TypedDict):
    id: str  # qualified falsifier id
    state: str  # KILLED | VACUOUS | UNPROVEN
    declared: list[str]
    killed_by: list[str]
    survived: list[str]
    why: str


def declared_faults(entry_data: Mapping) -> tuple[list[str], str | None]:
    """(fault names, error) from an entry's `faults:` key."""
    raw = entry_data.get("faults")
    if raw is None:
        return [], None
    if not isinstance(raw, list) or not all(isinstance(x, str) and x for x in raw):
        return [], "'faults' must be a list of fault names"
    return list(dict.fromkeys(raw)), None


def record(results: Mapping[str, bool | None], baseline_passed: bool) -> dict[str, list[str]]:
    """The `falsifiable` part of one test's evidence record: {killed: [...], survived: [...]}.

    `results`: fault -> the test failed under it (None: it did not run). Only a test that
    passes without a fault can be killed by one; otherwise its faults prove nothing."""
    if not baseline_passed:
        return {}
    ran = {k: v for k, v in results.items() if v is not None}
    out = {"killed": sorted(k for k, v in ran.items() if v),
           "survived": sorted(k for k, v in ran.items() if not v)}
    return {k: v for k, v in out.items() if v}


def state(qid: str, declared: Iterable[str], records: Iterable[Mapping],
          status: str | None = None) -> FalsifiableState:
    """A FALSIFIED falsifier is KILLED by definition: a bound test of it did fail."""
    declared = list(declared)
    killed: set[str] = set()
    survived: set[str] = set()
    untried = 0  # passing bound tests without mutants evidence for today's code
    records = list(records)
    for r in records:
        f = r.get("falsifiable")
        if isinstance(f, dict) and f:
            killed.update(x for x in f.get("killed", ()) if x in declared)
            survived.update(x for x in f.get("survived", ()) if x in declared)
        elif r.get("outcome") == "passed":
            untried += 1
    survived -= killed
    if status == "FALSIFIED":
        st, why = KILLED, "a bound test fails (FALSIFIED)"
    elif not declared:
        st, why = UNPROVEN, "no faults declared"
    elif killed:
        st, why = KILLED, "killed by " + ", ".join(sorted(killed))
    elif survived and untried:
        # A test whose code changed lost its mutants evidence with its old record: the
        # faults that survived elsewhere prove nothing about it.
        st, why = UNPROVEN, (f"mutants mode has not run its faults on {untried} of "
                             f"{len(records)} bound tests since their code changed")
    elif survived:
        st, why = VACUOUS, "no declared fault makes a bound test fail: " + ", ".join(sorted(survived))
    else:
        st, why = UNPROVEN, "mutants mode has not run its faults"
    return {"id": qid, "state": st, "declared": declared, "killed_by": sorted(killed),
            "survived": sorted(survived), "why": why}


def states(entries: Iterable[tuple], statuses: Mapping[str, tuple],
           results: Mapping[str, Mapping]) -> list[FalsifiableState]:
    """The state of every falsifier: `entries` as (qid, key, stored records, entry data),
    `statuses` the plan's qid -> (key, old, new), `results` this run's results (their
    `falsifiable` parts are the latest word for their tests)."""
    # Only results that tried faults: a test that skipped (a GPU test on a CPU host) or did
    # not pass has an empty `falsifiable` and must not hide its stored mutants evidence.
    fresh_by_test = {t: r for t, r in results.items()
                     if isinstance(r.get("falsifiable"), dict) and r["falsifiable"]}
    fresh_by_qid: dict[str, list[tuple[str, Mapping]]] = {}  # one pass, not one per claim
    for t, r in fresh_by_test.items():
        for qid in dict.fromkeys(r.get("ids", ())):
            fresh_by_qid.setdefault(qid, []).append((t, r))
    out = []
    for qid, _key, stored, data in entries:
        declared, _err = declared_faults(data)
        records = [fresh_by_test.get(str(r.get("test")), r) for r in stored]
        if qid in fresh_by_qid:
            seen = {str(r.get("test")) for r in stored}
            records += [r for t, r in fresh_by_qid[qid] if t not in seen]
        out.append(state(qid, declared, records, statuses.get(qid, (None, None, None))[2]))
    return out


def strict_findings(found: Iterable[FalsifiableState], statuses: Mapping[str, tuple],
                    require_faults: bool) -> list[str]:
    """What `--falsify-strict` refuses: DISCHARGED on a VACUOUS falsifier, and with
    `require_faults` DISCHARGED on an unproven one."""
    refused = (VACUOUS, UNPROVEN) if require_faults else (VACUOUS,)
    return [f"{s['id']}: DISCHARGED but {s['state']} ({s['why']})" for s in found
            if s["state"] in refused and statuses.get(s["id"], (None, None, None))[2] == "DISCHARGED"]
