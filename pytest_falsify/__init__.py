"""pytest-falsify: contract statuses derived from what the tests actually ran.

Public API: `blocked(reason)` (skip a test as BLOCKER_FIXTURE_ABSENT) and the
`falsify_evidence` fixture (record metrics). Everything else is reached through pytest
options and the `falsify` command.

`blocked` and `Blocked` are loaded on first use (PEP 562), so that importing a pure
module such as `pytest_falsify.verdict`, or running the `falsify` CLI, does not import
pytest.
"""

from __future__ import annotations

__all__ = ["Blocked", "blocked"]


def __getattr__(name: str):
    if name in __all__:
        from . import blocking

        return getattr(blocking, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
