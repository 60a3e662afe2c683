"""A generated input, what it should do, and how its run is classified (pure logic).

Columns of the table, in order. "clean error": refused with a message and no
traceback. "accepted": ran to success (valid input). The rest are defects: "traceback"
(an uncaught exception, INTERNALERROR, or death by a signal), "hang" (killed at the time
cap), "memory" (MemoryError under the RLIMIT_DATA cap), "silent wrong" (no traceback, but
the answer is wrong: a bad input accepted, a valid one refused, a result the oracle
disagrees with), "data loss" (a file's content lost or changed beyond what the tool may
change).
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .runner import Run

REFUSE, ACCEPT, EITHER = "refuse", "accept", "either"
CLEAN, ACCEPTED = "clean error", "accepted"
TRACEBACK, HANG, MEMORY, WRONG, LOSS = "traceback", "hang", "memory", "silent wrong", "data loss"
COLUMNS = (CLEAN, ACCEPTED, TRACEBACK, HANG, MEMORY, WRONG, LOSS)
BAD = (TRACEBACK, HANG, MEMORY, WRONG, LOSS)

#: An oracle looks at the case directory after the run: None, or (column, why).
Oracle = Callable[[Path, Run], "tuple[str, str] | None"]


@dataclass
class Case:
    cls: str  # contracts | rewrites | reports | gguf | safetensors | config.json
    name: str  # the mutation, for the listing of defects
    entry: str  # the entry point, as a user would type it
    make: Callable[[Path], None]  # writes the case's files into an empty directory
    call: Callable[[], int | None]  # runs in the child, in that directory
    expect: str = EITHER
    oracle: Oracle | None = None
    time_s: float = 30.0
    mem_mib: int = 1024


_MEMORY_TEXT = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory")


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""


def classify(case: Case, run: Run, workdir: Path) -> tuple[str, str]:
    """(column, why) of one run."""
    text = run.out + run.err
    if run.timed_out:
        return HANG, f"killed after {case.time_s:g} s"
    if any(m in text for m in _MEMORY_TEXT):
        return MEMORY, last_line(run.err) or last_line(run.out)
    if run.signal is not None:
        return TRACEBACK, f"died of signal {signal.Signals(run.signal).name}"
    if "Traceback (most recent call last)" in text or "INTERNALERROR" in text:
        return TRACEBACK, last_line(run.err) or last_line(run.out)
    if case.oracle is not None:
        verdict = case.oracle(workdir, run)
        if verdict is not None:
            return verdict
    if run.rc == 0:
        if case.expect == REFUSE:
            return WRONG, "accepted an input that must be refused"
        return ACCEPTED, ""
    if case.expect == ACCEPT:
        return WRONG, f"refused a valid input: {last_line(run.err) or last_line(run.out)}"
    if not text.strip():
        return WRONG, f"exit {run.rc} without a message"
    return CLEAN, last_line(run.err) or last_line(run.out)
