"""The one error every reader raises for a bad file.

A `FormatError` names the file and the problem in one line, so the CLI can print it
and exit 2 instead of showing a traceback.
"""

from __future__ import annotations

import os


class FormatError(ValueError):
    """A model file that cannot be read: truncated, corrupt, or not what it claims."""

    def __init__(self, path: str | os.PathLike[str] | None, problem: str) -> None:
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)

    def __reduce__(self):  # picklable with both fields (a sweep's worker process raises it)
        return (type(self), (self.path, self.problem))
