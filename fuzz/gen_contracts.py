"""Bad contract YAML and odd contract directories, through validate, status and --falsify.

Mutations of one valid contract: values that do not construct, wrong types, random
structural damage (truncation, deleted/duplicated/swapped lines, junk bytes,
re-indentation), encodings, bombs and size limits; and directory entries the walk
cannot use. Where the input is known to be bad the case expects a refusal; random damage
may leave valid YAML, so those cases expect either, and the oracle checks that
`validate` counts exactly the falsifiers the file holds when it accepts.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

from . import entry
from .case import ACCEPT, EITHER, REFUSE, WRONG, Case
from .runner import Run

BASE = """\
# a contract: comments, quoting and blank lines
metadata:
  version: 1.0.0
  status: ACTIVE
  changelog:
    - {version: 1.0.0, date: 2026-01-01, changes: [initial]}
falsification_tests:
  - id: FALSIFY-FZ-001
    rule: algorithm-level claim
    prediction: "passes"
    discharge_level: algorithm
  - id: FALSIFY-FZ-002
    description: aprender's spelling
    expected: passes on the real backend
    status: PROPOSED
  - {id: FALSIFY-FZ-003, prediction: fails when broken, discharge_level: algorithm}
gates:
  - id: GATE-FZ-001
    rule: a gate
    prediction: holds
"""

#: The test file of every generated project (contracts, rewrites, reports): two bound tests.
TESTS = """\
import pytest

@pytest.mark.falsifier("FALSIFY-FZ-001")
def test_one():
    pass

@pytest.mark.falsifier("FALSIFY-FZ-002")
def test_two():
    pass
"""

BAD_VALUES = ["2026-13-45", "!!int abc", "!!bool maybe", "9" * 5000, "!!timestamp x",
              "!!float x", "!!int 0x", "!!binary 'ü'", "!!map x", "!!str [1]", "!!set [1]",
              "!!omap {a: 1}", "!!python/name:os.system", "!custom x", "!!null [1]", "2026-02-30",
              "!!merge x", "*undefined", "&a [*a]"]
WRONG_TYPES = [("id", "[FALSIFY-FZ-001]"), ("id", "123"), ("id", "''"), ("id", "{a: 1}"),
               ("prediction", "[a, b]"), ("discharge_level", "{a: 1}"),
               ("discharge_level", "[live]"), ("discharge_status", "[DISCHARGED]"),
               ("discharge_status", "{x: 1}"), ("discharge_status", "DONE"), ("evidence", "[1, 2]"),
               ("evidence", "{tests: 5}"), ("evidence", "{tests: [1, {test: 3}]}")]


def _count(text: str) -> int | None:
    """Falsifiers the reference reader (PyYAML's libyaml loader, the plugin's parser, with
    none of its checks) finds in a text, None if unusable. The pure-Python loader is no
    reference: it refuses some tabs that libyaml accepts."""
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except Exception:  # noqa: BLE001 - any failure: the file is not a usable contract
        return None
    if not isinstance(data, dict):
        return None
    n = 0
    for block in ("falsification_tests", "gates"):
        items = data.get(block)
        if isinstance(items, list):
            n += sum(1 for e in items if isinstance(e, dict) and isinstance(e.get("id"), str)
                     and e["id"].strip())
    return n


def _count_oracle(text: str):
    def oracle(work: Path, run: Run) -> tuple[str, str] | None:
        if run.rc != 0:
            return None
        m = re.search(r"(\d+) falsifier\(s\)", run.out)
        want = _count(text)
        if want is None:  # not a contract: skipped with a note (issue 9), never counted
            if "0 contract(s), 0 falsifier(s)" in run.out and "note(s)" in run.out:
                return None
            return WRONG, "validate accepted a file PyYAML cannot read as a contract"
        if m is None or int(m.group(1)) != want:
            return WRONG, f"validate counted {m and m.group(1)} falsifiers, the file holds {want}"
        return None

    return oracle


def _mutations(rng: random.Random, text: str) -> tuple[str, bytes | str, str]:
    """(name, new content, expectation) of one random mutation of `text`."""
    lines = text.splitlines(keepends=True)
    kind = rng.choice(["value", "value", "type", "type", "truncate", "delete", "duplicate",
                       "swap", "junk", "indent", "encoding", "big"])
    if kind == "value":
        v = rng.choice(BAD_VALUES)
        key = rng.choice(["version", "status", "rule", "date"])
        new = text.replace("  version: 1.0.0\n", f"  version: 1.0.0\n  {key}x: {v}\n", 1)
        return f"value {v[:20]!r}", new, REFUSE
    if kind == "type":
        key, v = rng.choice(WRONG_TYPES)
        entry_text = "  - id: FALSIFY-FZ-001\n    rule: algorithm-level claim\n"
        if key == "id":
            new = text.replace("  - id: FALSIFY-FZ-001\n", f"  - id: {v}\n", 1)
        else:
            new = text.replace(entry_text, entry_text + f"    {key}: {v}\n", 1)
            if key == "prediction":
                new = new.replace('    prediction: "passes"\n', "", 1)
        bad = key in ("id", "discharge_level", "discharge_status")
        return f"type {key}: {v}", new, REFUSE if bad else EITHER
    if kind == "truncate":
        cut = rng.randrange(len(text))
        return f"truncated at {cut}", text[:cut], EITHER
    if kind == "delete":
        i = rng.randrange(len(lines))
        return f"line {i + 1} deleted", "".join(lines[:i] + lines[i + 1:]), EITHER
    if kind == "duplicate":
        i = rng.randrange(len(lines))
        return f"line {i + 1} twice", "".join(lines[:i + 1] + lines[i:]), EITHER
    if kind == "swap":
        i, j = sorted(rng.sample(range(len(lines)), 2))
        lines[i], lines[j] = lines[j], lines[i]
        return f"lines {i + 1},{j + 1} swapped", "".join(lines), EITHER
    if kind == "junk":
        data = bytearray(text.encode())
        at = rng.randrange(len(data))
        junk = rng.choice([b"\x00", b"\xff\xfe", b"\t", b"{", b"]", b"&a ", b"*a", b"? ", b"%YAML 1.1\n",
                           b"---\n", b"\xe2\x80\xa8", b"\r", bytes(rng.randrange(256) for _ in range(4))])
        data[at:at] = junk
        return f"junk {junk!r} at {at}", bytes(data), EITHER
    if kind == "indent":
        i = rng.randrange(len(lines))
        d = rng.choice([" ", "  ", "\t", "-"])
        return f"line {i + 1} indented by {d!r}", "".join(lines[:i] + [d + lines[i]] + lines[i + 1:]), EITHER
    if kind == "encoding":
        enc = rng.choice(["utf-16", "latin-1 é", "bom", "crlf", "cr"])
        if enc == "utf-16":
            return "UTF-16", text.encode("utf-16"), REFUSE
        if enc == "latin-1 é":
            return "latin-1", text.replace("aprender's", "apr\xe9nder's").encode("latin-1"), REFUSE
        if enc == "bom":
            return "UTF-8 BOM", b"\xef\xbb\xbf" + text.encode(), ACCEPT
        if enc == "crlf":
            return "CRLF", text.replace("\n", "\r\n"), ACCEPT
        return "CR only", text.replace("\n", "\r"), ACCEPT
    big = rng.choice(["deep", "bomb", "recursive", "flow", "wide"])
    if big == "deep":
        return "nested 250 deep", text + "extra: " + "[" * 250 + "]" * 250 + "\n", REFUSE
    if big == "bomb":
        bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdefg", "bcdefgh", strict=True))
        return "alias bomb", text.replace("gates:", bomb + "gates:"), REFUSE
    if big == "recursive":
        return "recursive alias", text.replace("metadata:\n", "metadata: &m\n  self: *m\n", 1), REFUSE
    if big == "flow":
        n = rng.choice([250_000, 600_000])
        return f"flow list of {n}", text + "extra: [" + ",".join(["1"] * n) + "]\n", REFUSE
    n = 250_000
    return f"{n} keys", text + "extra:\n" + "".join(f"  k{i}: 1\n" for i in range(n)), REFUSE


def _write(path: Path, content: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)


def _project(content: bytes | str, extra: Callable[[Path], None] | None = None):
    def make(d: Path) -> None:
        _write(d / "contracts" / "fz.yaml", content)
        _write(d / "pytest.ini", "[pytest]\n")
        _write(d / "test_fz.py", TESTS)
        if extra is not None:
            extra(d)

    return make


def _pyproject(d: Path, text: str) -> None:
    os.remove(d / "pytest.ini")
    _write(d / "pyproject.toml", text)


def _sparse(d: Path) -> None:
    with (d / "contracts" / "huge.yaml").open("wb") as f:
        f.truncate(8 * 1024**3)


def _unlisted_dir(d: Path) -> None:
    (d / "contracts" / "locked").mkdir()
    (d / "contracts" / "locked" / "x.yaml").write_text(BASE.replace("FZ", "LK"))
    if os.geteuid() != 0:  # root lists any directory; then this case is a valid layout
        (d / "contracts" / "locked").chmod(0)


DIRECTORY = [
    ("dangling symlink", lambda d: (d / "contracts" / "gone.yaml").symlink_to(d / "missing.yaml"), REFUSE),
    ("symlink loop", lambda d: (d / "contracts" / "a.yaml").symlink_to(d / "contracts" / "a.yaml"), REFUSE),
    ("directory loop", lambda d: (d / "contracts" / "up").symlink_to(d / "contracts"), REFUSE),
    ("FIFO named .yaml", lambda d: os.mkfifo(d / "contracts" / "pipe.yaml"), REFUSE),
    ("8 GB sparse file", _sparse, REFUSE),
    ("duplicate file via link", lambda d: (d / "contracts" / "copy.yaml").symlink_to(d / "contracts" / "fz.yaml"),
     REFUSE),
    ("symlinked directory", lambda d: ((d / "elsewhere").mkdir(), (d / "elsewhere" / "o.yaml").write_text(
        BASE.replace("FZ", "EL")), (d / "contracts" / "el").symlink_to(d / "elsewhere")), ACCEPT),
    ("unreadable subdirectory", _unlisted_dir, REFUSE if os.geteuid() != 0 else ACCEPT),
    # (pytest.ini comes first, as pytest finds its config: these projects have none)
    ("malformed pyproject.toml", lambda d: _pyproject(d, "[tool.pytest.ini_options\n"), REFUSE),
    ("pyproject.toml setting not a string", lambda d: _pyproject(
        d, "[tool.pytest.ini_options]\nfalsify_contracts = 3\n"), REFUSE),
    ("pyproject.toml is a FIFO", lambda d: (os.remove(d / "pytest.ini"), os.mkfifo(d / "pyproject.toml")),
     EITHER),
    ("contracts dir is a FIFO", lambda d: (os.remove(d / "contracts" / "fz.yaml"), os.rmdir(d / "contracts"),
                                           os.mkfifo(d / "contracts")), REFUSE),
    ("contracts dir missing", lambda d: (os.remove(d / "contracts" / "fz.yaml"), os.rmdir(d / "contracts")),
     REFUSE),
]

_ENTRIES = [
    ("falsify validate", lambda: entry.falsify("validate"), 6),
    ("falsify status", lambda: entry.falsify("status"), 3),
    ("pytest --falsify", lambda: entry.pytest_run("--falsify"), 1),
    ("pytest --falsify=check", lambda: entry.pytest_run("--falsify=check"), 1),
]


def cases(rng: random.Random, n: int, pytest_share: float = 0.1) -> Iterator[Case]:
    """`n` cases: the directory layouts once each, then random mutations of BASE."""
    for i in range(n):
        if i < len(DIRECTORY):
            name, extra, expect = DIRECTORY[i]
            content: bytes | str = BASE
        else:
            name, content, expect = _mutations(rng, BASE)
            extra = None
        use_pytest = rng.random() < pytest_share
        entries = _ENTRIES[2:] if use_pytest else _ENTRIES[:2]
        label, call, _ = rng.choice(entries)
        if "pyproject" in name:  # pytest reads its own ini (pytest.ini here), not pyproject
            label, call = "falsify validate", _ENTRIES[0][1]
        if label.startswith("pytest") and expect == ACCEPT:
            expect = EITHER  # the writer may refuse a layout it cannot rewrite, cleanly
        text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
        oracle = _count_oracle(text) if label == "falsify validate" and extra is None else None
        yield Case("contracts", name, label, _project(content, extra), call, expect, oracle)
