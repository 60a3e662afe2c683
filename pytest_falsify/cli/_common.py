"""What the subcommands share: finding the directory, loading contracts and reports."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .. import index, parse_cache, report, settings
from ..contracts import ContractSet
from ..rewrite import Options
from ..settings import Settings
from ..signing import KeyProblem, Trust
from ._project import ConfigFileError, Project, locate

#: exit status of bad input or usage (a malformed contract, report or config file)
BAD_INPUT = 2


class BadInput(Exception):
    """Bad input (exit 2). The message names the file it is about."""


def project(args: argparse.Namespace) -> Project:
    """The pytest project around the working directory (cached on `args`)."""
    found = getattr(args, "_project", None)
    if found is None:
        try:
            found = locate()
        except ConfigFileError as exc:
            raise BadInput(str(exc)) from None
        args._project = found
    return found


def contracts_dir(args: argparse.Namespace) -> Path:
    """`--contracts`, else the directory the plugin would use for this project."""
    if args.contracts is not None:
        return args.contracts
    try:
        return project(args).contracts_dir()
    except ConfigFileError as exc:
        raise BadInput(str(exc)) from None


def project_settings(args: argparse.Namespace) -> Settings:
    """The loader settings (excludes, status map) of the project's pytest config file."""
    try:
        found = project(args)
    except BadInput:
        if args.contracts is None:
            raise
        return Settings()  # --contracts given: an unreadable config around it is not fatal
    return settings.from_values(found.options.get, found.inipath)


def load_contracts(args: argparse.Namespace, full: bool = False) -> ContractSet:
    """The contract set with the project's settings. Every error is printed (file:line
    and fix) and never stops a command: each decides (files with errors are never
    rewritten; any error makes the exit status 2). No directory at all is BadInput.

    Through the project's parse cache (the one pytest's runs fill), so entries come light
    (index.py); `full` parses every file and keeps each entry's YAML data."""
    directory = contracts_dir(args)
    if not os.path.lexists(directory):  # anything else there is judged by the loader
        where = project(args).inipath if args.contracts is None else None
        hint = f" (falsify_contracts of {where})" if where else ""
        raise BadInput(f"{directory}: contracts directory not found{hint}; "
                       "pass --contracts DIR or set falsify_contracts in the pytest config")
    args.settings = project_settings(args)
    args.index = index.Index(args.settings, None if full else
                             parse_cache.cache_file(project(args).cache_dir()))
    cset = args.index.load(directory)
    for e in cset.errors:
        print(e, file=sys.stderr)
    if cset.errors:
        print(f"falsify: {directory}: {len(cset.errors)} contract error(s)", file=sys.stderr)
    return cset


def load_reports(paths: list[Path], trust: Trust | None = None,
                 allow_unsigned: bool = False) -> dict[str, dict]:
    """Merged results of the reports (interrupted ones skipped); BadInput on a bad report.

    With a `trust` that requires signatures, an unsigned or badly signed report is
    refused; `allow_unsigned` applies an unsigned one without its live-level results.
    """
    trust = trust or Trust()
    loaded = []
    for p in paths:  # every report is checked before any is used or warned about
        try:
            rep = report.load(p)
        except OSError as exc:
            raise BadInput(f"{p}: cannot read the report: {exc.strerror}") from None
        except ValueError as exc:
            raise BadInput(str(exc)) from None
        try:
            why = trust.check(rep)
        except KeyProblem as exc:
            raise BadInput(str(exc)) from None
        if why == "unsigned" and allow_unsigned:
            live = sum(1 for t in rep.get("tests", ()) if t.get("level") == "live")
            print(f"warning: {p}: unsigned report: its {live} live-level result(s) are not "
                  "applied", file=sys.stderr)
            rep = {**rep, "tests": [t for t in rep.get("tests", ()) if t.get("level") != "live"]}
        elif why is not None:
            hint = ("; sign it (run pytest with the key in the environment), or pass "
                    "--allow-unsigned to apply its algorithm-level results only"
                    if why == "unsigned" else "")
            raise BadInput(f"{p}: refused: {why}{hint}")
        loaded.append(rep)
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


def report_trust(args: argparse.Namespace) -> Trust:
    """The project's trust in reports (its `falsify_report_key` setting)."""
    try:
        return Trust.from_ini(project(args).options.get("falsify_report_key"))
    except KeyProblem as exc:
        raise BadInput(f"{project(args).inipath}: {exc}") from None


def rewrite_options(args: argparse.Namespace) -> Options:
    """The project's rewrite options (its pytest config file's falsify_* settings)."""
    try:
        return Options.from_ini(project(args).options.get)
    except ValueError as exc:
        raise BadInput(f"{project(args).inipath}: {exc}") from None


def project_root(args: argparse.Namespace) -> Path:
    """The directory evidence fingerprints are relative to: pytest's rootdir."""
    try:
        return project(args).rootdir
    except BadInput:
        return Path.cwd()


def stale_claims(cset: ContractSet, args: argparse.Namespace,
                 refreshed: set[str] = frozenset()) -> list:
    """Stale stored evidence of `cset` against the tree (reads, never writes)."""
    from .. import fingerprint, freshness

    return freshness.stale_claims(freshness.entries_of(cset), set(refreshed),
                                  fingerprint.SourceIndex(project_root(args)))
