"""pytest hooks that fingerprint the code each bound test runs (coverage.py underneath).

Tracing is on only inside a bound test's own phases (setup, call, teardown hooks), not in
the plugin's report hooks between them and not for unbound tests, so the rest of the run
pays nothing. The windows are the innermost wrappers (trylast): other plugins' wrappers
(capture, logging, faults) run outside them, untraced; the test, its fixtures and the
plain hook implementations run inside. The fingerprints are computed once, at the end of the run
(`TestTracer.fingerprints`): the plugin adds them to its results, or, in an xdist worker,
sends them to the controller in `workeroutput`.

A plain test (`_plain`: a `pytest.Function` without fixtures, under no hook implementation
but pytest's own) runs nothing of the project in its phases but its function, except where
its parent is set up or torn down. Its call is traced inside `pytest_pyfunc_call` only, and
its setup and teardown only at such a boundary: the fingerprint is the one the whole
phases give (a test compares), without coverage.py tracing pytest's own machinery, which
is most of what tracing a trivial test costs (~0.07 ms of its ~0.1 ms, Python 3.11).

Where pytest's own `pytest_pyfunc_call` is the only one, a plain test's call is traced
around the function alone (`_call`, put in the item's `obj` for that call only): while a
trace function is set, the interpreter runs every frame in its tracing mode, and the
frames of pluggy, of pytest's implementation and of coverage.py's start and stop around
the function cost more than the function (0.65 G instructions over 8,930 trivial tests,
of the 3.4 G that fingerprints add to a write run, measured without other plugins).

Two cases keep the window around the hook. Any other `pytest_pyfunc_call` implementation
(anyio's, which ML environments often have) could call project code besides the
function. And pytest refuses an async test function before calling it, so it must see
the function itself.
"""

from __future__ import annotations

import functools
import inspect
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
        self.skip = frozenset(F.Tracer.own_functions())
        #: the parent that the last teardown kept set up (None: none, or not known)
        self._kept: object = None
        #: parent node -> the phases whose hook implementations are all pytest's own
        self._quiet: dict[object, frozenset[str]] = {}
        self._item: pytest.Item | None = None  # the test being traced, from its setup on
        self._phases: frozenset[str] = frozenset()  # its phases traced narrowly (`_plain`)
        self._in_pyfunc: pytest.Item | None = None  # a plain test whose call traces there

    def mark(self, item: pytest.Item) -> None:
        item.stash[_BOUND] = True

    def _traced(self, item: pytest.Item) -> bool:
        """Bound, and not a faulted rerun (mutants mode): evidence."""
        return _BOUND in item.stash and mutants.ACTIVE not in item.stash  # `in`: no KeyError

    def _plain(self, item: pytest.Item) -> frozenset[str]:
        """The phases of `item` in which nothing of the project runs but its function: none
        unless it is a `pytest.Function` without fixtures (not even autouse or xunit ones)
        and the fast path traces (the contexts fallback keeps whole phases); not its setup
        when a skipif or xfail mark may evaluate a condition string there."""
        if (type(item) is not pytest.Function or item.fixturenames
                or self.tracer.collector is None):
            return frozenset()
        parent = item.parent
        if parent not in self._quiet:  # conftest files apply per directory: per parent
            phases = self._quiet_phases(item.ihook)
            if _conditions(m for node in parent.listchain() for m in node.own_markers):
                phases -= {"setup"}
            self._quiet[parent] = phases
        if _conditions(item.own_markers):
            return self._quiet[parent] - {"setup"}
        return self._quiet[parent]

    def _quiet_phases(self, hook) -> frozenset[str]:
        """The phases where whatever a whole-phase window traces and the narrow one does not
        is pytest's own code: the implementations inside our phase wrapper (the plain ones
        and the wrappers nested in ours), skipping's `pytest_markeval_namespace` (setup),
        and the wrappers around our `pytest_pyfunc_call` (call)."""
        def inside(name: str) -> list:
            impls = getattr(hook, name).get_hookimpls()
            mine = next((i for i, im in enumerate(impls) if im.plugin is self), None)
            if mine is None:
                return [None]  # not ours to judge
            return [im for i, im in enumerate(impls)
                    if not (im.wrapper or im.hookwrapper) or i < mine]

        def outside(name: str) -> list:
            impls = getattr(hook, name).get_hookimpls()
            mine = next((i for i, im in enumerate(impls) if im.plugin is self), len(impls))
            return [im for im in impls[mine + 1:] if im.wrapper or im.hookwrapper]

        untraced = {
            "setup": inside("pytest_runtest_setup")
            + hook.pytest_markeval_namespace.get_hookimpls(),
            "call": inside("pytest_runtest_call") + outside("pytest_pyfunc_call"),
            "teardown": inside("pytest_runtest_teardown"),
        }
        # and around the function alone (`_call`): pytest's implementation calls it
        untraced["function"] = untraced["call"] + inside("pytest_pyfunc_call")
        return frozenset(phase for phase, impls in untraced.items()
                         if all(im is not None and (im.plugin is self or _pytests_own(im))
                                for im in impls))

    @staticmethod
    def _kept_after(item: pytest.Item, nextitem) -> object:
        """The parent of `item` when its teardown keeps it set up (pytest keeps the nodes
        `item` and `nextitem` share; mutants mode passes the parent itself), else None."""
        if nextitem is None:
            return None
        nearest = nextitem.parent if isinstance(nextitem, pytest.Item) else nextitem
        return item.parent if nearest is item.parent else None

    def fingerprints(self) -> dict[str, dict[str, str]]:
        """{node id: fingerprint} of every bound test this process ran; files that many
        tests ran with the same lines are looked up once."""
        memo: dict = {}
        return {nodeid: F.fingerprint(lines, self.index, self.skip, memo)
                for nodeid, lines in self.tracer.lines_by_test().items()}

    def release(self) -> None:
        """Let go of every test's lines and of the source index, at the end of the run.
        pytest keeps each plugin it registered alive to the exit (in the history of
        `pytest_plugin_registered`), and its final collections would rescan them (~40k
        objects on 8,930 tests)."""
        self.tracer = self.index = None  # type: ignore[assignment]
        self._quiet, self._kept, self._item, self._in_pyfunc = {}, None, None, None

    # A window is `with self.tracer:` around the yield; the decision is made at setup for
    # the whole test. These hooks run 4 times for each of thousands of tests.

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_setup(self, item):
        kept, self._kept = self._kept, None
        if not self._traced(item):
            self._item = None
            return (yield)
        self._item, self._phases = item, self._plain(item)
        self.tracer.begin(item.nodeid)
        if "setup" in self._phases and kept is item.parent:
            return (yield)  # no node to set up: nothing of the project runs
        with self.tracer:
            return (yield)

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_call(self, item):
        if self._item is not item:
            return (yield)
        if "call" in self._phases:  # traced in pytest_pyfunc_call
            self._in_pyfunc = item
            try:
                return (yield)
            finally:
                self._in_pyfunc = None
        with self.tracer:
            return (yield)

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_pyfunc_call(self, pyfuncitem):
        if self._in_pyfunc is not pyfuncitem:
            return (yield)
        function = pyfuncitem.obj
        if "function" not in self._phases or not _sync(function):
            with self.tracer:
                return (yield)
        pyfuncitem.obj = functools.partial(self._call, function)
        try:
            return (yield)
        finally:
            pyfuncitem.obj = function

    def _call(self, function, /, **kwargs):
        """A plain test's function, traced (see the module doc)."""
        with self.tracer:
            return function(**kwargs)

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_teardown(self, item, nextitem):
        self._kept = self._kept_after(item, nextitem)
        if self._item is not item:
            return (yield)
        if "teardown" in self._phases and self._kept is not None:
            return (yield)  # no node to tear down: nothing of the project runs
        with self.tracer:
            return (yield)


def _sync(function) -> bool:
    """pytest calls it as it is: it is none of the async kinds pytest refuses before calling
    (`_pytest.compat.is_async_function`: coroutine and async generator functions, and
    functions marked `_is_coroutine`), which it must see as they are."""
    return not (inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)
                or getattr(function, "_is_coroutine", False))


def _conditions(marks) -> bool:
    """Whether any of the marks is one whose condition skipping evaluates at setup."""
    return any(m.name in ("skipif", "xfail") for m in marks)


def _pytests_own(impl) -> bool:
    """A hook implementation of pytest itself."""
    module = getattr(impl.function, "__module__", None) or ""
    return module == "_pytest" or module.startswith("_pytest.")
