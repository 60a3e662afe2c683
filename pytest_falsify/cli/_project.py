"""Find the project as pytest does: its rootdir, its config file and the ini options in it.

The `falsify` command must not import pytest (it runs where only the contracts are), so
this mirrors pytest's `locate_config` (_pytest/config/findpaths.py): from the starting
directory upwards, the first directory holding one of these files wins, in this order
within a directory:

- `pytest.toml` / `.pytest.toml` (table `[pytest]`) and `pytest.ini` / `.pytest.ini`:
  always the config file, even when empty;
- `pyproject.toml` with `[tool.pytest.ini_options]` or `[tool.pytest]`;
- `tox.ini` with `[pytest]`;
- `setup.cfg` with `[tool:pytest]`.

Without one, a `pyproject.toml` seen on the way up is the rootdir, then the nearest
directory with a `setup.py`, else the starting directory. INI files are read with
`iniconfig`, the parser pytest itself uses (installed with pytest, and not pytest).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import iniconfig

from .. import walk

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - pytest depends on tomli on Python 3.10
    import tomli as tomllib


class ConfigFileError(Exception):
    """A config file pytest would read cannot be parsed; the message names the file."""


@dataclass
class Project:
    rootdir: Path
    inipath: Path | None
    #: the pytest ini options of `inipath` (values as strings or lists of strings)
    options: dict[str, object] = field(default_factory=dict)

    def cache_dir(self) -> Path:
        """pytest's cache directory for this project: ini `cache_dir` (default
        `.pytest_cache`), relative to the rootdir, as pytest's cacheprovider reads it."""
        value = self.options.get("cache_dir", ".pytest_cache")
        value = os.path.expanduser(os.path.expandvars(str(value or ".pytest_cache")))
        return self.rootdir / value

    def contracts_dir(self) -> Path:
        """`falsify_contracts` relative to the config file's directory, as the plugin reads
        it; default `contracts`. ConfigFileError when the setting is no directory name."""
        base = self.inipath.parent if self.inipath else self.rootdir
        value = self.options.get("falsify_contracts", "contracts")
        if not isinstance(value, str) or not value.strip():
            raise ConfigFileError(f"{self.inipath}: falsify_contracts must be a directory name "
                                  f"(a string), got {value!r}")
        return base / value


def _read(path: Path) -> str:
    try:
        return walk.read_limited(path).decode("utf-8")
    except walk.FileProblem as exc:
        raise ConfigFileError(f"{path}: {exc.message}") from None
    except UnicodeDecodeError as exc:
        raise ConfigFileError(f"{path}: not UTF-8 ({exc.reason})") from None


def _ini_section(path: Path, section: str, always: bool) -> dict | None:
    try:
        ini = iniconfig.IniConfig(str(path), data=_read(path))
    except iniconfig.ParseError as exc:
        raise ConfigFileError(f"{path}: not a valid ini file: {exc}") from None
    if section in ini:
        return dict(ini[section].items())
    return {} if always else None


def _toml(path: Path) -> dict:
    try:
        return tomllib.loads(_read(path))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"{path}: not valid TOML: {exc}") from None


def _table(path: Path, doc: dict, *keys: str) -> dict | None:
    """doc[k1][k2]..., None when absent; a non-table on the way is an error (a typo there
    must not silently fall back to ./contracts)."""
    node: object = doc
    for i, key in enumerate(keys):
        node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            return None
        if not isinstance(node, dict):
            raise ConfigFileError(f"{path}: [{'.'.join(keys[:i + 1])}] must be a table, got {node!r}")
    return node


def _pytest_toml(path: Path) -> dict | None:
    return dict(_table(path, _toml(path), "pytest") or {})


def _pyproject(path: Path) -> dict | None:
    doc = _toml(path)
    tool = _table(path, doc, "tool", "pytest")
    if tool is None:
        return None
    ini = _table(path, doc, "tool", "pytest", "ini_options")
    if ini is not None:
        # Values as written (pytest turns scalars into strings; a number where a directory
        # name belongs is reported instead, see contracts_dir).
        return dict(ini)
    native = {k: v for k, v in tool.items() if k != "ini_options"}
    return native or None


#: file name -> loader returning the options, or None when the file holds no pytest config
LOADERS: dict[str, Callable[[Path], dict | None]] = {
    "pytest.toml": _pytest_toml,
    ".pytest.toml": _pytest_toml,
    "pytest.ini": lambda p: _ini_section(p, "pytest", always=True),
    ".pytest.ini": lambda p: _ini_section(p, "pytest", always=True),
    "pyproject.toml": _pyproject,
    "tox.ini": lambda p: _ini_section(p, "pytest", always=False),
    "setup.cfg": lambda p: _ini_section(p, "tool:pytest", always=False),
}


def locate(start: Path | None = None) -> Project:
    """The project that pytest, started in `start` (default: the working directory)
    without path arguments, would find. Raises ConfigFileError for an unparsable file."""
    here = (start or Path.cwd()).resolve()
    pyproject: Path | None = None
    for d in (here, *here.parents):
        for name, load in LOADERS.items():
            p = d / name
            if not p.is_file():
                continue
            if name == "pyproject.toml" and pyproject is None:
                pyproject = p
            options = load(p)
            if options is not None:
                return Project(d, p, options)
    if pyproject is not None:
        return Project(pyproject.parent, pyproject, {})
    for d in (here, *here.parents):
        if (d / "setup.py").is_file():
            return Project(d, None, {})
    return Project(here, None, {})
