"""The dashboard's view of a contract set: pure data, no templates, no git, no pytest.

`build(cset, ...)` turns the loaded contracts (plus optional history and extra states)
into plain dataclasses that the templates render and the tests inspect. Everything a page
shows is decided here, so the rendering stays a thin layer.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..contracts import ALIASES, ContractSet, Entry

#: Buckets of the tally bar, best first; a status outside the lattice counts as OTHER.
BUCKETS = ("DISCHARGED", "PARTIAL", "BLOCKER", "UNBOUND", "FALSIFIED", "OTHER")
_BUCKET = {"DISCHARGED": "DISCHARGED", "PARTIAL_ALGORITHM_LEVEL": "PARTIAL",
           "BLOCKER_FIXTURE_ABSENT": "BLOCKER", "UNBOUND": "UNBOUND", "FALSIFIED": "FALSIFIED"}
#: Attention reasons, most urgent first: the overview lists claims in this order.
ATTENTION = ("falsified", "stale", "vacuous", "claimed by hand", "unbound")
#: A metric named `<stem>_floor` / `<stem>_ceiling` is the threshold of metric `<stem>`.
_THRESHOLD = re.compile(r"^(?P<stem>.+)_(?P<kind>floor|ceiling)$")


def bucket(status: str | None) -> str:
    return _BUCKET.get(status or "UNBOUND", "OTHER")


def slug(text: str) -> str:
    """A file name for a page: readable, and unique through a short digest."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:80] or "x"
    return f"{safe}-{hashlib.sha1(text.encode()).hexdigest()[:6]}"


@dataclass
class TestView:
    test: str
    outcome: str
    level: str
    metrics: dict[str, Any]
    date: str = ""
    commit: str = ""
    host: str = ""
    device: str = ""
    message: str = ""


@dataclass
class Margin:
    """A measured metric against the threshold the test states for it."""

    metric: str
    value: float
    threshold: float
    kind: str  # floor | ceiling

    @property
    def margin(self) -> float:
        return self.value - self.threshold if self.kind == "floor" else self.threshold - self.value

    @property
    def holds(self) -> bool:
        return self.margin >= 0


@dataclass
class Point:
    """One commit of a falsifier's history."""

    commit: str
    date: str
    status: str
    metrics: dict[str, float]


@dataclass
class Series:
    """One metric over commits, with its threshold where a test states one."""

    metric: str
    points: list[tuple[int, str, float]]  # (index in history, commit, value)
    threshold: float | None = None
    kind: str | None = None


@dataclass
class FalsifierView:
    qid: str
    id: str
    contract: str
    block: str
    status: str
    bucket: str
    level: str
    rule: str
    prediction: str
    if_fails: str
    test_field: str
    path: str
    line: int
    tests: list[TestView] = field(default_factory=list)
    margins: list[Margin] = field(default_factory=list)
    attention: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)  # extra states (stale, vacuous, ...)
    #: the falsifiable state (falsifiable.FalsifiableState): killed_by, survived, why
    falsifiable: dict[str, Any] = field(default_factory=dict)
    history: list[Point] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    page: str = ""
    word: str = ""  # the status as the file writes it, where that is a project's own word
    #: why stored evidence is stale (freshness.StaleClaim rows), one per stale record
    stale: list[dict[str, Any]] = field(default_factory=list)

    @property
    def hosts(self) -> list[str]:
        return sorted({t.host for t in self.tests if t.host} | {t.device for t in self.tests if t.device})

    @property
    def provenance(self) -> dict[str, str]:
        """Where the latest evidence came from: the newest test record's date, commit, host."""
        dated = sorted(self.tests, key=lambda t: (t.date, t.commit))
        if not dated:
            return {}
        t = dated[-1]
        return {k: v for k, v in (("date", t.date), ("commit", t.commit), ("host", t.host),
                                  ("device", t.device)) if v}

    @property
    def search_text(self) -> str:
        return " ".join([self.qid, self.status, self.rule, self.prediction, self.if_fails,
                         *(t.test for t in self.tests)]).lower()


@dataclass
class ContractView:
    key: str
    path: str
    version: str
    falsifiers: list[FalsifierView]
    page: str = ""

    @property
    def tally(self) -> dict[str, int]:
        out = dict.fromkeys(BUCKETS, 0)
        for f in self.falsifiers:
            out[f.bucket] += 1
        return out


@dataclass
class SiteView:
    contracts: list[ContractView]
    generated: str = ""
    commit: str = ""

    @property
    def falsifiers(self) -> list[FalsifierView]:
        return [f for c in self.contracts for f in c.falsifiers]

    @property
    def tally(self) -> dict[str, int]:
        out = dict.fromkeys(BUCKETS, 0)
        for c in self.contracts:
            for k, v in c.tally.items():
                out[k] += v
        return out

    @property
    def denominators(self) -> dict[str, int]:
        fs = self.falsifiers
        return {"claims": len(fs), "evidenced": sum(1 for f in fs if f.tests),
                **{k.lower(): v for k, v in self.tally.items()}}

    @property
    def attention(self) -> list[FalsifierView]:
        order = {a: i for i, a in enumerate(ATTENTION)}
        need = [f for f in self.falsifiers if f.attention]
        return sorted(need, key=lambda f: (min(order.get(a, 99) for a in f.attention), f.qid))

    def options(self, what: str) -> list[str]:
        if what == "status":
            return sorted({f.status for f in self.falsifiers})
        if what == "contract":
            return [c.key for c in self.contracts]
        if what == "host":
            return sorted({h for f in self.falsifiers for h in f.hosts})
        raise ValueError(what)


def _text(entry: Entry, key: str) -> str:
    for k in (key, *ALIASES.get(key, ())):
        v = entry.data.get(k)
        if v is not None:
            return v if isinstance(v, str) else str(v)
    return ""


def _shown(path: Any) -> str:
    """A path as a reader expects it: relative to the working directory where it lies below."""
    p = Path(path)
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except (ValueError, OSError):
        return str(p)


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def _test_views(entry: Entry) -> list[TestView]:
    out = []
    for r in entry.stored_tests:
        dev = r.get("device")
        device = dev.get("device", "") if isinstance(dev, dict) else str(dev or "")
        metrics = r.get("metrics") if isinstance(r.get("metrics"), dict) else {}
        out.append(TestView(str(r["test"]), str(r.get("outcome", "")), str(r.get("level", "")),
                            dict(metrics), str(r.get("date", "")), str(r.get("commit", "")),
                            str(r.get("host", "")), device, str(r.get("message", ""))))
    return out


def margins(tests: Iterable[TestView]) -> list[Margin]:
    """Each stated threshold (`<metric>_floor` / `_ceiling`) against its measured metric."""
    out = []
    for t in tests:
        for name, thr in t.metrics.items():
            m = _THRESHOLD.match(name)
            value = _number(t.metrics.get(m.group("stem"))) if m else None
            threshold = _number(thr)
            if m and value is not None and threshold is not None:
                out.append(Margin(m.group("stem"), value, threshold, m.group("kind")))
    return out


def series(history: list[Point]) -> list[Series]:
    """Every numeric metric of a history as one series, thresholds drawn where stated."""
    names: dict[str, None] = {}
    for p in history:
        names.update(dict.fromkeys(p.metrics))
    out = []
    for name in names:
        if _THRESHOLD.match(name):
            continue
        pts = [(i, p.commit, p.metrics[name]) for i, p in enumerate(history) if name in p.metrics]
        thr = kind = None
        for p in reversed(history):
            for k in ("floor", "ceiling"):
                if f"{name}_{k}" in p.metrics:
                    thr, kind = p.metrics[f"{name}_{k}"], k
                    break
            if thr is not None:
                break
        out.append(Series(name, pts, thr, kind))
    return out


def build(cset: ContractSet, *, unbound: Iterable[Entry] = (), states: Mapping[str, Iterable[str]] | None = None,
          history: Mapping[str, list[Point]] | None = None, generated: str = "",
          commit: str = "", stale: Iterable[Mapping] = (),
          falsifiable: Mapping[str, Mapping] | None = None) -> SiteView:
    """The site's data.

    Falsifiers are named by their qualified ids and contracts by their keys; `unbound` are the entries that claim evidence no test binds;
    `states` maps a qualified id to extra states ("stale", "vacuous", "claimed by hand")
    computed by the modules that own them; `history` maps a qualified id to its points;
    `stale` are freshness' StaleClaim rows and `falsifiable` maps a qualified id to its
    falsifiable state, both shown on the claim's page.
    """
    stale_of: dict[str, list[dict]] = {}
    for row in stale:
        stale_of.setdefault(str(row["id"]), []).append(dict(row))
    falsifiable = falsifiable or {}
    unbound_ids = {id(e) for e in unbound}
    states = states or {}
    history = history or {}
    contracts = []
    for c in cset.contracts:
        key = c.key
        views = []
        for e in c.entries:
            q = e.qid
            status = e.status or "UNBOUND"
            tests = _test_views(e)
            extra = [s for s in states.get(q, ()) if s]
            attention = []
            if status == "FALSIFIED":
                attention.append("falsified")
            attention.extend(s for s in extra if s in ATTENTION)
            if status == "UNBOUND" or id(e) in unbound_ids:
                attention.append("unbound")
            hist = history.get(q, [])
            views.append(FalsifierView(
                q, e.id, key, e.block, status, bucket(e.status), e.level, _text(e, "rule"),
                _text(e, "prediction"), _text(e, "if_fails"), _text(e, "test"), _shown(e.path),
                e.line, tests, margins(tests), attention, extra, dict(falsifiable.get(q, {})), hist,
                series(hist), page=f"f/{slug(q)}.html", stale=stale_of.get(q, []),
                word=e.word if e.word and e.word != status else ""))
        contracts.append(ContractView(key, _shown(c.path), str(c.version or ""), views,
                                      page=f"c/{slug(key)}.html"))
    return SiteView(contracts, generated, commit)
