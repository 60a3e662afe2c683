"""What the subcommands share: loading contracts and reports, finding the directory."""

from __future__ import annotations

import sys
from pathlib import Path

from .. import report, walk
from ..contracts import ContractSet, load_dir
from ..rewrite import Options


def load_contracts(directory: Path) -> ContractSet | None:
    """The contract set, or None after printing every error (file:line and fix)."""
    cset = load_dir(directory)
    if cset.errors:
        for e in cset.errors:
            print(e, file=sys.stderr)
        print(f"{len(cset.errors)} error(s) in {directory}", file=sys.stderr)
        return None
    return cset


def load_reports(paths: list[Path]) -> dict[str, dict] | None:
    """Merged results of the reports (interrupted ones skipped), or None on a bad report."""
    try:
        loaded = [report.load(p) for p in paths]
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    kept = []
    for p, r in zip(paths, loaded, strict=True):
        if r.get("interrupted"):
            # The run itself wrote nothing (interrupted runs write nothing); its partial
            # results must not sneak in through a merge either.
            print(f"warning: {p}: interrupted run: its results are not applied", file=sys.stderr)
            continue
        if r.get("exitstatus") not in (0, 1, 5):
            print(f"warning: {p}: run ended with exit status {r.get('exitstatus')}", file=sys.stderr)
        kept.append(r)
    return report.merge_results(kept)


class ConfigProblem(Exception):
    """A pyproject.toml the CLI cannot take its settings from (one line, exit 2)."""


def ini_options(start: Path | None = None) -> tuple[Path, dict]:
    """(directory, [tool.pytest.ini_options]) of the nearest pyproject.toml, else
    (cwd, {}): the settings pytest would use.

    Raises ConfigProblem for a pyproject.toml that is unreadable, not TOML, or whose
    tables have the wrong type: guessing defaults instead would validate (or rewrite)
    a directory the project did not name.
    """
    try:
        import tomllib  # Python 3.11+
    except ImportError:  # pragma: no cover - Python 3.10
        return Path.cwd(), {}
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        py = d / "pyproject.toml"
        if not py.is_file():
            continue
        try:
            opts = tomllib.loads(walk.read_limited(py).decode("utf-8"))
        except walk.FileProblem as exc:
            raise ConfigProblem(f"{py}: {exc.message}") from None
        except UnicodeDecodeError as exc:
            raise ConfigProblem(f"{py}: not UTF-8 ({exc.reason})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigProblem(f"{py}: not valid TOML: {exc}") from None
        table = []
        for key in ("tool", "pytest", "ini_options"):
            table.append(key)
            opts = opts.get(key)
            if opts is None:
                break
            if not isinstance(opts, dict):
                raise ConfigProblem(f"{py}: [{'.'.join(table)}] must be a table, got {opts!r}")
        return d, opts or {}
    return here, {}


def default_contracts(start: Path | None = None) -> Path:
    """The contracts directory pytest would use: `falsify_contracts` of the nearest
    pyproject.toml ([tool.pytest.ini_options]), else ./contracts."""
    base, opts = ini_options(start)
    if "falsify_contracts" in opts:
        value = opts["falsify_contracts"]
        if not isinstance(value, str) or not value.strip():
            raise ConfigProblem(f"{base / 'pyproject.toml'}: falsify_contracts must be a "
                                f"directory name (a string), got {value!r}")
        return base / value
    return Path("contracts")


def rewrite_options() -> Options | None:
    """The project's rewrite options, or None after printing a bad one."""
    try:
        return Options.from_ini(ini_options()[1].get)
    except (ConfigProblem, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
