"""Writing contract files safely: one file, or a set all-or-none; the directory lock.

Kept apart from the text edits (rewrite.py): this module knows files, not YAML.

A set of contracts is written in two phases. First every new text goes to a temp file
next to its target (named `.NAME.<random>.falsify-tmp`; into a spare file's inode where
the caller gives a pool, spares.py); a failure there (disk full, read-only) removes the
temps and changes nothing. Every temp is made durable before the journal exists: one
syncfs(2) of their filesystem where Linux has it, else an fsync each. Then a journal
(`.falsify-journal`, written atomically, its directory fsynced) lists the temp -> target
pairs, the temps are renamed over their targets, their directories are fsynced and the
journal is removed. A process killed after the journal exists leaves a set that the next
write finishes (`recover`, run under the lock); killed before, it leaves stray temps that
`recover` removes. Ctrl-C during the renames is ignored until they are done (a few
milliseconds), so a set is never left half renamed by it."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .spares import SparePool

TMP_SUFFIX = ".falsify-tmp"
JOURNAL = ".falsify-journal"


class WriteFailure(Exception):
    """A file of the set could not be written; `changed` says whether any target was."""

    def __init__(self, message: str, changed: bool = False) -> None:
        super().__init__(message)
        self.changed = changed


def _temp(path: Path, data: bytes, made: list[str], mode: int | None = None,
          spares: SparePool | None = None, sync: bool = True) -> str:
    """A temp file beside `path` holding `data`, with `path`'s permission bits (`mode`,
    when the caller has them already; else read from `path`); written into a spare file
    when `spares` has one (spares.py); fsynced unless `sync` is False (the caller then
    syncs the whole filesystem before anything depends on it)."""
    got = spares.claim(path, TMP_SUFFIX, made) if spares is not None else None
    if got is None:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
        made.append(tmp)
        old = None  # mkstemp's: empty, mode 0o600
    else:
        fd, tmp, old = got
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        if old is not None and old.st_size > len(data):
            f.truncate()  # a spare's old bytes past the new ones
        f.flush()
        if sync:
            os.fsync(f.fileno())
    with contextlib.suppress(OSError):  # (a journal has no old file: mkstemp's bits stay)
        bits = (path.stat().st_mode if mode is None else mode) & 0o7777
        if old is None or stat.S_IMODE(old.st_mode) != bits:  # a spare has some file's bits
            os.chmod(tmp, bits)
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


def _syncfs() -> Callable[[int], int] | None:
    """libc's syncfs(2) on Linux 5.8 or later, or None. (Before 5.8 syncfs did not report
    a write-back error, which an fsync does: there each temp is fsynced.)"""
    if not sys.platform.startswith("linux") or _kernel() < (5, 8):
        return None
    try:
        import ctypes

        fn = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError, ImportError):
        return None
    fn.argtypes = [ctypes.c_int]
    return fn


def _kernel() -> tuple[int, ...]:
    """The running kernel's (major, minor), (0,) when it cannot be read."""
    try:
        return tuple(int(x) for x in os.uname().release.split("-")[0].split(".")[:2])
    except (AttributeError, ValueError):
        return (0,)


def _sync_filesystems(syncfs: Callable[[int], int], directories: set[str]) -> None:
    """Flush the filesystem of each of `directories` (once per filesystem) and wait;
    raises OSError naming a directory whose filesystem reports an error."""
    seen: set[int] = set()
    for d in sorted(directories):
        fd = os.open(d, os.O_RDONLY)
        try:
            dev = os.fstat(fd).st_dev
            if dev in seen:
                continue
            seen.add(dev)
            if syncfs(fd) != 0:
                import ctypes

                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err), str(d))
        finally:
            os.close(fd)


def _relative(path: str | Path, directory: Path, inside: str) -> str:
    """`path` relative to `directory` (`inside`: its name and a separator): the part after
    it for a path under it, as every temp and target of a set is (os.path.relpath, ~3 us a
    path, only for any other)."""
    text = str(path)
    return text[len(inside):] if text.startswith(inside) else os.path.relpath(text, directory)


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


def write_set(directory: Path, files: Sequence[tuple[Path, bytes] | tuple[Path, bytes, int]],
              spares: SparePool | None = None) -> None:
    """Write every (target, data) of `files`, all or none (see the module doc); a third
    item, when given, is the target's st_mode (saves a stat a file). With `spares`, the
    temps are written into spare files where it has them, and each replaced contract's
    inode is kept there (spares.py).

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

    syncfs = _syncfs() if len(files) >= 4 else None

    def one(item: tuple) -> tuple[str, Path]:
        try:
            return (_temp(item[0], item[1], made, item[2] if len(item) > 2 else None, spares,
                          sync=syncfs is None), item[0])
        except OSError as exc:  # name the contract, not its temp file
            raise OSError(exc.errno, _reason(exc), str(item[0])) from None

    try:
        if len(files) < 4:
            pairs = [one(f) for f in files]
        elif syncfs is not None:
            # One syncfs(2) of each filesystem the temps are on, after writing them all,
            # instead of an fsync each: on Linux it waits for the writes, the guarantee of
            # an fsync of every file there (man 2 sync), at one flush for the lot.
            pairs = [one(f) for f in files]
            _sync_filesystems(syncfs, {os.path.dirname(t) for t, _ in pairs})
        else:
            # Many at once: each fsync waits on the disk (~5 ms here), and concurrent fsyncs
            # share journal commits: 2,000 files take ~1.5 s instead of ~10 s.
            with ThreadPoolExecutor(max_workers=min(64, len(files))) as pool:
                pairs = list(pool.map(one, files))
        inside = os.path.join(str(directory), "")
        body = json.dumps([[_relative(t, directory, inside), _relative(p, directory, inside)]
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
                if spares is not None:
                    spares.keep(pair[1])  # the old text's inode, to be written again later
                os.replace(*pair)
            except OSError as exc:
                return pair[1], exc
            return None

        # Renames from threads too, unless the pool keeps the replaced inodes: replacing a
        # file whose old blocks are freed waits on an ext4 journal commit (~3 ms each
        # here); concurrent renames share the commits (1,700 files: ~6 s one after the
        # other, under 1 s from 16 threads). A replaced inode kept as a spare frees
        # nothing, and there the threads only cost (~25 ms of CPU for 1,700). The order
        # does not matter: the journal lists every pair until all are done.
        if len(pairs) < 4 or (spares is not None and spares.keeps([p for _, p in pairs])):
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
