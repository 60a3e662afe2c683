"""The environment for a subprocess that runs this repository's code (`python -m aprcore`).

The repository goes first on PYTHONPATH, and whatever PYTHONPATH the run already had is
kept after it: a CUDA host without the project installed carries packages such as gguf
that way, and a child that lost them would fail where its parent passed.
"""

from __future__ import annotations

import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def repo_env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, PYTHONPATH=path, **extra)
