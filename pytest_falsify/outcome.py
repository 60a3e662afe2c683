"""A bound test's outcome from its phase reports (setup, call, teardown). Pure.

The plugin feeds each report of a bound test through `classify`; these functions only
read the attributes pytest's TestReport has (`when`, `passed`, `failed`, `skipped`,
`longrepr`, `longreprtext`, `user_properties`, `wasxfail`), so they are tested with plain
report-like objects, without pytest.

The rules: a setup failure or a teardown failure is an ERROR (the result cannot be
trusted); a skip is SKIPPED, or BLOCKED when the test called `blocked(reason)`; xfail
and xpass (strict or not) are reported but are not evidence; a call failure is FAILED
with its one-line message and, for hypothesis, the minimal example and the blob.
"""

from __future__ import annotations

from . import evidence
from . import verdict as V
from .records import BindingRun, TestResult

PHASES = ("setup", "call", "teardown")
BLOCKED_PREFIX = "BLOCKER_FIXTURE_ABSENT: "
_MAX_REASON = 300


def is_worker_crash(report) -> bool:
    """xdist's report of a worker that died running the test (its `when` is no phase)."""
    return report.when not in PHASES and bool(report.failed)


def start(nodeid: str, info: BindingRun) -> TestResult:
    """The result of a bound test before any of its phases is seen. Its `ids` is the
    binding's own list (never edited: no copy per test, thousands of which would stay
    alive through the run and cost it an extra full GC collection)."""
    r: TestResult = {"test": nodeid, "ids": info["ids"], "level": info["level"],
                     "outcome": V.SKIPPED, "metrics": {}}
    if info.get("device"):
        r["device"] = info["device"]
    return r


def passes_plainly(report, info: BindingRun) -> bool:
    """Whether `report` is a passing call with nothing to record (no metrics, not an
    xpass): `classify` of it on a test's fresh result gives `passed`."""
    return (report.when == "call" and report.passed
            and not hasattr(report, "wasxfail") and not info.get("still_falsified")
            and not getattr(report, "user_properties", None)
            and not getattr(report, evidence.SUITE_METRICS, None))


def passed(nodeid: str, info: BindingRun) -> TestResult:
    """The result of a bound test whose call `passes_plainly`, as `classify` makes it."""
    r = start(nodeid, info)
    r["outcome"] = V.PASSED
    return r


def classify(result: TestResult, report, info: BindingRun) -> TestResult:
    """`result` updated by one phase report; a new dict, `result` is left as it was."""
    r: TestResult = dict(result)
    r["metrics"] = evidence.report_metrics(report)
    when = report.when
    if when == "setup":
        if report.failed:
            _fail(r, V.ERROR, report)
        elif report.skipped:
            _skip(r, report, info)
    elif when == "call":
        if info.get("still_falsified"):  # shown as XFAIL by pytest, evidence as a failure
            _failed(r, report)
        elif hasattr(report, "wasxfail"):
            _fail(r, V.XPASS if report.passed else V.XFAIL, report)
        elif report.passed:
            r["outcome"] = V.PASSED
        elif report.failed:
            if str(report.longrepr).startswith("[XPASS(strict)]"):
                _fail(r, V.XPASS, report)
            else:
                _failed(r, report)
        elif report.skipped:
            _skip(r, report, info)
    elif when == "teardown" and report.failed:
        _fail(r, V.ERROR, report)
    return r


def skip_reason(longrepr) -> str:
    """The reason of a skip report: pytest's longrepr is (path, line, reason) for skips."""
    lr = longrepr
    return str(lr[2] if isinstance(lr, tuple) and len(lr) == 3 else lr)[:_MAX_REASON]


def _skip(r: TestResult, report, info: BindingRun) -> None:
    if "blocked" in info:
        r["outcome"] = V.BLOCKED
        r["reason"] = info["blocked"].removeprefix(BLOCKED_PREFIX)
    else:
        r["outcome"] = V.SKIPPED
        r["reason"] = skip_reason(report.longrepr)


def _failed(r: TestResult, report) -> None:
    _fail(r, V.FAILED, report)
    ex, blob = evidence.hypothesis_details(getattr(report, "longreprtext", "") or "")
    if ex:
        r["example"] = ex
    if blob:
        r["blob"] = blob


def _fail(r: TestResult, outcome: str, report) -> None:
    r["outcome"] = outcome
    r["message"] = evidence.short_message(report)
