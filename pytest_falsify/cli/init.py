"""`falsify init`: set a project up: the config stanza and a first contract, never clobbering."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

from ..atomic import atomic_write
from ..evidence import today
from ._common import BadInput, project
from ._stanza import StanzaError, added

HELP = "set a project up: the falsify_contracts setting and a first contract"
DESCRIPTION = ("Add `falsify_contracts` to the project's pytest config file (the one pytest\n"
               "would read; pytest.ini is created when there is none) and write a first\n"
               "contract with one falsifier. Nothing is overwritten: a setting already there\n"
               "is kept, the config file is only added to (and checked to read back with\n"
               "every old option unchanged), and no contract is written into a directory\n"
               "that already holds one.\n\n"
               "examples:\n  falsify init\n  falsify init --contracts spec/contracts --name parity-v1")

KEY = "falsify_contracts"
TEMPLATE = """\
# {name}: claims about {project}, each one a falsifier a test can prove wrong.
# Bind a test to a falsifier with @pytest.mark.falsifier("{fid}") and run
# `pytest --falsify`: the plugin derives the status and writes the evidence here.
metadata:
  version: 1.0.0
  description: {project} claims
  changelog:
    - {{version: 1.0.0, date: '{date}', changes: [initial contract (falsify init)]}}

falsification_tests:
  - id: {fid}
    rule: what the code promises (one sentence)
    prediction: the measurable outcome that holds if the promise is kept
    test: tests/test_{slug}.py
    if_fails: what goes wrong for users when the promise is broken
    discharge_level: algorithm
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", default=None, metavar="NAME",
                   help="file name of the first contract, without .yaml (default: "
                        "<project directory>-v1)")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "project"


def run(args: argparse.Namespace) -> int:
    proj = project(args)
    config = proj.inipath or proj.rootdir / "pytest.ini"
    base = config.parent
    existing = proj.options.get(KEY)
    if isinstance(existing, str) and existing.strip():
        contracts = base / existing
        if args.contracts is not None and args.contracts.resolve() != contracts.resolve():
            raise BadInput(f"{config}: already sets {KEY} = {existing}; --contracts "
                           f"{args.contracts} would contradict it (edit the file to move it)")
        print(f"kept: {config} already sets {KEY} = {existing}")
    else:
        contracts = (args.contracts if args.contracts is not None else base / "contracts")
        _configure(config, contracts)
    _first_contract(contracts, args.name or f"{_slug(proj.rootdir.name)}-v1", proj.rootdir.name)
    print("next: bind a test with @pytest.mark.falsifier(...) and run `pytest --falsify`; "
          "`falsify bind --suggest` proposes markers from the contracts' test: fields")
    return 0


def _configure(config: Path, contracts: Path) -> None:
    try:
        value = Path(os.path.relpath(contracts.resolve(), config.parent.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        raise BadInput(f"--contracts {contracts}: must be on the drive of {config}") from None
    if value.startswith("../"):
        raise BadInput(f"--contracts {contracts}: must be inside the project ({config.parent})")
    text = ""
    if config.exists():
        try:
            text = config.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(f"{config}: cannot read: {exc}") from None
    try:
        new = added(config, text, KEY, value)
    except StanzaError as exc:
        raise BadInput(str(exc)) from None
    atomic_write(config, new.encode("utf-8"))
    print(f"{'wrote' if text else 'created'} {config}: {KEY} = {value}")


def _first_contract(contracts: Path, name: str, project_name: str) -> None:
    if contracts.exists() and not contracts.is_dir():
        raise BadInput(f"{contracts}: exists and is not a directory")
    held = sorted(p.name for p in contracts.glob("*.y*ml")) if contracts.is_dir() else []
    if held:
        print(f"kept: {contracts} already holds {len(held)} contract file(s); no first contract written")
        return
    slug = _slug(name)
    fid = f"FALSIFY-{slug.upper().removesuffix('-V1').split('-')[0]}-001"
    path = contracts / f"{name}.yaml"
    text = TEMPLATE.format(name=name, project=project_name, fid=fid, slug=slug.replace("-", "_"),
                           date=today().isoformat())
    contracts.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "x", encoding="utf-8", newline="") as f:
            f.write(text)
    except FileExistsError:  # created between the check and here
        raise BadInput(f"{path}: exists; not overwritten") from None
    print(f"wrote {path}: a first contract with {fid}")
