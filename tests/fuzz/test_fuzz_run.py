"""The fuzz harness, end to end: a short seeded run ends with zeros in every bad column.

Run as a real subprocess (`python -m fuzz`), the way a user runs it: the harness forks
its cases from a single-threaded process, never from inside a pytest-xdist worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fuzz import harness
from fuzz.case import BAD, COLUMNS

ROOT = Path(__file__).resolve().parents[2]


def _fuzz(*args: str, timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "fuzz", "--no-progress", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _table(out: str) -> dict[str, dict[str, int]]:
    rows = [[c.strip() for c in ln.strip("|").split("|")] for ln in out.splitlines() if ln.startswith("| ")]
    head = rows[0]
    return {r[0]: dict(zip(head[1:], map(int, r[1:]), strict=True)) for r in rows[1:]}


@pytest.mark.falsifier("FALSIFY-FUZZ-001")
def test_the_short_seeded_run_has_zeros_in_every_bad_column():
    proc = _fuzz("--seed", "0", timeout=600)
    table = _table(proc.stdout)
    assert set(table) == {*harness.CLASSES, "total"}, proc.stdout + proc.stderr
    assert {c: table["total"][c] for c in BAD} == dict.fromkeys(BAD, 0), proc.stdout
    assert table["total"]["tried"] == sum(size for _, size in harness.CLASSES.values())
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.falsifier("FALSIFY-FUZZ-001")
def test_the_long_run_has_zeros_in_every_bad_column():
    proc = _fuzz("--seed", "1", "--long", timeout=3600)
    assert proc.returncode == 0, proc.stdout[-5000:]


def test_the_table_has_a_column_for_every_outcome():
    lines = harness.format_table({"x": {"tried": 3, **dict.fromkeys(COLUMNS, 0), "clean error": 3}})
    assert _table("\n".join(lines)) == {
        "x": {"tried": 3, **dict.fromkeys(COLUMNS, 0), "clean error": 3},
        "total": {"tried": 3, **dict.fromkeys(COLUMNS, 0), "clean error": 3}}
