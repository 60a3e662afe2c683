"""What the subcommands share: loading contracts and reports, finding the directory."""

from __future__ import annotations

import sys
from pathlib import Path

from .. import report
from ..contracts import ContractSet, load_dir


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


def default_contracts(start: Path | None = None) -> Path:
    """The contracts directory pytest would use: `falsify_contracts` of the nearest
    pyproject.toml ([tool.pytest.ini_options]), else ./contracts."""
    try:
        import tomllib  # Python 3.11+
    except ImportError:  # pragma: no cover - Python 3.10
        return Path("contracts")
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        py = d / "pyproject.toml"
        if py.is_file():
            try:
                opts = tomllib.loads(py.read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
            except (KeyError, ValueError, OSError):
                continue
            if "falsify_contracts" in opts:
                return d / str(opts["falsify_contracts"])
    return Path("contracts")


_ROOT_MARKERS = ("pyproject.toml", "pytest.ini", "tox.ini", "setup.cfg")


def default_root(contracts: Path) -> Path:
    """The project root that fingerprint paths are relative to (pytest's rootdir): the
    nearest directory above the contracts holding a pytest config file, else the cwd."""
    start = Path(contracts).resolve()
    for d in (start, *start.parents):
        if any((d / m).is_file() for m in _ROOT_MARKERS):
            return d
    return Path.cwd()


def stale_claims(cset: ContractSet, root: Path, refreshed: set[str] = frozenset()) -> list:
    """Stale stored evidence of `cset` against the tree at `root` (reads, never writes)."""
    from .. import fingerprint, freshness

    return freshness.stale_claims(freshness.entries_of(cset), set(refreshed),
                                  fingerprint.SourceIndex(root))
