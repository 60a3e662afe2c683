"""Spare files for a write set: the inodes of replaced contracts, kept to be written again.

Why: a set of N contracts is written as N new temp files renamed over their targets, so
each write allocates N inodes and frees N. A filesystem that avoids reusing an inode freed
in the last minute or so (ext4 without a journal, as on this project's benchmark VM:
`recently_deleted()` in its allocator) scans past every such inode on each allocation:
writing 1,700 contracts a minute after 1,700 were replaced (two runs in a row, or a
checkout and a run) spent 0.3-2 s of kernel CPU allocating (benchmarks/README.md). Writing
a temp into an inode kept from an earlier write allocates nothing, and a replaced
contract whose inode is kept frees nothing.

The pool is a directory of plain files under pytest's cache (`.pytest_cache/d/falsify/
spares/`: pytest git-ignores its cache); a spare holds the old text of some contract until
it is written again. The rules, each of which keeps a spare from ever being a live file
(docs/design.md, "Spare files"):

- A spare is claimed by giving its inode a new, unique name beside the target (os.link,
  which never replaces a name) and then removing its pool name; a claim that loses a race
  (the pool name already gone) drops its new name. It is then used only when it is, after
  the claim, a regular file of this user with exactly one name (the temp's): never a link
  (O_NOFOLLOW), never a file that another name (a contract, another claim) still reaches.
  Anything else is dropped and a new temp is created as before.
- A contract's inode is kept only when it had one name: a hard-linked contract is replaced
  as before, its other names keep the old text, and its inode is never written again.
- Spares are used only on the filesystem of the pool (a link cannot cross filesystems),
  never on Windows, and at most LIMIT are kept.
- Nothing depends on the pool: it is a cache. A missing, unwritable or foreign pool only
  means new temps; a spare left by a killed writer with a second name is never used. The
  pool directory is made only inside an existing cache directory.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import threading
from pathlib import Path

#: most spares kept (a spare is one contract's old text)
LIMIT = 4096
DIR_NAME = "spares"


class SparePool:
    """The spares of one pool directory, claimed and kept by the threads of one write."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._names: list[str] | None = None  # listed on first use
        self._count = 0
        self._dev: int | None = None
        self._devs: dict[str, bool] = {}  # a target directory -> on the pool's filesystem
        if directory is None or os.name == "nt":
            self.directory = None
        # Names as strings, not Paths: pathlib's joins and hashes were a third of the
        # Python time of writing 1,700 files.
        self._dir = str(self.directory) if self.directory is not None else ""
        self._uid = os.geteuid() if self.directory is not None else -1

    def _ready(self) -> bool:
        """List the pool once (creating it); False when it cannot be used."""
        if self.directory is None:
            return False
        if self._names is None:
            try:
                # Not its parents: the cache directory is pytest's to make (with the
                # .gitignore that keeps it out of the project's history).
                self.directory.mkdir(exist_ok=True)
                self._dev = os.stat(self.directory).st_dev
                self._names = sorted(os.listdir(self.directory))
            except OSError:
                self.directory = None
                return False
            self._count = len(self._names)
        return True

    def _same_fs(self, where: str) -> bool:
        ok = self._devs.get(where)
        if ok is None:
            try:
                ok = os.stat(where).st_dev == self._dev
            except OSError:
                ok = False
            self._devs[where] = ok
        return ok

    def claim(self, beside: Path, suffix: str, made: list[str]
              ) -> tuple[int, str, os.stat_result] | None:
        """(a file open for writing at its start, its name, its fstat) for a temp beside
        `beside` (`.NAME.<random>` plus `suffix`), from a spare; or None (then the caller
        creates a new temp). The name is added to `made` as soon as it exists. The file
        still holds its old bytes (`st_size` of them, with the old permission bits): the
        caller writes over them and truncates at its end where they were longer (emptying
        it first would free its blocks only to allocate them again)."""
        with self._lock:
            if not self._ready() or not self._same_fs(os.path.dirname(beside)):
                return None
        while True:
            with self._lock:
                if not self._names:
                    return None
                name = self._names.pop()
            spare = os.path.join(self._dir, name)
            tmp = _fresh_link(spare, beside, suffix)
            if tmp is None:
                continue
            made.append(tmp)
            try:
                os.unlink(spare)
            except OSError:  # another writer took it first: it is theirs
                _unlink(tmp)
                made.remove(tmp)
                continue
            got = _open_alone(tmp, self._uid)
            if got is not None:
                with self._lock:
                    self._count -= 1
                return got[0], tmp, got[1]
            _unlink(tmp)
            made.remove(tmp)

    def keeps(self, targets: list[Path]) -> bool:
        """Whether `keep` has room for all of `targets` on the pool's filesystem (each may
        still be refused: a hard-linked contract is not kept)."""
        with self._lock:
            return (self._ready() and self._count + len(targets) <= LIMIT
                    and all(self._same_fs(os.path.dirname(t)) for t in targets))

    def keep(self, target: Path) -> None:
        """Give `target`'s inode a pool name before `target` is replaced, when it has one
        name and the pool has room (best effort: the replace does not depend on it)."""
        with self._lock:
            if (not self._ready() or self._count >= LIMIT
                    or not self._same_fs(os.path.dirname(target))):
                return
            self._count += 1
        try:
            st = os.lstat(target)
            if stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
                for _ in range(3):
                    with contextlib.suppress(FileExistsError):
                        os.link(target, os.path.join(self._dir, f"s{secrets.token_hex(8)}"),
                                follow_symlinks=False)
                        return
        except OSError:
            pass
        with self._lock:
            self._count -= 1


def _fresh_link(spare: str, beside: Path, suffix: str) -> str | None:
    """A new temp name beside `beside` for `spare`'s inode (None when it cannot be made)."""
    where, name = os.path.split(beside)
    for _ in range(3):
        tmp = os.path.join(where, f".{name}.{secrets.token_hex(4)}{suffix}")
        try:
            os.link(spare, tmp, follow_symlinks=False)
            return tmp
        except FileExistsError:
            continue
        except OSError:
            return None
    return None


def _open_alone(tmp: str, uid: int) -> tuple[int, os.stat_result] | None:
    """`tmp` opened for writing, and its fstat, if it is a regular file of user `uid` (this
    process's) that no other name reaches; else None."""
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and st.st_uid == uid:
            return fd, st
    except OSError:
        pass
    os.close(fd)
    return None


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
