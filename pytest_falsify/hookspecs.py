"""The hook a project implements to provide faults for `--falsify=mutants`."""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("pytest")


@hookspec
def pytest_falsify_faults(config):
    """Return the faults this project provides, as ``{name: factory}``.

    ``factory()`` returns a context manager that activates one named bug while it is
    entered and removes it on exit (``contextlib.contextmanager`` functions fit). It is
    entered around the test's call phase only (never fixture setup), in the process that
    runs the test, so under pytest-xdist each worker activates its own copy. Implement it
    in a ``conftest.py`` or a plugin; every implementation's faults are merged (a name
    given twice is an error). A falsifier names the faults that must make its tests fail
    with ``faults: [name, ...]`` in its contract entry.
    """
