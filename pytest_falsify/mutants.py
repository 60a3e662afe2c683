"""pytest hooks of `--falsify=mutants`: re-run each bound test under each declared fault.

Faults come from the `pytest_falsify_faults` hook (hookspecs.py). For a bound test whose
falsifiers declare faults, `pytest_runtest_protocol` first runs the test once per fault
(unlogged, through pytest's own `runtestprotocol`, as pytest-rerunfailures does), with
the fault active around the call phase only, then lets pytest run and log it as usual,
unfaulted. Faults never see fixture setup, so a module-scoped fixture is never built
with a bug in it. What each fault did is left on the item; the plugin's report hook puts
it on the teardown report (to the xdist controller).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager

import pytest
from _pytest.runner import runtestprotocol  # the public-enough rerun entry point plugins use

ACTIVE = pytest.StashKey[str]()  # the fault active in this run of the item
RESULTS = pytest.StashKey[dict]()  # fault -> True (test failed), False (passed), None (skipped)
_FAULTS = pytest.StashKey[list]()

Factory = Callable[[], AbstractContextManager]


def registry(config: pytest.Config) -> dict[str, Factory]:
    """Every fault the project's `pytest_falsify_faults` implementations provide."""
    out: dict[str, Factory] = {}
    for part in config.hook.pytest_falsify_faults(config=config):
        for name, factory in (part or {}).items():
            if name in out:
                raise pytest.UsageError(f"pytest_falsify_faults: fault {name!r} is provided twice")
            if not callable(factory):
                raise pytest.UsageError(f"pytest_falsify_faults: fault {name!r} is not callable")
            out[name] = factory
    return out


class FaultRunner:
    """Registered by the plugin in mutants mode."""

    def __init__(self, factories: Mapping[str, Factory]) -> None:
        self.factories = dict(factories)

    def assign(self, item: pytest.Item, faults: list[str]) -> None:
        if faults:
            item.stash[_FAULTS] = faults

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem):
        faults = item.stash[_FAULTS] if _FAULTS in item.stash else None  # no KeyError per test
        if not faults:
            return None
        results: dict[str, bool | None] = {}
        for name in faults:
            item.stash[ACTIVE] = name
            try:
                # nextitem=parent: the item's own fixtures are torn down after each run
                # (the test is set up afresh), its module's and class's are kept.
                reports = runtestprotocol(item, log=False, nextitem=item.parent)
            finally:
                del item.stash[ACTIVE]
            call = next((r for r in reports if r.when == "call"), None)
            setup_failed = any(r.when == "setup" and r.failed for r in reports)
            results[name] = None if call is None or call.skipped or setup_failed else bool(call.failed)
        item.stash[RESULTS] = results
        return None  # pytest now runs and logs the test itself, without a fault

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item):
        name = item.stash[ACTIVE] if ACTIVE in item.stash else None
        if name is None:
            return (yield)
        with self.factories[name]():
            return (yield)
