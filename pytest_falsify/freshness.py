"""Which stored evidence is stale, and which stored record a fresh result replaces. Pure.

Stored evidence that the run did not refresh is *stale* when the code its test ran has
changed since (its fingerprint no longer matches the tree) or when it was recorded from
uncommitted code (`dirty: true`, stale by default: ini `falsify_dirty_is_stale`).
Computing staleness reads source files and writes nothing.

`StaleClaim` is the shape the summary, the JSON report (`stale`) and dashboards read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypedDict

from . import fingerprint as F
from . import verdict as V

DIRTY = "recorded from uncommitted code (dirty: true)"


class StaleClaim(TypedDict):
    id: str  # qualified falsifier id
    contract: str  # contract key
    test: str  # node id of the stored record
    changed: list[str]  # "file::function changed", "file removed", DIRTY
    commit: str | None  # of the evidence
    host: str | None
    date: str | None


def record_changes(record: Mapping, index: F.SourceIndex, dirty_is_stale: bool = True) -> list[str]:
    """Why one stored record is stale ([] when fresh or unfingerprinted)."""
    dirty = bool(record.get("dirty"))
    out = [DIRTY] if dirty_is_stale and dirty else []
    commit = str(record.get("commit") or "")
    clean = commit if commit and not commit.endswith("-dirty") and not dirty else None
    return out + (F.changes(record.get("fingerprint"), index, clean) or [])


def stale_claims(entries: Iterable[tuple[str, str, Iterable[Mapping]]], refreshed: set[str],
                 index: F.SourceIndex, dirty_is_stale: bool = True) -> list[StaleClaim]:
    """Stale stored records of `entries` ((qid, contract key, stored records)), skipping the
    tests in `refreshed` (this run's evidence replaced or confirmed them)."""
    out: list[StaleClaim] = []
    for qid, contract, stored in entries:
        for rec in stored:
            test = str(rec.get("test"))
            if test in refreshed:
                continue
            changed = record_changes(rec, index, dirty_is_stale)
            if changed:
                out.append({"id": qid, "contract": contract, "test": test, "changed": changed,
                            "commit": rec.get("commit"), "host": rec.get("host"),
                            "date": rec.get("date")})
    return out


def entries_of(cset, data: bool = False) -> list[tuple]:
    """(qualified id, contract key, stored records) of every entry of a ContractSet, plus
    the entry's own mapping with `data`."""
    return [(e.qid, c.name, e.stored_tests)
            + ((e.data,) if data else ()) for c in cset.contracts for e in c.entries]


def refreshed_tests(results: Mapping[str, Mapping]) -> set[str]:
    """Tests whose stored evidence this run's results stand for (evidence outcomes only)."""
    return {t for t, r in results.items() if V.is_evidence(str(r.get("outcome", "")))}


def replaces(stored: Mapping, fresh: Mapping, index: F.SourceIndex | None) -> bool:
    """Whether a fresh result of the same outcome and level replaces the stored record.

    Only when it brings better provenance: the stored record is stale against the tree
    (its code changed, or it was dirty and the fresh one is not), or mutants mode found
    a different `falsifiable` result. A stored record that
    still matches is kept, so a run on unchanged code changes zero bytes even when a
    cache made the test run fewer functions this time.
    """
    if fresh.get("falsifiable") and fresh.get("falsifiable") != stored.get("falsifiable"):
        return True  # mutants mode proved something new about this test
    if "fingerprint" not in fresh or index is None:
        return False
    if stored.get("dirty") and not fresh.get("dirty"):
        return True
    changed = F.changes(stored.get("fingerprint"), index)
    return changed is None or bool(changed)


#: Keys about the code a record's test ran: they travel together.
CODE_KEYS = ("fingerprint", "dirty", "falsifiable")


def carry(stored: Mapping | None, fresh: Mapping, index: F.SourceIndex | None) -> dict:
    """The record to write for `fresh`: when it does not replace `stored` (same outcome and
    level, stored still matches the tree), the stored record's code keys are kept, so an
    entry rewritten for another reason keeps its fingerprint and mutants evidence."""
    if (stored is None or index is None or stored.get("outcome") != fresh.get("outcome")
            or stored.get("level") != fresh.get("level") or replaces(stored, fresh, index)):
        return dict(fresh)
    out = {k: v for k, v in fresh.items() if k not in CODE_KEYS}
    out.update((k, stored[k]) for k in CODE_KEYS if k in stored)
    return out
