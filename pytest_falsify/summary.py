"""The terminal summary: tally per contract, transitions, what was written."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import verdict as V

if TYPE_CHECKING:  # a run without a falsify mode shows contract errors, and loads no engine
    from .contracts import Entry
    from .engine import Plan
    from .gate import Gate

COLUMNS = ("DISCHARGED", "PARTIAL", "BLOCKER", "UNBOUND", "FALSIFIED")
_BUCKET = {"DISCHARGED": "DISCHARGED", "PARTIAL_ALGORITHM_LEVEL": "PARTIAL",
           "BLOCKER_FIXTURE_ABSENT": "BLOCKER", "UNBOUND": "UNBOUND", "FALSIFIED": "FALSIFIED"}


def rel(path: Path) -> str:
    """`path` relative to the working directory (as the terminal shows paths)."""
    return _rel(str(path), os.getcwd())


@functools.lru_cache(maxsize=8192)  # a summary names the same files many times
def _rel(path: str, cwd: str) -> str:
    try:
        return os.path.relpath(path, cwd)
    except ValueError:  # another drive on Windows
        return path


#: Counted beside the status columns (a stale claim also counts under its status).
FLAGS = ("STALE", "VACUOUS")


def tally(plan: Plan, stale: Iterable[str] = (), vacuous: Iterable[str] = ()) -> dict[str, dict[str, int]]:
    """contract -> bucket -> count; hand statuses (PROPOSED, ...) count under OTHER;
    STALE counts the falsifiers (qualified ids in `stale`) with stale stored evidence,
    VACUOUS those whose declared faults kill none of their tests."""
    stale, vacuous = set(stale), set(vacuous)
    out: dict[str, dict[str, int]] = {}
    for fid, (contract, _old, new) in plan.statuses.items():
        row = out.get(contract)
        if row is None:  # not setdefault: its default would be built for every claim
            row = out[contract] = dict.fromkeys(COLUMNS + ("OTHER",) + FLAGS, 0)
        row[_BUCKET.get(new, "OTHER")] += 1
        row["STALE"] += fid in stale
        row["VACUOUS"] += fid in vacuous
    return out


def total(rows: dict[str, dict[str, int]]) -> dict[str, int]:
    """The TOTAL row: every column summed over the contracts."""
    out = dict.fromkeys(COLUMNS + ("OTHER",) + FLAGS, 0)
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


def _failing(entry: Entry, fresh: Iterable[Mapping] = ()) -> str:
    """The failing test of a FALSIFIED entry: this run's failure if any, else the stored one."""
    bad = [t for t in fresh if t.get("outcome") == V.FAILED]
    bad = bad or [t for t in entry.stored_tests if t.get("outcome") == V.FAILED]
    if not bad:
        return "no failing test on record"
    first = bad[0]
    msg = f": {first['message']}" if first.get("message") else ""
    more = f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""
    return f"failing test {first['test']}{more}{msg}"


def _bound(results: Mapping[str, Mapping]) -> dict[str, list[Mapping]]:
    """falsifier id -> this run's results of the tests bound to it."""
    out: dict[str, list[Mapping]] = {}
    for test in sorted(results):
        for fid in results[test].get("ids", ()):
            out.setdefault(fid, []).append(results[test])
    return out


def named_claims(entries: Iterable[Entry], partial: bool = True,
                 statuses: Mapping[str, tuple[str, str, str]] | None = None,
                 results: Mapping[str, Mapping] | None = None,
                 bound: Mapping[str, list[Mapping]] | None = None) -> list[str]:
    """One line per FALSIFIED entry with its failing test (this run's, else the one on
    record), then, with `partial`, one per PARTIAL_ALGORITHM_LEVEL entry. `statuses`
    (a plan's) gives the derived status; without it, the status on disk counts.
    `bound`: `_bound(results)`, when the caller has it."""
    entries = list(entries)
    bound = _bound(results or {}) if bound is None else bound

    def status(e: Entry) -> str | None:
        return statuses[e.qid][2] if statuses and e.qid in statuses else e.status

    out = [f"FALSIFIED {e.qid} ({rel(e.path)}:{e.line}): {_failing(e, bound.get(e.qid, ()))}"
           for e in entries if status(e) == "FALSIFIED"]
    if partial:
        out += [f"PARTIAL   {e.qid} ({rel(e.path)}:{e.line}): algorithm-level evidence only; "
                f"discharge_level: {e.level}" for e in entries if status(e) == "PARTIAL_ALGORITHM_LEVEL"]
    return out


#: skip reasons are grouped by this many leading characters
_REASON_WIDTH = 48


def run_census(plan: Plan, entries: Iterable[Entry], results: Mapping[str, Mapping],
               bound: Mapping[str, list[Mapping]] | None = None) -> tuple[int, dict[str, int]]:
    """(claims evidenced by this run, why the others were not: reason -> claims).

    A claim is evidenced when one of its bound tests passed, failed or was blocked in
    this run. The others: its tests ran but did not give evidence (the skip reason, or
    the outcome: error, xfail), none of them was selected this run ("not selected"), or
    no test binds it at all ("no bound test"). `bound`: `_bound(results)`, when the caller
    has it."""
    bound = _bound(results) if bound is None else bound
    stored: set[str] | None = None  # built only if some claim had no bound test run
    evidenced = 0
    why: dict[str, int] = {}
    evidence = V.EVIDENCE_OUTCOMES
    for fid in plan.statuses:
        rs = bound.get(fid, ())
        # Once per claim, thousands of times: a claim's one result without a generator.
        if (rs[0]["outcome"] in evidence if len(rs) == 1
                else any(r["outcome"] in evidence for r in rs)):
            evidenced += 1
            continue
        if rs:
            r = rs[0]
            reason = r["outcome"]
            if reason == V.SKIPPED:
                reason = str(r.get("reason") or reason).removeprefix("Skipped: ")
            reason = reason if len(reason) <= _REASON_WIDTH else reason[:_REASON_WIDTH - 3] + "..."
        else:
            if stored is None:
                stored = {e.qid for e in entries if e.stored_tests}
            reason = "not selected" if fid in stored else "no bound test"
        why[reason] = why.get(reason, 0) + 1
    return evidenced, why


def format_row(name: str, row: dict[str, int], width: int) -> str:
    cells = "  ".join(f"{row[c]:>3} {c}" for c in COLUMNS)
    extra = "".join(f"  {row[k]:>3} {k}" for k in ("OTHER",) + FLAGS if row.get(k))
    return f"{name:<{width}}  {cells}{extra}"


#: transitions, changed contracts' rows and written files the plugin's summary lists
LONG_LISTS = 50


def _head(items: Sequence, limit: int | None) -> Sequence:
    return items if limit is None else items[:limit]


def _more(items: Sequence, limit: int | None, what: str) -> list[str]:
    n = len(items) - (len(items) if limit is None else limit)
    return [f"  ... and {n} more {what} (-v lists them all; so does --falsify-report)"] if n > 0 else []


def lines(plan: Plan, mode: str, written: Iterable[Path], problems: Iterable[str],
          crashed: Iterable[str], not_run_gpu: int, inert: Iterable[dict] = (),
          max_rows: int = 50, entries: Iterable[Entry] = (),
          results: Mapping[str, Mapping] | None = None, strict: bool = False,
          stale: Iterable[str] = (), vacuous: Iterable[str] = (),
          long_lists: int | None = None) -> list[str]:
    """The summary of a run (or `falsify apply`): the story first (what stands FALSIFIED,
    one line each with its failing test, and every transition), then the tally with its
    denominators, then what was not evidence and what was written.

    `long_lists`: how many transitions, changed contracts' rows and written files to
    list before counting the rest (None: all; the plugin's -v). FALSIFIED claims are
    always listed, every one."""
    entries = list(entries)
    bound = _bound(results or {})  # once, for both uses below
    out = named_claims(entries, partial=False, statuses=plan.statuses, bound=bound)
    if plan.transitions:
        out.append("transitions:")
        out.extend(f"  {t}" for t in _head(plan.transitions, long_lists))
        out.extend(_more(plan.transitions, long_lists, "transitions"))
    else:
        out.append("transitions: none")
    rows = tally(plan, stale, vacuous)
    width = max([len(n) for n in rows] + [5])
    names = sorted(rows)
    changed = {t.contract for t in plan.transitions}
    shown = names if len(names) <= max_rows else [n for n in names if n in changed or rows[n]["FALSIFIED"]]
    unchanged = len(names) - len(shown)
    for n in _head(shown, long_lists):
        out.append(format_row(n, rows[n], width))
    if unchanged:
        out.append(f"({unchanged} unchanged contracts not listed)")
    out.extend(_more(shown, long_lists, "changed contracts (their rows)"))
    out.append(format_row("TOTAL", total(rows), width))
    if results is not None:
        evidenced, why = run_census(plan, entries, results, bound)
        out.append(denominators(plan, evidenced, not_run=why))
    for e in plan.unbound_claims:
        out.append(f"  {rel(e.path)}:{e.line}: {e.qid}: {e.status} claims evidence, no test binds it")
    for h in plan.hand_claims:  # kept, never lowered; an error with --falsify-strict
        out.append(f"  {'error' if strict else 'warning'}: {rel(h.entry.path)}:{h.entry.line}: {h}")
    if plan.pruned:
        out.append(f"pruned evidence of {len(plan.pruned)} test(s) that no longer exist")
    if not_run_gpu:
        out.append(f"{not_run_gpu} GPU test(s) did not run (skipped); they change no status")
    for c in crashed:
        out.append(f"  crashed (not evidence): {c}")
    for r in inert:  # reported, never hidden, never evidence
        out.append(f"  {r['outcome']} (not evidence): {r['test']}")
    for n in plan.notes:
        out.append(f"  note: {n}")
    for p in problems:
        out.append(f"  problem: {p}")
    written = [rel(p) for p in written]
    if mode == "write":
        out.append(f"wrote {len(written)} contract file(s)" + (":" if written else ""))
        out.extend(f"  {p}" for p in _head(written, long_lists))
        out.extend(_more(written, long_lists, "files"))
    elif mode == "report":
        out.append("report mode: no contract file written")
    return out


def error_block(errors: Sequence, limit: int = 20) -> list[str]:
    """Contract errors as one block: each `file:line: message` with its fix, at most
    `limit` of them, then how many more (`falsify validate` lists them all)."""
    out = []
    for e in errors[:limit]:
        out.append(f"{rel(e.path)}:{e.line}: {e.message}")
        out.append(f"    fix: {e.fix}")
    if len(errors) > limit:
        out.append(f"... and {len(errors) - limit} more (falsify validate lists them all)")
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
        out.append(f"drift: {rel(Path(f)) if Path(f).is_absolute() else f}")
    return out


def stale_lines(stale: Iterable[dict]) -> list[str]:
    """One line per stale stored record: the claim, the test, what changed, and the run
    that produced the evidence (commit, host, date)."""
    out = []
    for s in stale:
        where = ", ".join(str(x) for x in (s.get("commit"), s.get("host"), s.get("date")) if x)
        out.append(f"stale: {s['id']}: {s['test']} (evidence of {where or 'unknown provenance'}): "
                   + "; ".join(s["changed"]))
    return out


def falsifiable_lines(states: Iterable[dict], lint: dict[str, str], mutants: bool) -> list[str]:
    """VACUOUS falsifiers always; in mutants mode the whole count and each unproven one;
    the static vacuity lint's flags."""
    states = list(states)
    by = {k: [s for s in states if s["state"] == k] for k in ("killed", "VACUOUS", "unproven")}
    out = []
    if mutants:
        out.append(f"falsifiable: {len(by['killed'])} killed, {len(by['VACUOUS'])} VACUOUS, "
                   f"{len(by['unproven'])} unproven")
    for s in by["VACUOUS"]:
        out.append(f"VACUOUS: {s['id']}: {s['why']}")
    if mutants:
        for s in by["unproven"]:
            out.append(f"unproven: {s['id']}: {s['why']}")
    for test, flag in sorted(lint.items()):
        out.append(f"vacuity lint: {test}: {flag}")
    return out


#: lines of one kind shown in the terminal summary before the rest are counted (-v: all)
FOLD_AT = 10


def fold(lines: Iterable[str], limit: int | None = FOLD_AT) -> list[str]:
    """`lines` with each run of more than `limit` consecutive lines of one kind (the same
    text before the first ': ') cut to `limit` and a count, so thousands of findings of one
    kind (every test of a corpus flagged by the lint, every hand claim) do not bury the
    story. None: every line."""
    lines = list(lines)
    if limit is None:
        return lines
    out: list[str] = []
    i = 0
    while i < len(lines):
        kind = lines[i].partition(": ")[0]
        j = i
        while j < len(lines) and lines[j].partition(": ")[0] == kind and ": " in lines[j]:
            j += 1
        if j - i > limit:
            indent = kind[: len(kind) - len(kind.lstrip())]
            out += lines[i:i + limit]
            out.append(f"{indent}... and {j - i - limit} more '{kind.strip()}' lines "
                       "(-v shows them all; --falsify-report lists them)")
            i = j
        else:
            out.append(lines[i])
            i += 1
    return out
