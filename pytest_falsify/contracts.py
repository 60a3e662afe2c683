"""Load and validate contract files: our format and aprender's variety.

A contract is one YAML file with `metadata`, `falsification_tests` and optional `gates`.
Every error carries file:line and a one-line fix, and all errors of a directory are
collected at once so a user fixes them in one pass instead of one per run.
"""

from __future__ import annotations

import contextlib
import difflib
import gc
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import walk, yamlsafe

#: Statuses the plugin writes.
DERIVED_STATUSES = (
    "UNBOUND",
    "PARTIAL_ALGORITHM_LEVEL",
    "DISCHARGED",
    "FALSIFIED",
    "BLOCKER_FIXTURE_ABSENT",
)
#: Statuses seen in aprender's contracts, accepted when set by hand.
HAND_STATUSES = ("PROPOSED", "FUNCTIONAL", "ACTIVE_WITH_LIVE_EVIDENCE")
KNOWN_STATUSES = DERIVED_STATUSES + HAND_STATUSES
#: Statuses that claim evidence: `check` flags them when no test binds the falsifier.
CLAIMING_STATUSES = ("PARTIAL_ALGORITHM_LEVEL", "DISCHARGED", "ACTIVE_WITH_LIVE_EVIDENCE", "FUNCTIONAL")
LEVELS = ("algorithm", "live")
BLOCKS = ("falsification_tests", "gates")
TOP_LEVEL = ("metadata",) + BLOCKS
#: Our key -> aprender's alias keys.
ALIASES = {
    "rule": ("description",),
    "prediction": ("expected",),
    "test": ("command",),
    "if_fails": ("fails_if",),
}
STATUS_KEYS = ("discharge_status", "status")
#: Blocks that hold an entry's status when it has no status key of its own (aprender).
NESTED_STATUS_BLOCKS = ("algorithm_evidence",)


def status_path(item: dict) -> tuple[str, ...] | None:
    """Where an entry keeps its status: `(key,)`, `(block, "status")` or None (nowhere yet).

    One place for the loader (reading) and the rewriter (writing), so an entry whose status
    lives in `algorithm_evidence.status` is read there and never gets a second status key.
    """
    for key in STATUS_KEYS:
        if key in item:
            return (key,)
    for block in NESTED_STATUS_BLOCKS:
        sub = item.get(block)
        if isinstance(sub, dict) and "status" in sub:
            return (block, "status")
    return None


@dataclass(frozen=True)
class ContractError:
    path: Path
    line: int
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}\n    fix: {self.fix}"


@dataclass
class Entry:
    """One falsifier (or gate) of a contract."""

    id: str
    block: str
    path: Path
    line: int
    status: str | None
    status_key: str  # the key the entry uses, or discharge_status when it has none yet
    level: str
    evidence: Any = None
    data: dict = field(default_factory=dict, repr=False)

    @property
    def stored_tests(self) -> list[dict]:
        """Evidence records the plugin wrote earlier (one per bound test)."""
        ev = self.evidence
        if isinstance(ev, dict) and isinstance(ev.get("tests"), list):
            return [t for t in ev["tests"] if isinstance(t, dict) and isinstance(t.get("test"), str)]
        return []


@dataclass
class Contract:
    path: Path
    name: str
    version: str | None
    entries: list[Entry]
    text: str = field(default="", repr=False)
    bom: bool = False
    #: (node tree, data) of `text`, kept so a rewrite need not parse the file again
    parsed: tuple | None = field(default=None, repr=False)
    #: (st_ino, st_size, st_mtime_ns) when read: an unchanged file is not parsed again
    stat: tuple | None = None


@dataclass
class ContractSet:
    contracts: list[Contract]
    errors: list[ContractError]
    by_id: dict[str, Entry]

    def closest(self, unknown: str, n: int = 3) -> list[str]:
        return difflib.get_close_matches(unknown, list(self.by_id), n=n, cutoff=0.6)


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def parse_text(path: Path, text: str) -> tuple[Contract | None, list[ContractError]]:
    """Parse one contract's text; returns the contract (None if unusable) and its errors."""
    errors: list[ContractError] = []

    def err(line: int, message: str, fix: str) -> None:
        errors.append(ContractError(path, line, message, fix))

    try:
        root = yamlsafe.compose(text)
        data = yamlsafe.construct(root) if root is not None else None
    except yamlsafe.YamlProblem as exc:
        err(exc.line, exc.message, exc.fix)
        return None, errors
    if not isinstance(root, yaml.MappingNode) or not isinstance(data, dict):
        err(1, "a contract must be a YAML mapping", "start the file with 'metadata:' and 'falsification_tests:'")
        return None, errors

    for knode, _ in root.value:
        key = knode.value if isinstance(knode, yaml.ScalarNode) else None
        if isinstance(key, str) and key not in TOP_LEVEL:
            close = difflib.get_close_matches(key, TOP_LEVEL, n=1, cutoff=0.75)
            if close:
                err(_line(knode), f"unknown block {key!r}", f"rename it to {close[0]!r}")

    meta = data.get("metadata")
    version = None
    if isinstance(meta, dict) and meta.get("version") is not None:
        version = str(meta["version"])

    entries: list[Entry] = []
    for block in BLOCKS:
        pair = yamlsafe.mapping_get(root, block)
        if pair is None or (isinstance(pair[1], yaml.ScalarNode) and pair[1].value in ("", "~", "null")):
            continue
        knode, seq = pair
        if not isinstance(seq, yaml.SequenceNode):
            err(_line(knode), f"{block!r} must be a list of entries", f"write each entry as '- id: ...' under {block}:")
            continue
        for item_node, item in zip(seq.value, data[block], strict=True):
            line = _line(item_node)
            if not isinstance(item, dict):
                err(line, f"an entry of {block!r} must be a mapping", "write the entry as 'id: ...' keys")
                continue
            fid = item.get("id")
            if not isinstance(fid, str) or not fid.strip():
                err(line, f"entry of {block!r} has no id", "add 'id: FALSIFY-<AREA>-<NNN>'")
                continue
            if block == "falsification_tests" and "prediction" not in item and not any(
                a in item for a in ALIASES["prediction"]
            ):
                err(line, f"{fid}: no prediction", "add 'prediction: <what would prove the claim wrong>'")
            where = status_path(item) or ("discharge_status",)
            status_key = ".".join(where)
            status = item[where[0]].get(where[1]) if len(where) == 2 else item.get(where[0])
            if status is not None and status not in KNOWN_STATUSES:
                spair = yamlsafe.mapping_get(item_node, where[0])
                sline = _line(spair[1]) if spair else line
                close = difflib.get_close_matches(str(status), KNOWN_STATUSES, n=1, cutoff=0.5)
                hint = f"did you mean {close[0]}? " if close else ""
                err(sline, f"{fid}: unknown status {status!r}",
                    f"{hint}use one of {', '.join(KNOWN_STATUSES)}")
                status = None
            level = item.get("discharge_level", "live")
            if level not in LEVELS:
                err(line, f"{fid}: unknown discharge_level {level!r}", "use 'live' or 'algorithm'")
                level = "live"
            entries.append(Entry(fid, block, path, line, status, status_key, level,
                                 item.get("evidence"), item))
    name = path.stem
    errors.sort(key=lambda e: e.line)
    return Contract(path, name, version, entries, text, False, (root, data)), errors


def _file_error(problem: walk.FileProblem) -> ContractError:
    return ContractError(problem.path, 0, problem.message, problem.fix)


def _stat_key(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def load_file(path: Path) -> tuple[Contract | None, list[ContractError], str, bool]:
    """Read one file: (contract, errors, text, had_bom)."""
    key = _stat_key(path)
    try:
        data = walk.read_limited(path)
    except walk.FileProblem as exc:
        return None, [_file_error(exc)], "", False
    try:
        text, bom = yamlsafe.decode(data)
    except UnicodeDecodeError as exc:
        return None, [ContractError(path, 1, f"not UTF-8 ({exc.reason})", "save the file as UTF-8")], "", False
    contract, errors = parse_text(path, text)
    if contract is not None:
        contract.text, contract.bom, contract.stat = text, bom, key
    return contract, errors, text, bom


@contextlib.contextmanager
def bulk() -> Iterator[None]:
    """Cyclic GC off for bulk work on acyclic data (parsing, planning, rewriting).

    Parsing allocates ~500 objects per file; with the GC on, 2,000 files trigger repeated
    collections that rescan everything parsed so far (a third to half of the time).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_dir(root: Path, previous: ContractSet | None = None) -> ContractSet:
    """Load every contract under `root`; errors are collected, never raised.

    With `previous`, files whose inode, size and mtime are unchanged (and that loaded
    without errors) are reused instead of parsed again: the write phase re-reads the
    directory under the lock, and on 2,000 files parsing is the dominant cost. A writer
    that replaced a file (os.replace) always changes its inode.
    """
    with bulk():
        return _load_dir(root, previous)


def _load_dir(root: Path, previous: ContractSet | None) -> ContractSet:
    reuse: dict[Path, Contract] = {}
    if previous is not None:
        broken = {e.path for e in previous.errors}
        reuse = {c.path: c for c in previous.contracts if c.path not in broken and c.stat}
    contracts: list[Contract] = []
    errors: list[ContractError] = []
    by_id: dict[str, Entry] = {}
    paths, problems = walk.contract_files(root)
    errors.extend(_file_error(p) for p in problems)
    for path in paths:
        old = reuse.get(path)
        if old is not None and old.stat == _stat_key(path):
            contract, errs = old, []
        else:
            contract, errs, _, _ = load_file(path)
        errors.extend(errs)
        if contract is None:
            continue
        contracts.append(contract)
        for entry in contract.entries:
            first = by_id.get(entry.id)
            if first is not None:
                errors.append(ContractError(
                    path, entry.line, f"duplicate falsifier id {entry.id!r} (also at {first.path}:{first.line})",
                    "give one of them a new id; ids must be unique across all contracts"))
                continue
            by_id[entry.id] = entry
    return ContractSet(contracts, errors, by_id)
