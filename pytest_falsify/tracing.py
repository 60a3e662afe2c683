"""pytest hooks that fingerprint the code each bound test runs (coverage.py underneath).

Tracing is on only inside a bound test's own phases (setup, call, teardown hooks), not in
the plugin's report hooks between them and not for unbound tests, so the rest of the run
pays nothing. The windows are the innermost wrappers (trylast): other plugins' wrappers
(capture, logging, faults) run outside them, untraced; the test, its fixtures and the
plain hook implementations run inside. The fingerprints are computed once, at the end of the run
(`TestTracer.fingerprints`): the plugin adds them to its results, or, in an xdist worker,
sends them to the controller in `workeroutput`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from . import fingerprint as F
from . import mutants

_BOUND = pytest.StashKey[bool]()


def preload() -> None:
    """Import coverage.py now, in a project that uses the plugin. pytester's in-process runs
    drop the modules a run imported; a second import of coverage's C tracer then lacks
    its classes. Imported once up front, it stays."""
    try:
        import coverage.tracer  # noqa: F401
    except ImportError:
        pass


def availability() -> str | None:
    """Why fingerprints cannot be taken here, or None when they can."""
    try:
        import coverage  # noqa: F401
    except ImportError:
        return "fingerprints off: coverage.py is not installed (pip install coverage)"
    if F.foreign_coverage():
        return ("fingerprints off: another coverage.py measurement is active (pytest-cov, "
                "coverage run); ours would pause it")
    return None


class TestTracer:
    """Registered by the plugin when the mode fingerprints; one per process."""

    __test__ = False

    def __init__(self, root: Path, index: F.SourceIndex) -> None:
        self.tracer = F.Tracer(root)
        self.index = index
        self.skip = F.Tracer.own_functions()

    def mark(self, item: pytest.Item) -> None:
        item.stash[_BOUND] = True

    def _window(self, item: pytest.Item, phase: str):
        """Trace `phase` of a bound test: the first phase starts its context."""
        if _BOUND not in item.stash or mutants.ACTIVE in item.stash:  # `in`: no KeyError
            return (yield)  # unbound, or a faulted rerun (mutants mode): not evidence
        if phase == "setup":
            self.tracer.start(item.nodeid)
        else:
            self.tracer.resume()
        try:
            return (yield)
        finally:
            self.tracer.pause()

    def fingerprints(self) -> dict[str, dict[str, str]]:
        """{node id: fingerprint} of every bound test this process ran."""
        return {nodeid: F.fingerprint(lines, self.index, self.skip)
                for nodeid, lines in self.tracer.lines_by_test().items()}

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_setup(self, item):
        return (yield from self._window(item, "setup"))

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_call(self, item):
        return (yield from self._window(item, "call"))

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_teardown(self, item, nextitem):
        return (yield from self._window(item, "teardown"))
