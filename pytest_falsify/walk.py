"""Find and read contract files; every entry that cannot be used is reported, never skipped.

`Path.rglob` silently drops what it cannot use: dangling symlinks, unreadable
subdirectories, FIFOs named `*.yaml`, symlinked directories. A contracts directory with
such an entry used to validate as "0 errors" while claims went missing, so the walk is
written out here: symlinked directories are followed (a loop back to an ancestor is
reported), and each problem comes back with a one-line fix.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

SUFFIXES = (".yaml", ".yml")
#: Largest contract file read at all; checked before reading (a contract is a few KB).
MAX_FILE_BYTES = 4 * 1024 * 1024


class FileProblem(Exception):
    """A path that cannot be used as a contract (or contracts directory), with a fix."""

    def __init__(self, path: Path, message: str, fix: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message
        self.fix = fix


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _stat_problem(path: Path, exc: OSError) -> FileProblem:
    if exc.errno == errno.ELOOP:
        return FileProblem(path, "symlink loop", "point the link at a real file or directory")
    if exc.errno == errno.ENOENT and path.is_symlink():
        return FileProblem(path, f"dangling symlink (to {os.readlink(path)!r})",
                           "point the link at an existing file, or remove it")
    return FileProblem(path, f"cannot read: {exc.strerror}", "check the path and its permissions")


def contract_files(root: Path) -> tuple[list[Path], list[FileProblem]]:
    """(contract files under `root` in a stable order, problems found on the way).

    `root` may also be a single contract file.
    """
    found, problems = contract_files_stat(root)
    return [p for p, _ in found], problems


def contract_files_stat(root: Path) -> tuple[list[tuple[Path, os.stat_result]], list[FileProblem]]:
    """`contract_files`, each file with the stat the walk took of it (following links), so
    a loader need not stat it again."""
    try:
        st = root.stat()
    except OSError as exc:
        if exc.errno == errno.ENOENT and not root.is_symlink():
            return [], [FileProblem(root, "contracts directory not found",
                                    "pass --contracts DIR or set falsify_contracts in the ini")]
        return [], [_stat_problem(root, exc)]
    if stat.S_ISREG(st.st_mode):
        return [(root, st)], []
    if not stat.S_ISDIR(st.st_mode):
        return [], [FileProblem(root, f"{_kind(st.st_mode)}, not a contracts directory",
                                "pass a directory of *.yaml contracts (or one contract file)")]
    files: list[tuple[Path, os.stat_result]] = []
    problems: list[FileProblem] = []
    visited = {(st.st_dev, st.st_ino)}
    _visit(root, frozenset(visited), files, problems, visited)
    return sorted(files, key=lambda f: f[0]), problems


def _visit(directory: Path, ancestors: frozenset, files: list, problems: list,
           visited: set) -> None:
    """One directory of `contract_files_stat`'s walk, depth first. A module function, not
    a closure: a nested function calling itself is a reference cycle, which kept the
    walk's list (a tuple a file) alive until the next full collection."""
    try:
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        problems.append(FileProblem(directory, f"cannot list directory: {exc.strerror}",
                                    "fix its permissions, or move it out of the contracts directory"))
        return
    for entry in entries:
        path = directory / entry.name  # (Path(entry.path) parses the whole path again)
        named = entry.name.endswith(SUFFIXES) and entry.name not in SUFFIXES  # Path.suffix
        try:
            est = os.stat(entry.path)  # follows symlinks
        except OSError as exc:
            if not entry.name.startswith(".#"):  # an editor's lock file (a dangling link)
                problems.append(_stat_problem(path, exc))
            continue
        if stat.S_ISDIR(est.st_mode):
            key = (est.st_dev, est.st_ino)
            if key in ancestors:
                problems.append(FileProblem(path, "symlink loop (links back to a parent directory)",
                                            "remove the link or point it elsewhere"))
            elif key not in visited:  # two links to one directory: read it once
                visited.add(key)
                _visit(path, ancestors | {key}, files, problems, visited)
        elif named:
            if stat.S_ISREG(est.st_mode):
                files.append((path, est))
            else:
                problems.append(FileProblem(path, f"{_kind(est.st_mode)}, not a contract file",
                                            "replace it with a regular file, or rename it"))


def read_limited(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, checked before reading.

    O_NONBLOCK: a FIFO that replaced the file after the walk must not block the open.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _stat_problem(path, exc) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileProblem(path, f"{_kind(st.st_mode)}, not a contract file",
                              "replace it with a regular file")
        too_big = FileProblem(path, f"file larger than {limit:,} bytes (limit MAX_FILE_BYTES)",
                              "split the contract; a contract is a few KB")
        if st.st_size > limit:
            raise too_big
        chunks, size = [], 0
        while size <= limit:  # the file may grow while it is read
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise too_big
        return b"".join(chunks)
    except OSError as exc:
        raise FileProblem(path, f"cannot read: {exc.strerror}", "check the file") from None
    finally:
        os.close(fd)
