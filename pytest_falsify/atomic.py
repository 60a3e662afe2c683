"""Writing contract files safely: one file, or a set all-or-none; the directory lock.

Kept apart from the text edits (rewrite.py): this module knows files, not YAML.

A set of contracts is written in two phases. First every new text goes to a temp file
next to its target (named `.NAME.<random>.falsify-tmp`, fsynced); a failure there (disk
full, read-only) removes the temps and changes nothing. Then a journal
(`.falsify-journal`, written atomically) lists the temp -> target pairs, the temps are
renamed over their targets and the journal is removed. A process killed after the journal
exists leaves a set that the next write finishes (`recover`, run under the lock); killed
before, it leaves stray temps that `recover` removes. Ctrl-C during the renames is ignored
until they are done (a few milliseconds), so a set is never left half renamed by it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import tempfile
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TMP_SUFFIX = ".falsify-tmp"
JOURNAL = ".falsify-journal"


class WriteFailure(Exception):
    """A file of the set could not be written; `changed` says whether any target was."""

    def __init__(self, message: str, changed: bool = False) -> None:
        super().__init__(message)
        self.changed = changed


def _temp(path: Path, data: bytes, made: list[str], mode: int | None = None) -> str:
    """A temp file beside `path` holding `data`, fsynced, with `path`'s permission bits
    (`mode`, when the caller has them already; else read from `path`)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    made.append(tmp)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    with contextlib.suppress(OSError):
        os.chmod(tmp, (path.stat().st_mode if mode is None else mode) & 0o7777)
    return tmp


def _remove(paths: Sequence[str]) -> None:
    for p in paths:
        with contextlib.suppress(OSError):
            os.unlink(p)


def _fsync_dir(directory: Path) -> None:
    if os.name == "nt":  # pragma: no cover - directories cannot be opened on Windows
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _reason(exc: OSError) -> str:
    return exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))


def atomic_write(path: Path, data: bytes) -> None:
    """Write one file via a temp file in the same directory, fsync, then os.replace."""
    made: list[str] = []
    try:
        os.replace(_temp(path, data, made), path)
    except BaseException:
        _remove(made)
        raise


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """Ignore Ctrl-C for the block (main thread only: elsewhere signals cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def write_set(directory: Path, files: Sequence[tuple[Path, bytes] | tuple[Path, bytes, int]]
              ) -> None:
    """Write every (target, data) of `files`, all or none (see the module doc); a third
    item, when given, is the target's st_mode (saves a stat a file).

    Raises WriteFailure naming the file (originals intact unless `changed`), and
    KeyboardInterrupt after removing the temps when Ctrl-C came before the renames (a
    Ctrl-C during them is held until the set is complete, and then dropped: the run is
    ending anyway, and the set it wrote is whole).
    """
    if not files:
        return
    made: list[str] = []
    pairs: list[tuple[str, Path]] = []
    journal = directory / JOURNAL

    def one(item: tuple) -> tuple[str, Path]:
        try:
            return _temp(item[0], item[1], made, item[2] if len(item) > 2 else None), item[0]
        except OSError as exc:  # name the contract, not its temp file
            raise OSError(exc.errno, _reason(exc), str(item[0])) from None

    try:
        if len(files) < 4:
            pairs = [one(f) for f in files]
        else:
            # Many at once: each fsync waits on the disk (~5 ms here), and concurrent fsyncs
            # share journal commits: 2,000 files take ~1.5 s instead of ~10 s.
            with ThreadPoolExecutor(max_workers=min(64, len(files))) as pool:
                pairs = list(pool.map(one, files))
        body = json.dumps([[os.path.relpath(t, directory), os.path.relpath(p, directory)]
                           for t, p in pairs]).encode()
        atomic_write(journal, body)  # its temp ends in TMP_SUFFIX too
        _fsync_dir(directory)  # the journal's name is on disk before any contract is renamed
    except OSError as exc:
        _remove(made)
        raise WriteFailure(f"cannot write {exc.filename or journal}: {_reason(exc)}; "
                           "no contract was changed") from None
    except BaseException:
        _remove(made)
        raise
    with _sigint_held():
        def rename(pair: tuple[str, Path]) -> tuple[Path, OSError] | None:
            try:
                os.replace(*pair)
            except OSError as exc:
                return pair[1], exc
            return None

        # Renames from threads too: replacing a file whose old blocks are on disk waits on
        # an ext4 journal commit (~3 ms each here); concurrent renames share the commits
        # (1,700 files: ~6 s one after the other, under 1 s from 16 threads). The order
        # does not matter: the journal lists every pair until all are done.
        if len(pairs) < 4:
            failed = [rename(p) for p in pairs]
        else:
            with ThreadPoolExecutor(max_workers=min(16, len(pairs))) as pool:
                failed = list(pool.map(rename, pairs))
        bad = next((f for f in failed if f is not None), None)
        if bad is not None:
            path, exc = bad
            raise WriteFailure(f"cannot replace {path}: {_reason(exc)}; the set is half "
                               f"written: the next run finishes it from {journal}",
                               changed=True) from None
        for d in {p.parent for _, p in pairs}:
            _fsync_dir(d)
        with contextlib.suppress(OSError):
            os.unlink(journal)


def recover(directory: Path) -> tuple[list[str], list[str]]:
    """Finish a set a killed writer left half renamed, remove stray temps; call under the
    lock. Returns (what was done, what could not be), one line each."""
    done: list[str] = []
    journal = directory / JOURNAL
    if journal.exists():
        try:
            pairs = json.loads(journal.read_text(encoding="utf-8"))
            finished = 0
            for tmp, target in pairs:
                t = directory / tmp
                if t.exists():
                    os.replace(t, directory / target)
                    finished += 1
            os.unlink(journal)
        except (OSError, ValueError, TypeError) as exc:
            return done, [f"{journal}: cannot finish an interrupted write ({exc}); fix or remove it"]
        done.append(f"finished an interrupted write: {finished} of {len(pairs)} contract "
                    "file(s) were still to be renamed")
    stray = [p for p in directory.rglob(f"*{TMP_SUFFIX}") if p.is_file()]
    _remove([str(p) for p in stray])
    if stray:
        done.append(f"removed {len(stray)} temp file(s) of an interrupted write")
    return done, []


@contextlib.contextmanager
def locked(directory: Path, timeout: float = 120.0) -> Iterator[None]:
    """An exclusive lock on a contracts directory across processes.

    fcntl/msvcrt rather than the `filelock` package keeps the plugin's dependencies at
    pytest + pyyaml; the lock file `.falsify.lock` is git-ignored (*.lock).
    """
    import time

    lock_path = directory / ".falsify.lock"
    f = open(lock_path, "a+b")  # noqa: SIM115 - held for the with-block
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if os.name == "nt":  # pragma: no cover - exercised on Windows only
                    import msvcrt

                    f.seek(0)
                    msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
                else:
                    import fcntl

                    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"could not lock {lock_path} within {timeout:.0f}s") from None
                time.sleep(0.05)
        yield
    finally:
        f.close()  # closing releases the lock
