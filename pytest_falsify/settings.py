"""The loader's ini options (excludes, status vocabulary), read into one `Settings`.

The plugin passes `config.getini`; the `falsify` CLI, which must not import pytest, passes
the options of the config file `cli._project.locate` finds as pytest would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import statuses

CONTRACTS = "falsify_contracts"
EXCLUDE = "falsify_exclude"
STATUS_MAP = statuses.OPTION
#: option -> help, for pytest's parser.addini (one place for the names and their meaning).
INI_HELP = {
    CONTRACTS: "contracts directory for pytest-falsify (default: contracts)",
    EXCLUDE: "glob patterns (one a line) of contract files to skip, relative to the contracts "
             "directory, e.g. drafts/*",
    STATUS_MAP: "your status words mapped into pytest-falsify's, one a line: "
                "'MERGED = PARTIAL_ALGORITHM_LEVEL'; 'VERIFIED* = DISCHARGED' for a prefix",
}


@dataclass(frozen=True)
class Settings:
    """What the loader needs from the ini: excludes and the status vocabulary."""

    exclude: tuple[str, ...] = ()
    status_map: statuses.StatusMap = field(default_factory=statuses.StatusMap)
    map_problems: tuple[statuses.MapProblem, ...] = ()
    #: the ini file the options came from (errors of the map point at it)
    source: Path | None = None


def lines_of(value: object) -> list[str]:
    """An ini 'linelist' value: a list (TOML), or text with one item a line."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [ln.strip() for ln in str(value).splitlines() if ln.strip()]


def from_values(get: Callable[[str], object], source: Path | None) -> Settings:
    smap, problems = statuses.parse(lines_of(get(STATUS_MAP)))
    return Settings(tuple(lines_of(get(EXCLUDE))), smap, tuple(problems), source)
