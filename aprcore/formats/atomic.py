"""Replace a file atomically, through a temporary name nobody else can plant.

A fixed temporary name (`m.gguf.tmp`) can be pre-created as a symlink by anyone who can
write the directory, and the writer then overwrites the link's target. Here the
temporary file lives in a fresh private directory (`mkdtemp`: a new, unpredictable
name created with O_EXCL semantics, mode 0700) inside the target's own directory: the
same filesystem, so the final `os.replace` is atomic, and no name inside it can be
planted, so the writers that open by name (gguf's GGUFWriter, safetensors' save_file)
cannot be made to follow a link. A crash leaves at most a `.NAME.*.tmp` directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield the path to write the new content of `path` to; renamed over `path` when the
    block ends without an exception, removed either way."""
    path = Path(path)
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        tmp = tmpdir / path.name
        yield tmp
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
