"""Odd but valid contract layouts, rewritten twice by `pytest --falsify`.

Each case combines a few layouts (flow entries, block scalars, a block scalar at EOF
without a newline, CRLF, CR-only, a BOM, trailing commas, `? id` keys, anchors, merge
keys and aliases, comments everywhere, hand-written content inside `evidence:`, quoted
keys, aprender's `status:`, column-0 sequences, a document marker, a symlinked or hard-
linked file) and runs the write phase twice with two bound tests. The oracle reads the
file as data: a successful run must set exactly the derived statuses, keep every other
value (of every entry, also those reached through an alias), keep every comment, keep
the file a symlink if it was one, write a file the loader accepts, and leave it alone on
the second run. A refusal must leave the file byte for byte and say why.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

from . import entry
from .case import EITHER, LOSS, WRONG, Case
from .gen_contracts import TESTS
from .runner import Run

BASE = """\
# top comment
metadata:
  version: 1.0.0   # version comment
  changelog:
    - {version: 1.0.0, date: 2026-01-01, changes: [initial]}
falsification_tests:
  # between blocks
  - id: FALSIFY-FZ-001
    rule: r1
    prediction: p1   # keep me
    discharge_level: algorithm
  - id: FALSIFY-FZ-002
    rule: r2
    prediction: p2
  - id: FALSIFY-FZ-003
    prediction: p3
    discharge_status: DISCHARGED
  - id: FALSIFY-FZ-004
    rule: r4
    prediction: p4
gates:
  - id: GATE-FZ-001
    prediction: g
"""


BOUND = {"FALSIFY-FZ-001": "DISCHARGED", "FALSIFY-FZ-002": "PARTIAL_ALGORITHM_LEVEL"}
STATUS_KEYS = ("discharge_status", "status")


def _sub(old: str, new: str) -> Callable[[str], str]:
    return lambda t: t.replace(old, new, 1)


#: name -> text transformation (applied to the LF text; encodings come last)
LAYOUTS: dict[str, Callable[[str], str]] = {
    "flow entry": _sub("  - id: FALSIFY-FZ-002\n    rule: r2\n    prediction: p2\n",
                       "  - {id: FALSIFY-FZ-002, rule: r2, prediction: p2}\n"),
    "flow entry, trailing comma": _sub("  - id: FALSIFY-FZ-002\n    rule: r2\n    prediction: p2\n",
                                       "  - {id: FALSIFY-FZ-002, rule: r2, prediction: p2,}\n"),
    "block scalar": _sub("    rule: r1\n", "    rule: |\n      a rule\n      on two lines\n"),
    "folded scalar at EOF, no newline": lambda t: t.replace("    prediction: g\n", "    prediction: >-\n      folded\n      text"),
    "? id key": _sub("  - id: FALSIFY-FZ-001\n", "  - ? id\n    : FALSIFY-FZ-001\n"),
    "merge key": lambda t: t.replace("  - id: FALSIFY-FZ-001\n", "  - &base\n    id: FALSIFY-FZ-001\n", 1).replace(
        "  - id: FALSIFY-FZ-004\n    rule: r4\n", "  - <<: *base\n    id: FALSIFY-FZ-004\n    rule: r4\n", 1),
    "alias value": lambda t: t.replace("    rule: r2\n", "    rule: &shared r2\n", 1).replace(
        "    rule: r4\n", "    rule: *shared\n", 1),
    "comments everywhere": lambda t: re.sub(r"(?m)^(\s+- id: [\w-]+)$", r"\1   # entry comment", t).replace(
        "gates:\n", "# before gates\ngates:   # gates comment\n"),
    "hand-written evidence": _sub("    rule: r2\n", "    rule: r2\n    evidence:\n      # a reviewer's note\n"
                                                 "      notes: checked by hand\n      link: https://example.org/x\n"),
    "quoted keys": _sub("  - id: FALSIFY-FZ-001\n    rule: r1\n", "  - \"id\": FALSIFY-FZ-001\n    'rule': r1\n"),
    "aprender status key": _sub("    rule: r2\n    prediction: p2\n", "    rule: r2\n    prediction: p2\n    status: PROPOSED\n"),
    "column-0 sequences": lambda t: re.sub(r"(?m)^  - ", "- ", re.sub(r"(?m)^    (?=\w)", "  ", t)),
    "document markers": lambda t: "---\n" + t + "...\n",
    "unicode and tabs": _sub("    rule: r4\n", "    rule: \"naïve — ünïcode ✓\"\t# tab before\n"),
    "no trailing newline": lambda t: t.rstrip("\n"),
    "extra keys": _sub("    rule: r1\n", "    rule: r1\n    binds_to: [aprcore/ops.py]\n"
                                          "    algorithm_evidence: {note: kept}\n"),
    "version as a number": _sub("  version: 1.0.0   # version comment\n", "  version: 1.0   # version comment\n"),
    "block changelog": _sub("    - {version: 1.0.0, date: 2026-01-01, changes: [initial]}\n",
                            "    - version: 1.0.0\n      date: 2026-01-01\n      changes:\n        - initial\n"),
}
ENCODINGS = ("lf", "lf", "lf", "crlf", "cr", "bom")
FILES = ("plain", "plain", "plain", "symlink", "hardlink")


def _entries(data: object) -> dict[str, dict]:
    out = {}
    if isinstance(data, dict):
        for block in ("falsification_tests", "gates"):
            for e in data.get(block) or []:
                if isinstance(e, dict) and isinstance(e.get("id"), str):
                    out[e["id"]] = e
    return out


def _load(raw: bytes) -> object:
    return yaml.load(raw.decode("utf-8-sig"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _comments(text: str) -> list[str]:
    """The comments of a text (approximate: '#' after a blank, outside the quoted values
    this generator writes)."""
    return [m.group(1).strip() for line in re.split(r"\r\n|\r|\n", text)
            if (m := re.search(r"(?:^|\s)(#.*)$", line))]


def _compare(before: bytes, after: bytes) -> tuple[str, str] | None:
    """(column, why) when `after` is not `before` with exactly the plugin's own edits."""
    old, new = _load(before), _load(after)
    if not isinstance(new, dict):
        return LOSS, "the rewritten file is no longer a mapping"
    for key in set(old) | set(new):
        if key not in ("metadata", "falsification_tests", "gates") and old.get(key) != new.get(key):
            return LOSS, f"top-level {key!r} changed"
    om, nm = old.get("metadata") or {}, new.get("metadata") or {}
    for key in set(om) | set(nm):
        if key not in ("version", "changelog") and om.get(key) != nm.get(key):
            return LOSS, f"metadata.{key} changed"
    if isinstance(om.get("changelog"), list) and any(c not in (nm.get("changelog") or []) for c in om["changelog"]):
        return LOSS, "a changelog entry was lost"
    oe, ne = _entries(old), _entries(new)
    if set(oe) != set(ne):
        return LOSS, f"entries {sorted(set(oe) ^ set(ne))} lost or added"
    for fid, e in oe.items():
        n = ne[fid]
        if fid not in BOUND:
            if e != n:
                changed = sorted(k for k in set(e) | set(n) if e.get(k) != n.get(k))
                return WRONG, f"{fid} (not bound by any test) changed: {', '.join(changed)}"
            continue
        for key in set(e) | set(n):
            if key in STATUS_KEYS or key == "evidence":
                continue
            if e.get(key) != n.get(key):
                return LOSS, f"{fid}.{key} changed"
        oev, nev = e.get("evidence"), n.get("evidence")
        if isinstance(oev, dict):
            lost = [k for k in oev if k != "tests" and (not isinstance(nev, dict) or nev.get(k) != oev[k])]
            if lost:
                return LOSS, f"{fid}.evidence.{lost[0]} (hand-written) lost"
        status = next((n[k] for k in STATUS_KEYS if k in n), None)
        if status != BOUND[fid]:
            return WRONG, f"{fid} is {status}, the tests say {BOUND[fid]}"
    text_before = before.decode("utf-8-sig", "replace")
    text_after = after.decode("utf-8-sig", "replace")
    missing = [c for c in _comments(text_before) if c not in text_after]
    if missing:
        return LOSS, f"comment {missing[0]!r} lost"
    return None


def _oracle(original: bytes, kind: str):
    def oracle(work: Path, run: Run) -> tuple[str, str] | None:
        path = work / "contracts" / "fz.yaml"
        real = work / "real" / "fz.yaml" if kind == "symlink" else path
        now = real.read_bytes()
        if run.rc != 0:
            if now != original:
                return LOSS, "refused, yet the file changed"
            return None  # a refusal with a message: clean
        if kind == "symlink" and not path.is_symlink():
            return LOSS, "the symlinked contract became a regular file"
        first = (work / "after1.yaml").read_bytes()
        if first != now:
            return WRONG, "the second run changed the file again"
        if now == original:
            return WRONG, "success reported, the file was not rewritten"
        verdict = _compare(original, now)
        if verdict is not None:
            return verdict
        from pytest_falsify.contracts import load_dir

        errors = load_dir(work / "contracts").errors
        if errors:
            return WRONG, f"wrote a file its own loader refuses: {errors[0].message}"
        return None

    return oracle


def _make(raw: bytes, kind: str):
    def make(d: Path) -> None:
        (d / "contracts").mkdir()
        (d / "pytest.ini").write_text("[pytest]\n")
        (d / "test_fz.py").write_text(TESTS)
        target = d / "contracts" / "fz.yaml"
        if kind == "symlink":
            (d / "real").mkdir()
            (d / "real" / "fz.yaml").write_bytes(raw)
            target.symlink_to(Path("..") / "real" / "fz.yaml")
        else:
            target.write_bytes(raw)
            if kind == "hardlink":
                os.link(target, d / "other-link.yaml")

    return make


def _twice() -> int:
    """`pytest --falsify` twice, each in its own child; the file after the first kept."""
    code = entry.forked(lambda: entry.pytest_run("--falsify"))
    if code != 0:
        return code
    Path("after1.yaml").write_bytes(Path("contracts/fz.yaml").read_bytes())
    return entry.forked(lambda: entry.pytest_run("--falsify"))


def cases(rng: random.Random, n: int) -> Iterator[Case]:
    names = list(LAYOUTS)
    made = i = 0
    while made < n and i < 20 * n:
        i += 1
        single = i <= len(names)  # each layout alone first, then random combinations
        picked = [names[i - 1]] if single else rng.sample(names, rng.randint(2, 3))
        text = BASE
        for name in picked:
            text = LAYOUTS[name](text)
        enc = "lf" if single else rng.choice(ENCODINGS)
        kind = "plain" if single else rng.choice(FILES)
        body = {"lf": text, "crlf": text.replace("\n", "\r\n"), "cr": text.replace("\n", "\r")}.get(enc, text)
        raw = (b"\xef\xbb\xbf" if enc == "bom" else b"") + body.encode()
        try:
            if set(_entries(_load(raw))) != {*BOUND, "FALSIFY-FZ-003", "FALSIFY-FZ-004", "GATE-FZ-001"}:
                continue  # two layouts that do not compose: not a valid input
        except yaml.YAMLError:
            continue
        made += 1
        label = " + ".join(picked) + ("" if enc == "lf" else f", {enc}") + ("" if kind == "plain" else f", {kind}")
        yield Case("rewrites", label, "pytest --falsify (twice)", _make(raw, kind), _twice, EITHER,
                   _oracle(raw, kind), time_s=60)
