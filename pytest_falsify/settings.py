"""The falsify ini options, read into one `Settings` for the loader.

The plugin gets the values from pytest (`config.getini`); the `falsify` CLI, which must
not import pytest, finds the same ini file pytest would (the nearest pytest.ini,
.pytest.ini, pyproject.toml with [tool.pytest.ini_options], tox.ini with [pytest], or
setup.cfg with [tool:pytest], walking up from the current directory) and reads it here.
"""

from __future__ import annotations

import configparser
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import statuses, walk

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


class ConfigProblem(Exception):
    """An ini file the CLI cannot take its settings from (one line, exit 2)."""


def find_ini(start: Path | None = None) -> tuple[Path | None, dict[str, object]]:
    """(ini file, its pytest options) as pytest would pick them; (None, {}) when none.

    Raises ConfigProblem for a pyproject.toml that is unreadable, not TOML, or whose
    tables have the wrong type: guessing defaults instead would validate (or rewrite) a
    directory the project did not name.
    """
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        for name in ("pytest.ini", ".pytest.ini"):
            p = d / name
            if p.is_file():
                return p, ini_section(p, "pytest") or {}
        py = d / "pyproject.toml"
        if py.is_file():
            opts = _pyproject(py)
            if opts is not None:
                return py, opts
        for name, section in (("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):
            p = d / name
            if p.is_file():
                opts = ini_section(p, section)
                if opts is not None:
                    return p, opts
    return None, {}


def ini_section(path: Path, section: str) -> dict[str, object] | None:
    cp = configparser.ConfigParser(interpolation=None)
    try:
        cp.read_string(walk.read_limited(path).decode("utf-8"), source=str(path))
    except walk.FileProblem as exc:
        raise ConfigProblem(f"{path}: {exc.message}") from None
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise ConfigProblem(f"{path}: not a valid ini file: {str(exc).splitlines()[0]}") from None
    return dict(cp[section]) if cp.has_section(section) else None


def _pyproject(path: Path) -> dict[str, object] | None:
    """[tool.pytest.ini_options] of a pyproject.toml; None when it has none."""
    try:
        import tomllib  # Python 3.11+
    except ImportError:  # pragma: no cover - Python 3.10
        return None
    try:
        opts: object = tomllib.loads(walk.read_limited(path).decode("utf-8"))
    except walk.FileProblem as exc:
        raise ConfigProblem(f"{path}: {exc.message}") from None
    except UnicodeDecodeError as exc:
        raise ConfigProblem(f"{path}: not UTF-8 ({exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigProblem(f"{path}: not valid TOML: {exc}") from None
    table = []
    for key in ("tool", "pytest", "ini_options"):
        table.append(key)
        opts = opts.get(key)  # type: ignore[union-attr]
        if opts is None:
            return None
        if not isinstance(opts, dict):
            raise ConfigProblem(f"{path}: [{'.'.join(table)}] must be a table, got {opts!r}")
    return opts  # type: ignore[return-value]


def for_cli(start: Path | None = None) -> tuple[Path, Settings, dict[str, object]]:
    """(contracts directory, settings, all pytest options) of the project around `start`
    (cwd by default). Raises ConfigProblem for an ini file it cannot use."""
    ini, opts = find_ini(start)
    base = ini.parent if ini else (start or Path.cwd()).resolve()
    value = opts.get(CONTRACTS, "contracts")
    if not isinstance(value, str) or not value.strip():
        raise ConfigProblem(f"{ini}: {CONTRACTS} must be a directory name (a string), "
                            f"got {value!r}")
    return base / value, from_values(opts.get, ini), opts
