"""What the subcommands share: loading contracts and reports, finding the directory."""

from __future__ import annotations

import sys
from pathlib import Path

from .. import report, settings
from ..contracts import ContractSet, load_dir
from ..rewrite import Options


def load_contracts(args) -> ContractSet:
    """The contract set of `args.contracts` with the project's ini settings; every error
    (file:line and fix) is printed to stderr. Errors never stop a command: each decides
    (files with errors are never rewritten; validate, status and check exit 1)."""
    cset = load_dir(args.contracts, settings=args.settings)
    for e in cset.errors:
        print(e, file=sys.stderr)
    if cset.errors:
        print(f"{len(cset.errors)} error(s) in {args.contracts}", file=sys.stderr)
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


ConfigProblem = settings.ConfigProblem


def ini_options(start: Path | None = None) -> tuple[Path, dict]:
    """(directory, pytest options) of the ini file pytest would use, else (cwd, {})."""
    ini, opts = settings.find_ini(start)
    return (ini.parent if ini else (start or Path.cwd()).resolve()), opts


def default_contracts(start: Path | None = None) -> Path:
    """The contracts directory pytest would use (`falsify_contracts` of the project's ini)."""
    return settings.for_cli(start)[0]


def rewrite_options(opts: dict | None = None) -> Options | None:
    """The project's rewrite options, or None after printing a bad one."""
    try:
        return Options.from_ini((ini_options()[1] if opts is None else opts).get)
    except (ConfigProblem, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
