"""How the harness tells the outcomes apart (it must see each defect it is there to count)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from fuzz import runner
from fuzz.case import (
    ACCEPT,
    ACCEPTED,
    CLEAN,
    HANG,
    MEMORY,
    REFUSE,
    TRACEBACK,
    WRONG,
    Case,
    classify,
)

pytestmark = pytest.mark.falsifier("FALSIFY-FUZZ-002")


def _run_one(fn, tmp_path: Path, time_s: float = 10, mem_mib: int = 256) -> runner.Run:
    d = tmp_path / "case"
    d.mkdir()
    [(_, run)] = list(runner.run_all([runner.Task(0, fn, d, time_s, mem_mib)], jobs=1))
    return run


def _case(expect: str = REFUSE, oracle=None) -> Case:
    return Case("t", "t", "t", lambda d: None, lambda: 0, expect, oracle)


def _raise():
    raise KeyError("boom")


def _sleep():
    time.sleep(30)


def _allocate():
    return len(bytearray(2 * 1024**3))


def _refuse():
    import sys

    print("error: bad input", file=sys.stderr)
    return 2


def _die():
    import os

    os.kill(os.getpid(), signal.SIGSEGV)


def test_an_uncaught_exception_is_a_traceback(tmp_path):
    run = _run_one(_raise, tmp_path)
    assert run.rc == 1 and classify(_case(), run, tmp_path) == (TRACEBACK, "KeyError: 'boom'")


def test_a_child_past_its_time_is_killed_as_a_hang(tmp_path):
    run = _run_one(_sleep, tmp_path, time_s=0.5)
    assert run.timed_out and classify(_case(), run, tmp_path)[0] == HANG


def test_an_allocation_past_the_cap_is_memory(tmp_path):
    run = _run_one(_allocate, tmp_path, mem_mib=256)
    assert classify(_case(), run, tmp_path)[0] == MEMORY


def test_death_by_a_signal_is_a_traceback(tmp_path):
    run = _run_one(_die, tmp_path)
    assert classify(_case(), run, tmp_path) == (TRACEBACK, "died of signal SIGSEGV")


def test_a_refusal_with_a_message_is_a_clean_error(tmp_path):
    run = _run_one(_refuse, tmp_path)
    assert classify(_case(), run, tmp_path) == (CLEAN, "error: bad input")


def test_accepting_what_must_be_refused_is_silent_wrong(tmp_path):
    run = _run_one(lambda: 0, tmp_path)
    assert classify(_case(REFUSE), run, tmp_path)[0] == WRONG
    assert classify(_case(ACCEPT), run, tmp_path)[0] == ACCEPTED


def test_refusing_a_valid_input_is_silent_wrong(tmp_path):
    run = _run_one(_refuse, tmp_path)
    assert classify(_case(ACCEPT), run, tmp_path)[0] == WRONG


def test_the_oracle_overrules_a_success(tmp_path):
    run = _run_one(lambda: 0, tmp_path)
    verdict = classify(_case(ACCEPT, lambda d, r: ("data loss", "a key vanished")), run, tmp_path)
    assert verdict == ("data loss", "a key vanished")
