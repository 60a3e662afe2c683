"""Hostile `falsify apply` reports: malformed, oversized, forged and unsigned.

The template is a real report: `pytest --falsify=report` once on the rewrites project
(two bound tests). Mutations edit it as JSON data (a value replaced by another type, a
huge string or list, deep nesting, a key dropped or added, path-like test ids) or as
bytes (truncated, not UTF-8, not a regular file). In a project that requires signed
reports (`falsify_report_key`), unsigned, re-signed-with-another-key and edited-after-
signing reports must be refused, and a forged live-level result ("level": "live") must
never discharge a live claim. Every run must leave the files outside `contracts/` alone,
leave `contracts/` byte for byte when it refuses, and write only contracts its own
loader accepts when it applies.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path

from . import entry, gen_rewrites
from .case import ACCEPT, ACCEPTED, EITHER, LOSS, REFUSE, WRONG, Case
from .runner import Run, Task, run_all

KEY_ENV = "FALSIFY_REPORT_KEY"
KEY = "fuzz-key-0123456789"
CONTRACT = gen_rewrites.BASE


def _project(d: Path, keyed: bool) -> None:
    (d / "contracts").mkdir()
    (d / "contracts" / "fz.yaml").write_text(CONTRACT)
    (d / "test_fz.py").write_text(gen_rewrites.TESTS)
    (d / "pytest.ini").write_text("[pytest]\n" + (f"falsify_report_key = env:{KEY_ENV}\n" if keyed else ""))


@functools.cache
def template() -> dict:
    """The report of a real run, unsigned."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "project"
        d.mkdir()
        _project(d, keyed=False)
        [(_, run)] = list(run_all([Task(0, lambda: entry.pytest_run("--falsify=report", "--falsify-report",
                                                                    "r.json"), d, 120, 1024)], jobs=1))
        if run.rc != 0:
            raise RuntimeError(f"the template run failed: {run.out[-2000:]}{run.err[-2000:]}")
        report = json.loads((d / "r.json").read_text())
    report.pop("signature", None)
    return report


def _sign(report: dict, key: str = KEY) -> dict:
    from pytest_falsify import signing

    return signing.sign(report, key.encode())


def _paths(obj, prefix=()) -> list[tuple]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


def _set(obj, path: tuple, value) -> None:
    for p in path[:-1]:
        obj = obj[p]
    if value is _DROP:
        del obj[path[-1]]
    else:
        obj[path[-1]] = value


_DROP = object()


def _values(rng: random.Random):
    deep: list = []
    for _ in range(300):
        deep = [deep]
    return rng.choice([None, 0, -1, 2**70, 1e308, float("nan"), True, "", "x" * 300, "x" * 200_000, [], {},
                       deep, ["x"] * 200_000, "../../../outside", "/etc/passwd", "a\x00b", "ünï✓",
                       {"nested": {"a": [1, {"b": None}]}}, _DROP])


def _mutate(rng: random.Random, report: dict) -> tuple[str, dict | bytes]:
    r = copy.deepcopy(report)
    kind = rng.choice(["value", "value", "value", "test_id", "metrics", "many_tests", "ids", "bytes",
                       "outcome", "extra_key"])
    if kind == "value":
        path = rng.choice(_paths(r)[1:])
        v = _values(rng)
        _set(r, path, v)
        what = "dropped" if v is _DROP else f"= {type(v).__name__}{'[big]' if len(repr(v)) > 60 else ''}"
        return f"{'.'.join(map(str, path))} {what}", r
    if kind == "test_id":
        t = rng.choice(r["tests"])
        t["test"] = rng.choice(["test_fz.py::" + "t" * 300, "../../x.py::t", "/abs/path.py::t", "",
                                "test_fz.py::test_one", "a" * 5000])
        return f"test id {t['test'][:30]!r}", r
    if kind == "metrics":
        deep: dict = {}
        cur = deep
        for _ in range(250):
            cur["m"] = {}
            cur = cur["m"]
        rng.choice(r["tests"])["metrics"] = rng.choice([deep, {"x": float("nan")}, {"k" * 1000: 1},
                                                        {str(i): i for i in range(20_000)}])
        return "odd metrics", r
    if kind == "many_tests":
        n = rng.choice([20_000, 200_000])
        t = r["tests"][0]
        r["tests"] = [{**t, "test": f"test_fz.py::test_{i}"} for i in range(n)]
        return f"{n} tests", r
    if kind == "ids":
        t = rng.choice(r["tests"])
        t["ids"] = rng.choice([["fz::NOPE-001"], ["FALSIFY-FZ-003"], [], [5], ["x" * 500], ["fz::FALSIFY-FZ-004"]])
        return f"ids {t['ids']!r:.40}", r
    if kind == "outcome":
        t = rng.choice(r["tests"])
        t["outcome"] = rng.choice(["PASSED", "won", "failed", "blocked", "xpassed", "error", None])
        return f"outcome {t['outcome']!r}", r
    if kind == "extra_key":
        r[rng.choice(["written", "contracts", "__proto__", "format"])] = rng.choice(
            [["../../evil.yaml"], "x", {"a": 1}, "pytest-falsify-report/999"])
        return "an extra or changed top-level key", r
    raw = json.dumps(r).encode()
    which = rng.choice(["truncated", "latin-1", "list", "empty", "utf-16"])
    if which == "truncated":
        return "truncated JSON", raw[:rng.randrange(len(raw))]
    if which == "latin-1":
        return "not UTF-8", raw.replace(b'"passed"', b'"pass\xe9d"', 1)
    if which == "list":
        return "a JSON list", json.dumps([r]).encode()
    if which == "empty":
        return "empty file", b""
    return "UTF-16", json.dumps(r).encode("utf-16")


def _snapshot(d: Path) -> dict[str, bytes]:
    """Every regular file of the project but the report itself (a case may make it 8 GB)."""
    out = {}
    for p in sorted(d.rglob("*")):
        if p.name != "r.json" and p.is_file() and not p.is_symlink() and "__pycache__" not in p.parts:
            out[str(p.relative_to(d))] = p.read_bytes()
    return out


def _oracle(keyed: bool, forged_live: bool):
    def oracle(work: Path, run: Run) -> tuple[str, str] | None:
        before = json.loads((work / ".before.json").read_text())
        now = _snapshot(work)
        outside = sorted(k for k in set(now) | set(before)
                         if not k.startswith("contracts/") and not k.startswith(".")
                         and now.get(k, b"").decode("latin-1") != before.get(k, ""))
        if outside:
            return WRONG, f"changed a file outside contracts/: {outside[0]}"
        contract = (work / "contracts" / "fz.yaml").read_text()
        if run.rc not in (0, 1):  # 2: bad input (refused); 0/1: applied (1: a claim FALSIFIED)
            if contract != CONTRACT:
                return LOSS, f"exit {run.rc} (refused), yet the contract changed"
            return None
        from pytest_falsify.contracts import load_dir

        cset = load_dir(work / "contracts")
        if cset.errors:
            return WRONG, f"wrote a contract its own loader refuses: {cset.errors[0].message}"
        if forged_live:
            e = next((e for e in cset.by_id.values() if e.id.endswith("FALSIFY-FZ-002")), None)
            if e is not None and e.status == "DISCHARGED":
                return WRONG, "a forged live-level result discharged FALSIFY-FZ-002"
        if run.rc == 1:
            return ACCEPTED, "applied; a claim is FALSIFIED (exit 1)"
        return None

    return oracle


def _make(content: dict | bytes | str, keyed: bool):
    def make(d: Path) -> None:
        _project(d, keyed)
        if content == "fifo":
            os.mkfifo(d / "r.json")
        elif content == "sparse":
            with (d / "r.json").open("wb") as f:
                f.truncate(8 * 1024**3)
        else:
            raw = content if isinstance(content, bytes) else json.dumps(content).encode()
            (d / "r.json").write_bytes(raw)
        snap = {k: v.decode("latin-1") for k, v in _snapshot(d).items()}
        (d / ".before.json").write_text(json.dumps(snap))

    return make


def _apply(keyed: bool, *extra: str):
    def call() -> int:
        if keyed:
            os.environ[KEY_ENV] = KEY
        else:
            os.environ.pop(KEY_ENV, None)
        return entry.falsify("apply", "r.json", *extra)

    return call


def _forged(report: dict) -> dict:
    r = copy.deepcopy(report)
    for t in r["tests"]:
        t["level"] = "live"
        t["device"] = "NVIDIA H200 (forged)"
    return r


def cases(rng: random.Random, n: int) -> Iterator[Case]:
    base = template()
    fixed = [
        ("valid unsigned report", base, False, ACCEPT, False, ()),
        ("valid signed report, keyed project", _sign(base), True, ACCEPT, False, ()),
        ("unsigned report, keyed project", base, True, REFUSE, False, ()),
        ("signed with another key", _sign(base, "another-key"), True, REFUSE, False, ()),
        ("edited after signing: forged live level", {**_forged(base), "signature": _sign(base)["signature"]},
         True, REFUSE, True, ()),
        ("unsigned forged live level, --allow-unsigned", _forged(base), True, EITHER, True, ("--allow-unsigned",)),
        ("signature of the wrong type", {**base, "signature": rng.choice([5, "x", {"alg": "md5"}])}, True,
         REFUSE, False, ()),
        ("report is a FIFO", "fifo", False, REFUSE, False, ()),
        ("8 GB sparse report", "sparse", False, REFUSE, False, ()),
    ]
    for i in range(n):
        if i < len(fixed):
            name, content, keyed, expect, forged, extra = fixed[i]
        else:
            keyed = rng.random() < 0.3
            name, content = _mutate(rng, base)
            if keyed and isinstance(content, dict):
                try:  # a well-signed hostile report: the schema must still hold
                    content = _sign(content)
                except ValueError:  # NaN cannot be signed (canonical JSON): sent unsigned
                    pass
            expect, forged, extra = EITHER, False, ()
        label = name + (", keyed project" if keyed and "keyed" not in name else "")
        yield Case("reports", label, "falsify apply" + "".join(f" {e}" for e in extra), _make(content, keyed),
                   _apply(keyed, *extra), expect, _oracle(keyed, forged), time_s=60)
