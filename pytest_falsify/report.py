"""The JSON run report, and merging several reports (e.g. CPU CI + a CUDA host)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from . import reportschema
from . import verdict as V
from .engine import Plan
from .falsifiable import FalsifiableState
from .freshness import StaleClaim
from .gate import Gate
from .records import FalsifierRow, Report, TestResult

FORMAT = "pytest-falsify-report/1"


def build(provenance: Mapping, mode: str, exitstatus: int, plan: Plan | None,
          results: Mapping[str, TestResult], written: Iterable[Path], problems: Iterable[str],
          crashed: Iterable[str], interrupted: bool = False, gate: Gate | None = None,
          stale: Iterable[StaleClaim] = (), falsifiable: Iterable[FalsifiableState] = (),
          lint: Mapping[str, str] | None = None) -> Report:
    """The report of one run; `interrupted`: the run wrote no contract (Ctrl-C, collection
    errors), so its statuses are the ones on disk and `falsify apply` ignores its tests."""
    falsifiers: list[FalsifierRow] = []
    if plan is not None:
        tests_of: dict[str, list[str]] = {}
        for test, r in results.items():
            for fid in r.get("ids", ()):
                tests_of.setdefault(fid, []).append(test)
        for fid, (contract, old, new) in sorted(plan.statuses.items()):
            falsifiers.append({"id": fid, "contract": contract, "old_status": old,
                               "new_status": new, "tests": sorted(tests_of.get(fid, []))})
    return {
        "format": FORMAT,
        "provenance": dict(provenance),
        "mode": mode,
        "exitstatus": int(exitstatus),
        "interrupted": bool(interrupted),
        "falsifiers": falsifiers,
        "tests": [dict(results[k]) for k in sorted(results)],
        "crashed": sorted(crashed),
        "unbound_claims": [e.qid for e in plan.unbound_claims] if plan else [],
        "hand_claims": [{"id": h.entry.qid, "claimed": h.claimed, "evidence_shows": h.evidence_shows}
                        for h in plan.hand_claims] if plan else [],
        "written": [str(p) for p in written],
        "problems": list(problems),
        "gate": dict(gate) if gate is not None else None,
        "stale": [dict(s) for s in stale],
        "falsifiable": [dict(f) for f in falsifiable],
        "lint": dict(lint or {}),
    }


def dump(report: Mapping, path: Path) -> None:
    from .atomic import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, (json.dumps(report, indent=2, sort_keys=False, default=str) + "\n").encode())


def load(path: Path) -> Report:
    """A report from disk, checked against its schema and bounds (reportschema).
    ValueError (naming `path`) when it is too big, not JSON, not a report or out of
    bounds; OSError when it cannot be read."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{path}: not a pytest-falsify report (not a regular file)")
    if st.st_size > reportschema.MAX_REPORT_BYTES:
        raise ValueError(f"{path}: report larger than {reportschema.MAX_REPORT_BYTES:,} bytes "
                         "(limit MAX_REPORT_BYTES)")
    try:
        data = json.loads(Path(path).read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a pytest-falsify report (not UTF-8: {exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: not a pytest-falsify report "
                         f"(invalid JSON: {exc.msg}, column {exc.colno})") from None
    except (RecursionError, ValueError) as exc:  # nesting too deep; an int of > 4,300 digits
        raise ValueError(f"{path}: not a usable report ({str(exc)[:80] or 'nested too deep'})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path}: not a pytest-falsify report (format {FORMAT!r} expected)")
    try:
        reportschema.check(data)
    except reportschema.ReportProblem as exc:
        raise ValueError(f"{path}: bad report: {exc}") from None
    return data


def merge_results(reports: Iterable[Mapping]) -> dict[str, TestResult]:
    """One result per test across reports: a failure anywhere wins, then a live pass."""
    by_test: dict[str, list[TestResult]] = {}
    for rep in reports:
        for t in rep.get("tests", ()):
            by_test.setdefault(str(t["test"]), []).append(t)
    out: dict[str, TestResult] = {}
    for test, rs in by_test.items():
        best = V.worst_of(rs)
        if best is not None:
            out[test] = best
    return out
