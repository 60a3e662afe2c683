"""`blocked(reason)`: skip a test as BLOCKER_FIXTURE_ABSENT. The one module that needs
pytest at import besides the plugin, kept apart so the pure modules and the `falsify`
CLI load without pytest."""

from __future__ import annotations

import pytest

from .outcome import BLOCKED_PREFIX


class Blocked(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """A skip that says the evidence cannot be produced here: a fixture is absent."""


def blocked(reason: str) -> None:
    """Skip the running test as BLOCKER_FIXTURE_ABSENT (a model file, a device is missing).

    Unlike a plain skip, a blocked test is evidence: if every evidenced test of a
    falsifier is blocked, its status becomes BLOCKER_FIXTURE_ABSENT.
    """
    __tracebackhide__ = True
    raise Blocked(msg=f"{BLOCKED_PREFIX}{reason}", pytrace=False)
