"""The static HTML dashboard of a contracts directory (`falsify html OUT/`).

Three layers, each testable alone: `history` reads each falsifier's past from git,
`model` turns contracts plus history into plain view data, `render` writes the pages.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from .. import engine, falsifiable, fingerprint, freshness
from ..contracts import ContractSet
from . import history as _history
from .model import SiteView, build
from .render import DashboardError, write_site

__all__ = ["DashboardError", "SiteView", "build_site", "site_view"]


def site_view(cset: ContractSet, contracts_dir: Path, *, with_history: bool = True,
              max_commits: int = 200, timeout: float = 60.0,
              states: Mapping[str, Iterable[str]] | None = None,
              progress: Callable[[int, int], None] | None = None,
              commit: str = "", root: Path | None = None) -> tuple[SiteView, str]:
    """The site's data and a note about its history (empty when all is well).

    With the project's `root`, stored evidence is checked for staleness against the tree
    (read only), as `falsify status` does.
    """
    plan = engine.make_plan(cset, {})
    stale = (freshness.stale_claims(freshness.entries_of(cset), set(), fingerprint.SourceIndex(root))
             if root is not None else [])
    fstates = falsifiable.states(freshness.entries_of(cset, data=True), plan.statuses, {})
    hist = (_history.read(contracts_dir, max_commits, timeout, progress, cset.settings)
            if with_history else None)
    by_qid = {}
    if hist is not None:
        for c in cset.contracts:
            for e in c.entries:
                pts = hist.points.get((c.key, e.id))
                if pts:
                    by_qid[e.qid] = pts
    merged: dict[str, list[str]] = {q: list(v) for q, v in (states or {}).items()}
    for hc in plan.hand_claims:
        merged.setdefault(hc.entry.qid, []).append("claimed by hand")
    for sc in stale:
        if "stale" not in merged.setdefault(sc["id"], []):
            merged[sc["id"]].append("stale")
    for fs in fstates:
        if fs["state"] == falsifiable.VACUOUS:
            merged.setdefault(fs["id"], []).append("vacuous")
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    site = build(cset, unbound=plan.unbound_claims, states=merged, history=by_qid,
                 generated=now, commit=commit,
                 stale=stale, falsifiable={fs["id"]: fs for fs in fstates})
    return site, (hist.note if hist is not None else "")


def build_site(cset: ContractSet, contracts_dir: Path, out: Path, **kwargs) -> tuple[list[Path], str]:
    """Write the dashboard of `cset` under `out`; returns the pages and the history note."""
    site, note = site_view(cset, contracts_dir, **kwargs)
    return write_site(site, out), note
