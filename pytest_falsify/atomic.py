"""Writing contract files safely: atomic replaces, the directory lock.

Kept apart from the text edits (rewrite.py): this module knows files, not YAML.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def atomic_write(path: Path, data: bytes) -> None:
    """Write via a temp file in the same directory, fsync, then os.replace."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(OSError):
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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
