"""What a check found, as located findings: for SARIF, GitHub annotations and the terminal.

Pure: a plan (and the contract set it was made from) in, findings out. Each finding
points at the contract line of the entry it is about, so a code-scanning tool or a pull
request shows it where a reviewer would fix it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

#: rule id -> (level, short description)
RULES = {
    "drift": ("error", "the contract on disk disagrees with what the tests prove"),
    "new-failure": ("error", "a test newly falsifies this claim"),
    "stale": ("error", "the evidence is about code that has changed since"),
    "unbound-claim": ("warning", "a claimed status that no test binds"),
    "hand-claim": ("warning", "a status set by hand that the evidence does not support"),
    "problem": ("error", "the contract could not be read or rewritten"),
}


@dataclass(frozen=True)
class Finding:
    rule: str
    message: str
    path: str
    line: int
    qid: str = ""
    severity: str | None = None  # overrides the rule's level (--strict makes warnings errors)

    @property
    def level(self) -> str:
        return self.severity or RULES[self.rule][0]


def from_plan(plan, cset, strict: bool = False) -> list[Finding]:
    """Drift and new failures from `plan`'s transitions and evidence updates, plus
    unbound and hand-set claims (errors under `strict`)."""
    # A transition names its contract (name or key) and its id (bare or `key::id`).
    moved = {(t.contract, t.id.rsplit("::", 1)[-1]): t for t in plan.transitions}
    out: list[Finding] = []
    for c in cset.contracts:
        updates = plan.updates.get(c.path, {})
        labels = {c.name, getattr(c, "key", c.name)}
        for e in c.entries:
            if e.id not in updates:
                continue
            t = next((moved[(lab, e.id)] for lab in labels if (lab, e.id) in moved), None)
            path = str(c.path)
            if t is not None and t.new == "FALSIFIED":
                out.append(Finding("new-failure", f"{t.id}: {t.old} -> FALSIFIED", path, e.line, t.id))
            elif t is not None:
                out.append(Finding("drift", f"{t.id}: on disk {t.old}, the tests prove {t.new}",
                                   path, e.line, t.id))
            else:
                out.append(Finding("drift", f"{e.id}: stored evidence differs from what the tests ran",
                                   path, e.line, e.id))
    for e in plan.unbound_claims:
        out.append(Finding("unbound-claim" if not strict else "drift",
                           f"{e.id}: {e.status} claims evidence, no test binds it", str(e.path), e.line, e.id))
    for h in plan.hand_claims:
        out.append(Finding("hand-claim", str(h), str(h.entry.path), h.entry.line, h.entry.qid,
                           "error" if strict else None))
    return out


def _rel(path: str, base: Path | None) -> str:
    if base is None:
        return path
    try:
        return Path(path).resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return path


def sarif(findings: Iterable[Finding], version: str, base: Path | None = None) -> str:
    """A SARIF 2.1.0 log of the findings, paths relative to `base` (the repository)."""
    fs = list(findings)
    rules = [{"id": rid, "shortDescription": {"text": desc}, "defaultConfiguration": {"level": level}}
             for rid, (level, desc) in RULES.items()]
    results = [{
        "ruleId": f.rule, "level": f.level, "message": {"text": f.message},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": _rel(f.path, base)},
            "region": {"startLine": max(1, f.line)}}}],
        **({"partialFingerprints": {"claim": f.qid}} if f.qid else {}),
    } for f in fs]
    log = {"version": "2.1.0",
           "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
           "runs": [{"tool": {"driver": {"name": "pytest-falsify", "version": version, "rules": rules}},
                     "results": results}]}
    return json.dumps(log, indent=2) + "\n"


def _escape(text: str, prop: bool = False) -> str:
    # GitHub's workflow-command escaping (actions/toolkit: escapeData / escapeProperty).
    out = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        out = out.replace(":", "%3A").replace(",", "%2C")
    return out


def github_annotations(findings: Iterable[Finding], base: Path | None = None) -> list[str]:
    """`::error file=...,line=...,title=...::message` lines for GitHub Actions logs."""
    out = []
    for f in findings:
        cmd = "error" if f.level == "error" else "warning"
        props = (f"file={_escape(_rel(f.path, base), True)},line={max(1, f.line)},"
                 f"title={_escape('falsify ' + f.rule, True)}")
        out.append(f"::{cmd} {props}::{_escape(f.message)}")
    return out


def in_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"
