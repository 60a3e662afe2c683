"""From test results to contract edits: merge, derive, plan, render, write, check.

Shared by the plugin (one run) and the CLI (`falsify apply` over several reports), so
both follow exactly the same rules.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import os
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import atomic, freshness
from . import index as light
from . import verdict as V
from .atomic import locked
from .contracts import CLAIMING_STATUSES, SEP, ContractSet, Entry, bulk, parse_text
from .fingerprint import SourceIndex
from .records import EvidenceRecord
from .rewrite import EntryUpdate, Options, RewriteError, rewrite
from .settings import Settings
from .yamlsafe import MAX_FILE_BYTES

#: Keys of a test result that are stored in a contract's evidence.
_STORED_KEYS = ("test", "outcome", "level", "metrics", "message", "example", "blob", "reason",
                "device", "date", "commit", "host", "dirty", "fingerprint", "falsifiable")
#: Values a contract record leaves out.
_EMPTY = (None, {}, "", False)


def contract_record(result: Mapping) -> EvidenceRecord:
    """The part of a test result that a contract file keeps (in `_STORED_KEYS` order)."""
    rec: EvidenceRecord = {}
    for k in _STORED_KEYS:
        if k in result and result[k] not in _EMPTY:
            rec[k] = result[k]
    if rec.get("outcome") != V.FAILED:
        for k in ("message", "example", "blob"):
            rec.pop(k, None)
    if rec.get("outcome") != V.BLOCKED:
        rec.pop("reason", None)
    return rec


def _signature(records: Iterable[Mapping]) -> list[tuple]:
    return sorted((str(r.get("test")), r.get("outcome"), r.get("level")) for r in records)


def _refreshes(by_test: Mapping[str, Mapping], fresh: Iterable[Mapping],
               index: SourceIndex | None) -> bool:
    """A fresh record of unchanged outcome replaces a stored one whose code has changed
    (`by_test`: the stored records by test)."""
    if index is None or not by_test:
        return False
    return any(freshness.replaces(by_test[str(f["test"])], f, index) for f in fresh
               if str(f.get("test")) in by_test and V.is_evidence(str(f.get("outcome", ""))))


@dataclass
class Transition:
    contract: str
    id: str
    old: str
    new: str

    def __str__(self) -> str:
        return f"{self.id}: {self.old} -> {self.new}"


@dataclass
class HandClaim:
    """A status typed by hand that the evidence does not support, kept (never lowered)."""

    entry: Entry
    claimed: str  # the status on disk
    evidence_shows: str  # what the evidence derives

    def __str__(self) -> str:
        return (f"{self.entry.qid}: claimed {self.claimed} by hand; "
                f"evidence shows {self.evidence_shows}")


@dataclass
class Plan:
    #: the edits to write, by file (`write` empties it once they are written)
    updates: dict[Path, dict[str, EntryUpdate]] = field(default_factory=dict)
    transitions: list[Transition] = field(default_factory=list)
    #: qualified id `KEY::ID` -> (contract key, old status, new status) for every falsifier
    statuses: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    unbound_claims: list[Entry] = field(default_factory=list)
    pruned: list[tuple[str, str]] = field(default_factory=list)  # (qualified id, test)
    orphans: list[str] = field(default_factory=list)  # qualified ids with results but no entry
    hand_claims: list[HandClaim] = field(default_factory=list)
    #: what the write phase did besides the plan (an interrupted write finished): info only
    notes: list[str] = field(default_factory=list)

    def drop(self, path: Path, name: str) -> None:
        """Forget the updates of a file that is not written: its entries keep the status
        on disk in the tally, and none of its transitions is listed."""
        qids = {f"{name}{SEP}{fid}" for fid in self.updates.pop(path, {})}
        for qid in qids:
            if qid in self.statuses:
                contract, old, _ = self.statuses[qid]
                self.statuses[qid] = (contract, old, old)
        self.transitions = [t for t in self.transitions if t.id not in qids]


def qualified(cset: ContractSet, fid: str) -> str:
    """`fid` as a qualified id: itself when qualified or unknown, else the one contract's."""
    if SEP in fid:
        return fid
    qids = cset.qids_of.get(fid, ())
    return qids[0] if len(qids) == 1 else fid


def unchanged_plan(cset: ContractSet | None) -> Plan:
    """Every falsifier with its status on disk as both old and new: a run that wrote nothing."""
    plan = Plan()
    for contract in cset.contracts if cset is not None else ():
        for entry in contract.entries:
            old = entry.status or "UNBOUND"
            plan.statuses[entry.qid] = (contract.name, old, old)
    return plan


def make_plan(cset: ContractSet, results: Mapping[str, Mapping],
              prune: Callable[[str], bool] | None = None, index: SourceIndex | None = None) -> Plan:
    """Derive every falsifier's status from stored evidence plus this run's `results`.

    `results` maps a test id to its result (with `ids`, `outcome`, `level`, ...). Its ids
    are qualified (`KEY::ID`); a bare id that exactly one contract has (a report written
    before ids were qualified) counts for that contract.
    """
    with bulk():
        return _make_plan(cset, results, prune, index)


def _make_plan(cset: ContractSet, results: Mapping[str, Mapping],
               prune: Callable[[str], bool] | None, index: SourceIndex | None) -> Plan:
    plan = Plan()
    bound: dict[str, list[Mapping]] = {}
    for test in sorted(results):
        r = results[test]
        for fid in r.get("ids", ()):
            bound.setdefault(qualified(cset, fid), []).append(r)
    for fid in sorted(set(bound) - set(cset.by_qid)):
        plan.orphans.append(fid)
    # Once per claim, 8,930 times at aprender's scale: the common cases (no stored
    # evidence, no fresh result) skip the steps that would find nothing.
    for contract in cset.contracts:
        for entry in contract.entries:
            qid = entry.qid
            old = entry.status or "UNBOUND"
            stored = entry.stored_tests
            kept = [r for r in stored if not prune(str(r["test"]))] if prune and stored else stored
            if len(kept) != len(stored):
                plan.pruned.extend((qid, str(r["test"])) for r in stored if r not in kept)
            raw = bound.get(qid)
            if raw and len(kept) == len(stored) and (same := _same_single(entry, raw, stored, index)):
                plan.statuses[qid] = (contract.name, old, same)
                continue
            refreshed = False
            if raw:
                fresh = [contract_record(r) for r in raw]
                by_test = {str(r.get("test")): r for r in kept}
                refreshed = _refreshes(by_test, fresh, index)
                if by_test:  # carry() copies a record with nothing stored to carry from
                    fresh = [freshness.carry(by_test.get(str(f["test"])), f, index) for f in fresh]
                merged = V.merge(kept, fresh)
            else:
                merged = V.merge(kept, ())
            new = V.verdict(entry.status, entry.level, merged)
            if V.holds_hand_claim(entry.status, new, tool_derived=bool(stored)):
                # Not a status the tool derived: it stays, and the entry is left as it is
                # (evidence written here would make the next run treat it as derived).
                plan.hand_claims.append(HandClaim(entry, old, new))
                plan.statuses[qid] = (contract.name, old, old)
                continue
            plan.statuses[qid] = (contract.name, old, new)
            if not raw and not stored and old in CLAIMING_STATUSES:
                plan.unbound_claims.append(entry)
            status_changes = new != old and bool(merged)
            evidence_changes = refreshed or (
                bool(merged) if not stored  # new evidence for a claim that had none
                else (bool(raw) or len(kept) != len(stored)) and (
                    _signature(merged) != _signature(stored)))
            if not (status_changes or evidence_changes):
                continue
            upd = EntryUpdate(entry.id, entry.status, new if status_changes else None,
                              {"tests": merged} if evidence_changes or status_changes else None)
            plan.updates.setdefault(contract.path, {})[entry.id] = upd
            if status_changes:
                plan.transitions.append(Transition(contract.name, qid, old, new))
    return plan


def _same_single(entry: Entry, raw: list[Mapping], stored: list[Mapping],
                 index: SourceIndex | None) -> str | None:
    """The status of an entry whose one bound test ran again as stored and changes
    nothing (same test, outcome and level, no code keys to weigh, status unchanged): what
    the general path of `_make_plan` gives it, without building the records it would
    only compare. None: not that case, the general path decides."""
    if len(raw) != 1 or len(stored) != 1:
        return None
    r, s = raw[0], stored[0]
    if (str(r.get("test")) != str(s.get("test")) or r.get("outcome") != s.get("outcome")
            or r.get("level") != s.get("level")):
        return None
    new = V.verdict(entry.status, entry.level, raw)
    # A result that would refresh the stored record (its code changed, mutants evidence)
    # is the general path's: with the raw result, `_refreshes` errs only towards yes.
    if new != (entry.status or "UNBOUND") or _refreshes({str(s["test"]): s}, raw, index):
        return None
    return new


@dataclass
class Rendered:
    path: Path
    old: str
    new: str
    bom: bool
    name: str = ""  # the contract's name in the plan
    #: what the loader made of `new` (contract, errors, notes): checked before writing,
    #: and kept so the parse cache can record the written file without parsing it again
    loaded: tuple | None = field(default=None, repr=False)

    def diff(self) -> str:
        return "".join(difflib.unified_diff(
            self.old.splitlines(keepends=True), self.new.splitlines(keepends=True),
            fromfile=f"{self.path} (on disk)", tofile=f"{self.path} (derived)"))


def render(cset: ContractSet, plan: Plan, today: _dt.date,
           options: Options | None = None) -> tuple[list[Rendered], list[str]]:
    """New texts of the contracts that change, plus the problems of those that cannot.

    A contract that cannot be rewritten is dropped from `plan` (Plan.drop), so nothing
    reports it as changed.
    """
    with bulk():
        return _render(cset, plan, today, options)


def _render(cset: ContractSet, plan: Plan, today: _dt.date,
            options: Options | None) -> tuple[list[Rendered], list[str]]:
    out: list[Rendered] = []
    problems: list[str] = []
    first_error: dict[Path, object] = {}
    for e in cset.errors:
        first_error.setdefault(e.path, e)
    counts = {p: sum(1 for e in cset.errors if e.path == p) for p in first_error}
    for contract in cset.contracts:
        updates = plan.updates.get(contract.path)
        if not updates:
            continue
        if contract.path in first_error:
            e = first_error[contract.path]
            problems.append(f"{contract.path}: not rewritten: {counts[e.path]} contract error(s), "
                            f"first at line {e.line}: {e.message}")
            plan.drop(contract.path, contract.name)
            continue
        light_before = not contract.text
        if light_before:  # light, from the parse cache: read it now
            try:
                light.hydrate(contract)
            except light.Changed as exc:
                problems.append(f"{exc}; not rewritten (run again)")
                plan.drop(contract.path, contract.name)
                continue
        text = contract.text
        try:
            new, new_root, new_data = rewrite(text, updates, today, parsed=contract.parsed,
                                              options=options)
        except RewriteError as exc:
            problems.append(f"{contract.path}: not rewritten: {exc}")
            plan.drop(contract.path, contract.name)
            continue
        finally:
            if light_before:  # read for this rewrite only: light again, its tree freed now
                contract.text, contract.parsed = "", None
        if new == text:
            continue
        refused, loaded = _loader_refuses(contract.path, new, contract.bom, cset.settings,
                                          contract.name, new_root, new_data)
        if refused:
            problems.append(f"{contract.path}: not rewritten: the new text would not load: {refused}")
            plan.drop(contract.path, contract.name)
            continue
        out.append(Rendered(contract.path, text, new, contract.bom, contract.name, loaded))
    return out, problems


def _loader_refuses(path: Path, text: str, bom: bool, settings: Settings, key: str,
                    root: object = None, data: object = None) -> tuple[str | None, tuple | None]:
    """(why the loader, with its limits, would refuse `text` as the file at `path`, or
    None when it loads; what it loaded). Every write is checked so: no input (a hostile
    report, a huge run) can make the plugin write a contract it then refuses to read.
    `root` and `data`: the text's node tree and data, from the rewriter's verification."""
    size = len(text.encode("utf-8")) + (3 if bom else 0)
    if size > MAX_FILE_BYTES:
        return f"{size:,} bytes, more than {MAX_FILE_BYTES:,} (limit MAX_FILE_BYTES)", None
    contract, errors, notes = parse_text(path, text, settings, key, root, data)  # type: ignore[arg-type]
    if errors:
        return f"line {errors[0].line}: {errors[0].message}", None
    if contract is not None:
        contract.text, contract.bom = text, bom
    return None, (contract, errors, notes)


def write(directory: Path, load: Callable[[], ContractSet], results: Mapping[str, Mapping],
          prune: Callable[[str], bool] | None, today: _dt.date,
          options: Options | None = None,
          index: SourceIndex | None = None,
          written_hook: Callable[[list[Rendered]], None] | None = None,
          spares: Path | None = None,
          ) -> tuple[Plan, list[Path], list[str]]:
    """Re-read the contracts under the lock, derive, and write what changed, all or none.

    `spares`: the directory of spare files (spares.py) the write may reuse, or None.

    Reading again under the lock is what makes two concurrent runs lose nothing: the
    second one merges its results over what the first has just written. A set an earlier
    run left half written is finished first (atomic.recover). Raises KeyboardInterrupt
    (after cleaning up) on Ctrl-C; every other failure is a problem line.
    """
    if not directory.exists():
        return Plan(), [], [f"{directory}: contracts directory gone during the run; nothing written"]
    lock_dir = directory if directory.is_dir() else directory.parent
    try:
        with locked(lock_dir), bulk():
            plan, written, problems = _write_locked(lock_dir, load, results, prune, today,
                                                    options, index, written_hook, spares)
            # Back here, what only the write needed (node trees, texts, the set loaded
            # under the lock) is freed already, by reference counting: the collection the
            # GC runs when bulk() turns it back on has little left to scan.
    except OSError as exc:  # the lock file: a read-only directory, a full disk
        return Plan(), [], [f"cannot lock {lock_dir}: {exc.strerror or exc}; nothing written"]
    problems.extend(_orphan_messages(plan))
    # The edits are written (or dropped): nothing reads them after the write, and their
    # evidence records (a few objects a claim) would otherwise stay alive, and be scanned
    # by every full collection of the GC, until the session ends.
    plan.updates.clear()
    return plan, written, problems


def _write_locked(lock_dir: Path, load: Callable[[], ContractSet], results: Mapping[str, Mapping],
                  prune: Callable[[str], bool] | None, today: _dt.date, options: Options | None,
                  index: SourceIndex | None,
                  written_hook: Callable[[list[Rendered]], None] | None,
                  spares: Path | None = None,
                  ) -> tuple[Plan, list[Path], list[str]]:
    """`write`'s work under the lock; what it returns is all that outlives it."""
    notes, unfinished = atomic.recover(lock_dir)
    cset = load()
    plan = make_plan(cset, results, prune, index)
    rendered, problems = render(cset, plan, today, options)
    plan.notes.extend(notes)
    problems[:0] = unfinished
    todo = _targets(lock_dir, rendered, plan, problems)
    try:
        atomic.write_set(lock_dir, [(t, (b"\xef\xbb\xbf" if r.bom else b"") + r.new.encode("utf-8"),
                                     mode) for r, t, mode in todo],
                         atomic.SparePool(spares) if spares is not None else None)
    except atomic.WriteFailure as exc:
        problems.append(str(exc))
        if not exc.changed:
            for r, _, _ in todo:
                plan.drop(r.path, r.name)
            todo = []
    if written_hook is not None and todo:
        written_hook([r for r, _, _ in todo])  # under the lock: the files are as written
    return plan, [r.path for r, _, _ in todo], problems


def _targets(directory: Path, rendered: list[Rendered], plan: Plan,
             problems: list[str]) -> list[tuple[Rendered, Path, int]]:
    """(rendered, file to write, its st_mode) for each contract that can be written.

    A symlinked contract is written through to its target (the link stays a link) when
    the target is inside the contracts directory, and refused otherwise: a link must not
    let a run write outside it. A hard-linked file is replaced, so its other names keep
    the old text (docs/design.md).
    """
    root = directory.resolve()
    out: list[tuple[Rendered, Path, int]] = []
    for r in rendered:
        target = r.path
        try:
            st = os.lstat(target)  # one stat a file: the link test, and the mode to keep
            if stat.S_ISLNK(st.st_mode):
                target = r.path.resolve()
                if not target.is_relative_to(root):
                    problems.append(f"{r.path}: not rewritten: it is a symlink to {target}, "
                                    f"outside {root}; edit the target there, or replace the "
                                    "link with the file")
                    plan.drop(r.path, r.name)
                    continue
                st = os.stat(target)
        except OSError:
            problems.append(f"{r.path}: deleted during the run; its evidence was not written")
            plan.drop(r.path, r.name)
            continue
        out.append((r, target, st.st_mode))
    return out


def _orphan_messages(plan: Plan) -> list[str]:
    return [f"{fid}: results not written: no contract has this id any more "
            "(contract deleted or edited during the run?)" for fid in plan.orphans]
