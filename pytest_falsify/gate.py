"""The gate: which failures are known findings, and the exit code of a falsify run. Pure.

A failure that reproduces a committed FALSIFIED verdict (the falsifier's status on disk is
FALSIFIED and its stored evidence holds a failure of this very test) is *still falsified*:
a finding the contract already records, not a red build. Any other failure is new.

The exit code keeps pytest's own codes (0 passed, 1 a test failed, 2 interrupted, 3
internal error, 4 usage error, 5 no tests) and adds one per kind of gate failure, so CI
can tell them apart. The most serious kind present wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypedDict

from . import verdict as V

OK = 0
NEW_FAILURE = 1  #: pytest's TESTS_FAILED: a test failed that no committed verdict explains
DRIFT = 6  #: the contracts on disk disagree with what the tests prove
STALE = 7  #: --falsify-strict: stored evidence whose code has changed (or was dirty)
UNPROVEN = 8  #: --falsify-strict: VACUOUS, unproven (ini), unbound or hand-claimed statuses

EXIT_CODES = {OK: "gate passed", NEW_FAILURE: "a test failed (new failure)",
              DRIFT: "drift: contracts disagree with the tests",
              STALE: "stale evidence (strict)",
              UNPROVEN: "claims without proof: VACUOUS, unproven, unbound or hand-set (strict)"}


class Gate(TypedDict):
    """What a check decided; in the JSON report under `gate`, and read by dashboards."""

    exit: int
    verdict: str  # EXIT_CODES[exit]
    new_failures: list[str]  # node ids
    still_falsified: list[dict]  # {"id": qualified id, "test": node id}
    drift: list[str]  # contract files whose derived text differs from disk
    stale: list[str]  # qualified ids of falsifiers with stale stored evidence
    unproven: list[str]  # strict findings that are not stale: "ID: why"


def is_known_failure(status: str | None, stored_tests: Iterable[Mapping], test: str) -> bool:
    """True when `test` failing reproduces the committed verdict of one falsifier."""
    if status != "FALSIFIED":
        return False
    return any(str(r.get("test")) == test and r.get("outcome") == V.FAILED for r in stored_tests)


def known_for_all(entries: Iterable[tuple[str | None, Iterable[Mapping]]], test: str) -> bool:
    """A failure is still-falsified only if it reproduces the verdict of *every* falsifier the
    test is bound to; for any other bound falsifier it is new evidence (a new failure)."""
    entries = list(entries)
    return bool(entries) and all(is_known_failure(s, stored, test) for s, stored in entries)


def exit_code(pytest_status: int, *, new_failure: bool, drift: bool, stale: bool,
              unproven: bool) -> int:
    """The run's exit code: pytest's own unless the gate adds a more specific one.

    `pytest_status` other than 0/1 (interrupted, usage error, no tests) is kept as it is.
    """
    if pytest_status not in (OK, NEW_FAILURE):
        return pytest_status
    if new_failure or pytest_status == NEW_FAILURE:
        return NEW_FAILURE
    if drift:
        return DRIFT
    if stale:
        return STALE
    if unproven:
        return UNPROVEN
    return OK


def build(pytest_status: int, *, new_failures: Iterable[str], still_falsified: Iterable[dict],
          drift: Iterable[str], stale: Iterable[str], unproven: Iterable[str], strict: bool) -> Gate:
    new_failures, drift, stale, unproven = (sorted(set(x)) for x in (new_failures, drift, stale, unproven))
    code = exit_code(pytest_status, new_failure=bool(new_failures), drift=bool(drift),
                     stale=strict and bool(stale), unproven=strict and bool(unproven))
    return {"exit": code, "verdict": EXIT_CODES.get(code, f"pytest exit {code}"),
            "new_failures": new_failures,
            "still_falsified": sorted(still_falsified, key=lambda d: (d["id"], d["test"])),
            "drift": drift, "stale": stale, "unproven": unproven}
