"""The terminal summary: tally per contract, transitions, what was written."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from . import verdict as V
from .contracts import Entry
from .engine import Plan
from .gate import Gate

COLUMNS = ("DISCHARGED", "PARTIAL", "BLOCKER", "UNBOUND", "FALSIFIED")
_BUCKET = {"DISCHARGED": "DISCHARGED", "PARTIAL_ALGORITHM_LEVEL": "PARTIAL",
           "BLOCKER_FIXTURE_ABSENT": "BLOCKER", "UNBOUND": "UNBOUND", "FALSIFIED": "FALSIFIED"}


def _rel(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


def tally(plan: Plan) -> dict[str, dict[str, int]]:
    """contract -> bucket -> count; hand statuses (PROPOSED, ...) count under OTHER."""
    out: dict[str, dict[str, int]] = {}
    for contract, _old, new in plan.statuses.values():
        row = out.setdefault(contract, dict.fromkeys(COLUMNS + ("OTHER",), 0))
        row[_BUCKET.get(new, "OTHER")] += 1
    return out


def total(rows: dict[str, dict[str, int]]) -> dict[str, int]:
    """The TOTAL row: every column summed over the contracts."""
    out = dict.fromkeys(COLUMNS + ("OTHER",), 0)
    for row in rows.values():
        for k, v in row.items():
            out[k] += v
    return out


def denominators(plan: Plan, evidenced: int, evidenced_label: str = "evidenced this run",
                 not_run: dict[str, int] | None = None) -> str:
    """`N claims · K evidenced this run · F falsified · P partial · U unbound · S not run (...)`:
    every count with the whole it is a part of, so no count reads as more than it is."""
    new = [n for _c, _o, n in plan.statuses.values()]
    parts = [f"{len(new)} claims", f"{evidenced} {evidenced_label}",
             f"{new.count('FALSIFIED')} falsified", f"{new.count('PARTIAL_ALGORITHM_LEVEL')} partial",
             f"{new.count('UNBOUND')} unbound"]
    if not_run is not None:
        n = sum(not_run.values())
        why = ", ".join(f"{k}: {v}" for k, v in sorted(not_run.items(), key=lambda kv: -kv[1]))
        parts.append(f"{n} not run" + (f" ({why})" if why else ""))
    return " · ".join(parts)


def _failing(entry: Entry) -> str:
    bad = [t for t in entry.stored_tests if t.get("outcome") == V.FAILED]
    if not bad:
        return "no failing test on record"
    first = bad[0]
    msg = f": {first['message']}" if first.get("message") else ""
    more = f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""
    return f"failing test {first['test']}{more}{msg}"


def named_claims(entries: Iterable[Entry], partial: bool = True) -> list[str]:
    """One line per FALSIFIED entry (with its failing test on record), then, with
    `partial`, one per PARTIAL_ALGORITHM_LEVEL entry."""
    entries = list(entries)
    out = [f"FALSIFIED {e.id} ({_rel(e.path)}:{e.line}): {_failing(e)}"
           for e in entries if e.status == "FALSIFIED"]
    if partial:
        out += [f"PARTIAL   {e.id} ({_rel(e.path)}:{e.line}): algorithm-level evidence only; "
                f"discharge_level: {e.level}" for e in entries if e.status == "PARTIAL_ALGORITHM_LEVEL"]
    return out


def format_row(name: str, row: dict[str, int], width: int) -> str:
    cells = "  ".join(f"{row[c]:>3} {c}" for c in COLUMNS)
    other = f"  {row['OTHER']:>3} OTHER" if row.get("OTHER") else ""
    return f"{name:<{width}}  {cells}{other}"


def lines(plan: Plan, mode: str, written: Iterable[Path], problems: Iterable[str],
          crashed: Iterable[str], not_run_gpu: int, inert: Iterable[dict] = (),
          max_rows: int = 50, strict: bool = False) -> list[str]:
    out: list[str] = []
    rows = tally(plan)
    sums = total(rows)
    width = max([len(n) for n in rows] + [5])
    names = sorted(rows)
    changed = {t.contract for t in plan.transitions}
    shown = names if len(names) <= max_rows else [n for n in names if n in changed or rows[n]["FALSIFIED"]]
    for n in shown:
        out.append(format_row(n, rows[n], width))
    if len(shown) < len(names):
        out.append(f"({len(names) - len(shown)} unchanged contracts not listed)")
    out.append(format_row("TOTAL", sums, width))
    if plan.transitions:
        out.append("transitions:")
        out.extend(f"  {t}" for t in plan.transitions)
    else:
        out.append("transitions: none")
    for e in plan.unbound_claims:
        out.append(f"  {e.path}:{e.line}: {e.id}: {e.status} claims evidence, no test binds it")
    for h in plan.hand_claims:  # kept, never lowered; an error with --falsify-strict
        out.append(f"  {'error' if strict else 'warning'}: {h.entry.path}:{h.entry.line}: {h}")
    if plan.pruned:
        out.append(f"pruned evidence of {len(plan.pruned)} test(s) that no longer exist")
    if not_run_gpu:
        out.append(f"{not_run_gpu} GPU test(s) did not run; they change no status")
    for c in crashed:
        out.append(f"  crashed (not evidence): {c}")
    for r in inert:  # reported, never hidden, never evidence
        out.append(f"  {r['outcome']} (not evidence): {r['test']}")
    for p in problems:
        out.append(f"  problem: {p}")
    written = [_rel(p) for p in written]
    if mode == "write":
        out.append(f"wrote {len(written)} contract file(s)" + (":" if written else ""))
        out.extend(f"  {p}" for p in written)
    elif mode == "report":
        out.append("report mode: no contract file written")
    return out


def gate_lines(g: Gate) -> list[str]:
    """What the gate saw, one kind per line group, so drift, new failures, stale claims and
    known findings never read alike."""
    out: list[str] = []
    for sf in g["still_falsified"]:
        out.append(f"still falsified (known finding, not a new failure): {sf['id']}: {sf['test']}")
    for t in g["new_failures"]:
        out.append(f"new failure: {t}")
    for f in g["drift"]:
        out.append(f"drift: {_rel(Path(f)) if Path(f).is_absolute() else f}")
    for s in g["stale"]:
        out.append(f"stale: {s}")
    return out
