"""Whether the plugin acts in a run at all, and whether it gates GPU tests. Pure.

Installing pytest-falsify must not change a project that does not use it: such a run
behaves exactly as with `-p no:falsify` (no skips, no warnings, no markers registered).
A project uses it when it has a contracts directory, sets one of our ini options, or
passes one of our command-line options. GPU gating (skip `gpu` and `ignored` tests unless
`--run-ignored`) is on in a project that uses the plugin, unless the ini flag
`falsify_gpu_gating` says otherwise; a project without contracts turns it on with
`falsify_gpu_gating = true`.
"""

from __future__ import annotations

from collections.abc import Iterable

#: The ini flag that turns GPU gating on (or, with contracts, off).
GATING_FLAG = "falsify_gpu_gating"


def is_set(value: object) -> bool:
    """An ini or command-line value that differs from "not given" (None, "", [], False)."""
    return value not in (None, "", [], (), False)


def in_use(has_contracts: bool, ini_values: Iterable[object], cli_values: Iterable[object]) -> bool:
    """The project uses the plugin: contracts on disk, or any of our options set."""
    return has_contracts or any(map(is_set, ini_values)) or any(map(is_set, cli_values))


def gpu_gating(used: bool, flag: object) -> bool:
    """GPU gating is on: the flag decides when it is a bool, else whether the plugin is used.

    pytest returns the registered default (None) for an unset bool option on pytest 9 and
    [] on pytest 8; neither is a bool, so both read as unset.
    """
    return flag if isinstance(flag, bool) else used
