"""The records that cross module and process boundaries, typed.

All are plain dicts of builtins (they travel from xdist workers on the test reports, go
into JSON reports and into YAML evidence), so they are TypedDicts rather than classes.
Python 3.10 has no `NotRequired`; each record is a required base plus a `total=False`
subclass for the optional keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict


class Binding(TypedDict):
    """What a test's falsifier markers say (`report.falsify`, set in the worker)."""

    #: a tuple: with only strings and a bool beside it, the cyclic GC untracks the binding
    #: that each bound test's reports carry until the run ends (docs/design.md)
    ids: tuple[str, ...]
    level: str  # "algorithm" | "live"
    gpu: bool


class BindingLint(Binding, total=False):
    lint: str  # vacuity.FLAG when the test's source shows it cannot fail


class BindingRun(BindingLint, total=False):
    blocked: str  # the Blocked message, when the test called blocked(reason)
    device: dict  # the CUDA device that ran a GPU test
    still_falsified: bool  # the failure reproduces the committed FALSIFIED verdict
    mutants: dict  # teardown report, mutants mode: fault -> the test failed under it


class _TestResultBase(TypedDict):
    test: str  # the node id
    ids: Sequence[str]  # the binding's tuple in the run; a list once read from JSON
    level: str
    outcome: str  # one of verdict.ALL_OUTCOMES
    metrics: dict[str, object]


class TestResult(_TestResultBase, total=False):
    """One bound test's result in one run (the plugin's results, a report's `tests`)."""

    __test__ = False  # a name pytest would otherwise try to collect

    message: str  # failures and errors: the one-line reason
    example: str  # hypothesis' minimal failing example
    blob: str  # hypothesis' @reproduce_failure(...)
    reason: str  # skips and blocked tests
    device: dict
    date: str  # ISO date of the run
    commit: str  # git commit of the run, 12 hex digits, "-dirty" when the tree was not clean
    host: str  # the machine that ran it
    fingerprint: dict[str, str]  # file -> "name@digest ..." of the code it ran (fingerprint.py)
    dirty: bool  # some of that code had uncommitted changes
    falsifiable: dict[str, list[str]]  # mutants mode: {killed: [fault], survived: [fault]}


class _EvidenceBase(TypedDict):
    test: str
    outcome: str
    level: str


class EvidenceRecord(_EvidenceBase, total=False):
    """The part of a TestResult a contract keeps under `evidence.tests`."""

    metrics: dict[str, object]
    message: str  # failed only
    example: str  # failed only
    blob: str  # failed only
    reason: str  # blocked only
    device: dict
    date: str
    commit: str
    host: str
    fingerprint: dict[str, str]
    dirty: bool
    falsifiable: dict[str, list[str]]


class FalsifierRow(TypedDict):
    """One falsifier in a JSON report."""

    id: str
    contract: str
    old_status: str
    new_status: str
    tests: list[str]


class HandClaimRow(TypedDict):
    """A status set by hand that the evidence does not support (kept, never lowered)."""

    id: str
    claimed: str
    evidence_shows: str


class Report(TypedDict):
    """A JSON run report (`--falsify-report`), format `pytest-falsify-report/1`."""

    format: str
    provenance: dict[str, object]
    mode: str
    exitstatus: int
    interrupted: bool
    falsifiers: list[FalsifierRow]
    tests: list[TestResult]
    crashed: list[str]
    unbound_claims: list[str]
    hand_claims: list[HandClaimRow]
    written: list[str]
    problems: list[str]
    gate: dict | None  # gate.Gate: exit code and what decided it (None: interrupted run)
    stale: list[dict]  # freshness.StaleClaim: stored evidence whose code changed
    falsifiable: list[dict]  # falsifiable.FalsifiableState of every falsifier
    lint: dict[str, str]  # node id -> vacuity.FLAG
