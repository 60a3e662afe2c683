"""Run one call in a child process with a wall-clock and a memory cap.

Each case runs in a child forked from this (already warmed-up) process, the way a
pre-fork server works: an interpreter start plus importing pytest, numpy and gguf costs
~1 s per case on a loaded machine, a fork a few milliseconds. The child is a real
process: its own memory under RLIMIT_DATA (what it allocates; since Linux 4.7 that
counts the heap and anonymous mappings but not read-only file mappings, so mapping a
large model file is not mistaken for allocating it), its own file-size limit, stdout and
stderr in files, and the exit status an interpreter would give (an uncaught exception
prints its traceback and exits 1, SystemExit's code is the status). A child that runs
past its time is killed (SIGKILL) and reported as timed out.
"""

from __future__ import annotations

import faulthandler
import os
import resource
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

#: What a case may write in total (its work directory): larger writes get EFBIG.
MAX_WRITE_BYTES = 256 * 1024 * 1024


@dataclass
class Run:
    """What a child did: exit code (None when killed), output, and how it ended."""

    rc: int | None
    out: str
    err: str
    seconds: float
    timed_out: bool = False
    signal: int | None = None
    peak_mib: float = 0.0


def _data_bytes() -> int:
    """This process' current data size (VmData: heap and private anonymous mappings),
    what RLIMIT_DATA is measured against."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmData in /proc/self/status")


def call_as_main(fn: Callable[[], int | None]) -> int:
    """`fn()`'s exit status as the interpreter would make it: its return value, SystemExit's
    code, or 1 after printing the traceback of an uncaught exception."""
    try:
        result = fn()
        return int(result or 0)
    except SystemExit as exc:
        c = exc.code
        if c is None or isinstance(c, int):
            return c or 0
        print(c, file=sys.stderr)
        return 1
    except BaseException:  # noqa: BLE001 - what the interpreter would print
        traceback.print_exc()
        return 1


def _child(fn: Callable[[], int | None], cwd: Path, out: int, err: int, mem_mib: int) -> None:
    """Runs in the forked child; never returns."""
    code = 1
    try:
        faulthandler.disable()  # a parent's (pytest's) handler would write to its stderr
        os.dup2(out, 1)
        os.dup2(err, 2)
        # New text streams on the new fds: the inherited sys.stdout may be a capture
        # object of the parent (pytest's, when the harness runs inside a test).
        sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
        os.chdir(cwd)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # over the size limit: EFBIG, not a kill
        cap = _data_bytes() + mem_mib * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))
        resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_WRITE_BYTES, MAX_WRITE_BYTES))
        code = call_as_main(fn)
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code & 0xFF)


@dataclass
class Task:
    """One call to make in a child: `fn()` in `cwd`, within `time_s` and `mem_mib`."""

    key: object
    fn: Callable[[], int | None]
    cwd: Path
    time_s: float
    mem_mib: int


def run_all(tasks: Iterable[Task], jobs: int) -> Iterator[tuple[object, Run]]:
    """(key, run) of every task, at most `jobs` children at once, in finishing order.

    `tasks` is pulled lazily, so a generator may prepare each case's files just in time.
    """
    running: dict[int, tuple[Task, float]] = {}
    pending = iter(tasks)
    more = True
    while True:
        while more and len(running) < max(1, jobs):
            task = next(pending, None)
            if task is None:
                more = False
                break
            running[_start(task)] = (task, time.monotonic())
        if not running:
            return
        yield from _reap(running)


def _streams(task: Task) -> tuple[Path, Path]:
    return (task.cwd.parent / f".{task.cwd.name}.out", task.cwd.parent / f".{task.cwd.name}.err")


def _start(task: Task) -> int:
    out_path, err_path = _streams(task)
    out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _child(task.fn, task.cwd, out, err, task.mem_mib)
    os.close(out)
    os.close(err)
    return pid


def _reap(running: dict[int, tuple[Task, float]]) -> list[tuple[object, Run]]:
    """Finished runs (killing those past their time); waits until there is at least one."""
    finished: list[tuple[object, Run]] = []
    while not finished:
        now = time.monotonic()
        for pid, (task, start) in list(running.items()):
            got, status, usage = os.wait4(pid, os.WNOHANG)
            timed_out = False
            if got == 0:
                if now < start + task.time_s:
                    continue
                os.kill(pid, signal.SIGKILL)
                got, status, usage = os.wait4(pid, 0)
                timed_out = True
            del running[pid]
            finished.append((task.key, _result(task, status, usage, time.monotonic() - start,
                                               timed_out)))
        if not finished:
            time.sleep(0.002)
    return finished


def _result(task: Task, status: int, usage, seconds: float, timed_out: bool) -> Run:
    texts = []
    for p in _streams(task):
        with open(p, "rb") as f:  # the tail: a runaway child may have printed megabytes
            f.seek(max(0, os.fstat(f.fileno()).st_size - 20000))
            texts.append(f.read().decode("utf-8", "replace"))
        p.unlink()
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    rc = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
    return Run(rc, texts[0], texts[1], seconds, timed_out, sig, usage.ru_maxrss / 1024)
