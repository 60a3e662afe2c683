"""Load and validate contract files: our format and aprender's variety.

A contract is one YAML file with `metadata`, `falsification_tests` (or `falsification`,
when it holds entries with ids) and optional `gates`. It is keyed by its path relative to
the contracts directory, without the suffix (`kernels/softmax-v1`), and its entries by
the qualified id `KEY::ID`, so two contracts may use the same id. Every error carries
file:line and a one-line fix, and all errors of a directory are collected at once so a
user fixes them in one pass; files that are not contracts are skipped with a note.
"""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import gc
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import walk, yamlsafe
from .settings import Settings
from .statuses import CLAIMING_STATUSES, DERIVED_STATUSES, HAND_STATUSES, KNOWN_STATUSES

__all__ = ["CLAIMING_STATUSES", "DERIVED_STATUSES", "HAND_STATUSES", "KNOWN_STATUSES"]

LEVELS = ("algorithm", "live")
#: Blocks whose items are entries; `falsification` only when its items carry ids.
BLOCKS = ("falsification_tests", "gates", "falsification")
TOP_LEVEL = ("metadata", "version") + BLOCKS
#: Our key -> aprender's alias keys.
ALIASES = {
    "rule": ("description",),
    "prediction": ("expected",),
    "test": ("command",),
    "if_fails": ("fails_if",),
}
STATUS_KEYS = ("discharge_status", "status")
SEP = "::"
SUFFIXES = walk.SUFFIXES
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


@dataclass(frozen=True)
class ContractNote:
    """Not a problem: a file skipped as a non-contract, a block ignored, and why."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: note: {self.message}"


@dataclass
class Entry:
    """One falsifier (or gate) of a contract."""

    id: str
    block: str
    path: Path
    line: int
    status: str | None  # a known status (a project's own word mapped into it), or None
    status_key: str  # the key the entry uses (dotted when nested), or discharge_status when none yet
    level: str
    evidence: Any = None
    data: dict = field(default_factory=dict, repr=False)
    key: str = ""  # the contract's key
    word: str | None = None  # the status exactly as written on disk

    #: the qualified id `KEY::ID`, unique across the contracts directory (set once: an
    #: entry is never edited in place, and a plan asks for it ~10 times per entry)
    qid: str = field(init=False, repr=False, compare=False)
    _stored: list | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.qid = f"{self.key}{SEP}{self.id}"

    @property
    def stored_tests(self) -> list[dict]:
        """Evidence records the plugin wrote earlier (one per bound test); read once.
        (Not functools.cached_property: on Python 3.11 its first read takes a lock, a
        cost paid 8,930 times per run at aprender's scale.)"""
        if self._stored is None:
            ev = self.evidence
            self._stored = [t for t in ev["tests"] if isinstance(t, dict) and isinstance(
                t.get("test"), str)] if isinstance(ev, dict) and isinstance(ev.get("tests"), list) else []
        return self._stored


@dataclass
class Contract:
    path: Path
    name: str  # the key: path relative to the contracts directory, POSIX, no suffix
    version: str | None
    entries: list[Entry]
    text: str = field(default="", repr=False)
    bom: bool = False
    #: (node tree, data) of `text`, kept so a rewrite need not parse the file again
    parsed: tuple | None = field(default=None, repr=False)
    #: (st_ino, st_size, st_mtime_ns) when read: an unchanged file is not parsed again
    stat: tuple | None = None

    @property
    def key(self) -> str:
        return self.name


@dataclass
class ContractSet:
    contracts: list[Contract]
    errors: list[ContractError]
    #: qualified id -> entry: every entry of every contract
    by_qid: dict[str, Entry] = field(default_factory=dict)
    notes: list[ContractNote] = field(default_factory=list)
    #: bare id -> the qualified ids that carry it (one, or several contracts)
    qids_of: dict[str, list[str]] = field(default_factory=dict)
    excluded: int = 0  # files skipped by falsify_exclude
    #: the settings it was loaded with (a rewrite re-validates its new text with them)
    settings: Settings = field(default_factory=Settings)

    @property
    def by_id(self) -> dict[str, Entry]:
        """Bare id -> entry, for the ids that exactly one contract has."""
        return {i: self.by_qid[q[0]] for i, q in self.qids_of.items() if len(q) == 1}

    @property
    def broken(self) -> set[Path]:
        """Files with errors: never rewritten."""
        return {e.path for e in self.errors}

    def closest(self, unknown: str, n: int = 3) -> list[str]:
        return closest(unknown, self.by_qid, self.qids_of, n)

    def resolve(self, ref: str) -> tuple[str | None, str | None]:
        """A marker's id -> (qualified id, None), or (None, why it names no single entry)."""
        return resolve(ref, self.by_qid, self.qids_of)


@dataclass
class IdSet:
    """What binding markers needs of a contracts directory, and no more: its qualified ids
    and its errors (index.py's id index loads it without the entries)."""

    qids: frozenset[str]
    #: bare id -> the qualified ids that carry it
    qids_of: dict[str, tuple[str, ...]]
    errors: list[ContractError]

    def resolve(self, ref: str) -> tuple[str | None, str | None]:
        return resolve(ref, self.qids, self.qids_of)


def closest(unknown: str, qids, qids_of: dict[str, list[str]], n: int = 3) -> list[str]:
    pool = list(qids) if SEP in unknown else list(qids_of)
    return difflib.get_close_matches(unknown, pool, n=n, cutoff=0.6)


def resolve(ref: str, qids, qids_of: dict[str, list[str]]) -> tuple[str | None, str | None]:
    """A marker's id -> (qualified id, None), or (None, why it names no single entry).
    `qids`: every qualified id (a set or a mapping); `qids_of`: bare id -> qualified ids."""
    if SEP in ref:
        if ref in qids:
            return ref, None
        key, _, fid = ref.rpartition(SEP)
        for suffix in SUFFIXES:
            if key.endswith(suffix) and f"{key[:-len(suffix)]}{SEP}{fid}" in qids:
                return None, (f"unknown falsifier id {ref!r}: write the contract without "
                              f"{suffix!r}: {key[:-len(suffix)]}{SEP}{fid}")
        close = closest(ref, qids, qids_of)
        hint = f"; closest known: {', '.join(close)}" if close else ""
        return None, f"unknown falsifier id {ref!r}{hint}"
    found = qids_of.get(ref, [])
    if len(found) == 1:
        return found[0], None
    if found:
        return None, (f"falsifier id {ref!r} is in {len(found)} contracts; qualify it as one "
                      f"of: {', '.join(found)}")
    close = closest(ref, qids, qids_of)
    hint = f"; closest known: {', '.join(close)}" if close else ""
    return None, f"unknown falsifier id {ref!r}{hint}"


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def contract_key(path: Path, root: Path, suffix: bool = False) -> str:
    """The contract's key: its path relative to `root`, POSIX separators, no suffix
    (kept with `suffix`, for matching exclude globs)."""
    # String prefix first: Path.relative_to costs ~30 us, twice per file at every load.
    p, r = str(path), str(root)
    if p.startswith(r) and p[len(r):len(r) + 1] == os.sep and os.sep not in r[-1:]:
        posix = p[len(r) + 1:].replace(os.sep, "/")
    else:
        try:
            rel = path.relative_to(root) if root != path else Path(path.name)
        except ValueError:
            rel = Path(path.name)
        posix = rel.as_posix()
    for ext in () if suffix else SUFFIXES:
        if posix.endswith(ext):
            return posix[:-len(ext)]
    return posix


def _is_contract(root: yaml.Node) -> bool:
    """A mapping with a contract block, `metadata`, or a misspelling of a block name."""
    for knode, _ in root.value:
        key = knode.value if isinstance(knode, yaml.ScalarNode) else None
        if not isinstance(key, str):
            continue
        if key in TOP_LEVEL or difflib.get_close_matches(key, BLOCKS, n=1, cutoff=0.75):
            return True
    return False


def _has_ids(seq: yaml.SequenceNode) -> bool:
    return any(yamlsafe.mapping_get(item, "id") is not None for item in seq.value)


def _status_of(item: dict, item_node: yaml.Node) -> tuple[str, object, yaml.Node | None]:
    """(status key, raw value, value node); the key is dotted when the status is nested."""
    where = status_path(item)
    if where is None:
        return "discharge_status", None, None
    node: yaml.Node | None = item_node
    for k in where:
        pair = yamlsafe.mapping_get(node, k)
        node = pair[1] if pair else None
    value = item[where[0]] if len(where) == 1 else item[where[0]][where[1]]
    return ".".join(where), value, node


def parse_text(path: Path, text: str, settings: Settings | None = None, key: str | None = None,
               root: yaml.Node | None = None, data: object = None,
               ) -> tuple[Contract | None, list[ContractError], list[ContractNote]]:
    """Parse one contract's text: (the contract, None if unusable or not a contract), its
    errors, and its notes.

    `root`: the text's node tree, composed with yamlsafe's checks, when the caller has it
    (the rewriter's re-validation of a new text), so it is not composed twice; `data`,
    with `root`: what that tree constructs to, when the caller has proved it (the
    rewriter's verification builds it), so it is not constructed twice."""
    settings = settings or Settings()
    errors: list[ContractError] = []
    notes: list[ContractNote] = []

    def err(line: int, message: str, fix: str) -> None:
        errors.append(ContractError(path, line, message, fix))

    try:
        if root is None:
            root, data = yamlsafe.compose(text), None
        if data is None and root is not None:
            data = yamlsafe.construct(root)
    except yamlsafe.YamlProblem as exc:
        err(exc.line, exc.message, exc.fix)
        return None, errors, notes
    if root is None:
        notes.append(ContractNote(path, 1, "not a contract (empty or comments only): skipped"))
        return None, errors, notes
    if not isinstance(root, yaml.MappingNode) or not isinstance(data, dict) or not _is_contract(root):
        what = "a mapping" if isinstance(data, dict) else f"a YAML {type(data).__name__}"
        notes.append(ContractNote(path, 1, f"not a contract ({what} without metadata, "
                                           "falsification_tests or gates): skipped"))
        return None, errors, notes

    for knode, _ in root.value:
        k = knode.value if isinstance(knode, yaml.ScalarNode) else None
        if isinstance(k, str) and k not in TOP_LEVEL:
            close = difflib.get_close_matches(k, TOP_LEVEL, n=1, cutoff=0.75)
            if close:
                err(_line(knode), f"unknown block {k!r}", f"rename it to {close[0]!r}")

    meta = data.get("metadata")
    version = None
    if isinstance(meta, dict) and meta.get("version") is not None:
        version = str(meta["version"])
    elif data.get("version") is not None:
        version = str(data["version"])

    key = key if key is not None else contract_key(path, path.parent)
    entries: list[Entry] = []
    seen: dict[str, int] = {}
    for block in BLOCKS:
        pair = yamlsafe.mapping_get(root, block)
        if pair is None or (isinstance(pair[1], yaml.ScalarNode) and pair[1].value in ("", "~", "null")):
            continue
        knode, seq = pair
        if block == "falsification":
            if not isinstance(seq, yaml.SequenceNode) or not _has_ids(seq):
                what = "an empty stub" if isinstance(seq, yaml.SequenceNode) and not seq.value else \
                    "no entries with ids (prose scenarios)"
                notes.append(ContractNote(path, _line(knode), f"'falsification' holds {what}: ignored"))
                continue
        if not isinstance(seq, yaml.SequenceNode):
            err(_line(knode), f"{block!r} must be a list of entries", f"write each entry as '- id: ...' under {block}:")
            continue
        for item_node, item in zip(seq.value, data[block], strict=True):
            entry = _entry(path, key, block, item_node, item, settings, err)
            if entry is None:
                continue
            if entry.id in seen:
                err(entry.line, f"duplicate falsifier id {entry.id!r} (also at line {seen[entry.id]})",
                    "give one of them a new id; ids must be unique within a contract")
                continue
            seen[entry.id] = entry.line
            entries.append(entry)
    errors.sort(key=lambda e: e.line)
    return Contract(path, key, version, entries, text, False, (root, data)), errors, notes


def _entry(path: Path, key: str, block: str, item_node: yaml.Node, item: object,
           settings: Settings, err) -> Entry | None:
    line = _line(item_node)
    if not isinstance(item, dict):
        err(line, f"an entry of {block!r} must be a mapping", "write the entry as 'id: ...' keys")
        return None
    fid = item.get("id")
    if not isinstance(fid, str) or not fid.strip():
        err(line, f"entry of {block!r} has no id", "add 'id: FALSIFY-<AREA>-<NNN>'")
        return None
    if block != "gates" and "prediction" not in item and not any(
        a in item for a in ALIASES["prediction"]
    ):
        err(line, f"{fid}: no prediction", "add 'prediction: <what would prove the claim wrong>'")
    status_key, word, snode = _status_of(item, item_node)
    status = None
    if word is not None:
        status = settings.status_map.resolve(str(word)) if isinstance(word, str) else None
        if status is None:
            message, fix = settings.status_map.unknown(str(word))
            err(_line(snode) if snode is not None else line, f"{fid}: {message}", fix)
    level = item.get("discharge_level", "live")
    if level not in LEVELS:
        err(line, f"{fid}: unknown discharge_level {level!r}", "use 'live' or 'algorithm'")
        level = "live"
    return Entry(fid, block, path, line, status, status_key, level, item.get("evidence"), item,
                 key, word if isinstance(word, str) else None)


def excluded(rel: str, patterns: tuple[str, ...]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(rel, p) or ("/" not in p and fnmatch.fnmatchcase(name, p))
               for p in patterns)


def _file_error(problem: walk.FileProblem) -> ContractError:
    return ContractError(problem.path, 0, problem.message, problem.fix)


def _stat_key(path: Path, st: os.stat_result | None = None) -> tuple | None:
    """(inode, size, mtime ns) of `path`: of `st` when the caller has just taken it."""
    if st is None:
        try:
            st = path.stat()
        except OSError:
            return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def load_file(path: Path, settings: Settings | None = None, key: str | None = None,
              st: os.stat_result | None = None,
              ) -> tuple[Contract | None, list[ContractError], list[ContractNote]]:
    """Read and parse one file: (contract or None, errors, notes). `st`: its stat, taken
    just before (the walk's), so it is not taken twice."""
    stat = _stat_key(path, st)
    try:
        data = walk.read_limited(path)
    except walk.FileProblem as exc:
        return None, [_file_error(exc)], []
    contract, errors, notes = load_bytes(path, data, settings, key)
    if contract is not None:
        contract.stat = stat
    return contract, errors, notes


def load_bytes(path: Path, data: bytes, settings: Settings | None = None, key: str | None = None,
               ) -> tuple[Contract | None, list[ContractError], list[ContractNote]]:
    """Parse one file's bytes (already read): (contract or None, errors, notes)."""
    try:
        text, bom = yamlsafe.decode(data)
    except UnicodeDecodeError as exc:
        return None, [ContractError(path, 1, f"not UTF-8 ({exc.reason})", "save the file as UTF-8")], []
    contract, errors, notes = parse_text(path, text, settings, key)
    if contract is not None:
        contract.text, contract.bom = text, bom
    return contract, errors, notes


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


def load_dir(root: Path, previous: ContractSet | None = None,
             settings: Settings | None = None, load=None) -> ContractSet:
    """Load every contract under `root`; errors are collected, never raised.

    With `previous`, files whose inode, size and mtime are unchanged (and that loaded
    without errors) are reused instead of parsed again: the write phase re-reads the
    directory under the lock, and on 2,000 files parsing is the dominant cost. A writer
    that replaced a file (os.replace) always changes its inode.

    `load` is the per-file step, `load_file`'s signature (index.py passes one that goes
    through the parse cache).
    """
    with bulk():
        return _load_dir(root, previous, settings or Settings(), load or load_file)


def _map_errors(settings: Settings, root: Path) -> list[ContractError]:
    """Problems of the ini's status map, pointing at their line of the ini file."""
    if not settings.map_problems:
        return []
    src = settings.source
    try:
        lines = src.read_text(encoding="utf-8").splitlines() if src else []
    except (OSError, UnicodeDecodeError):
        lines = []
    out = []
    for p in settings.map_problems:
        line = next((i + 1 for i, ln in enumerate(lines) if p.line in ln), 0)
        out.append(ContractError(src or root, line, p.message, p.fix))
    return out


def _one_path_per_file(found: list[tuple[Path, os.stat_result]]
                       ) -> tuple[list[tuple[Path, os.stat_result]], list[ContractError]]:
    """Each file once: a second path to the same file (a symlink or hard link) would count
    its claims twice under two keys, so it is an error and only the real file is read.
    `found`: the walk's (path, stat) pairs."""
    by_file: dict[tuple[int, int], list[Path]] = {}
    for p, st in found:
        by_file.setdefault((st.st_dev, st.st_ino), []).append(p)
    if len(by_file) == len(found):  # the usual case: no file has two paths
        return found, []
    keep: set[Path] = set()
    errors: list[ContractError] = []
    for group in by_file.values():
        real = group[0] if len(group) == 1 else next(
            (p for p in group if not p.is_symlink()), group[0])
        keep.add(real)
        errors.extend(ContractError(p, 0, f"the same file as {real} (a link): its claims would "
                                          "count twice", "remove the link, or list it in falsify_exclude")
                      for p in group if p != real)
    return [f for f in found if f[0] in keep], errors


def load_paths(root: Path, settings: Settings
                   ) -> tuple[list[tuple[Path, str, os.stat_result]], list[ContractError], int]:
    """The files a load reads: ([(path, contract key, stat)], errors of the directory
    itself (the status map, the walk, links), how many files falsify_exclude skipped)."""
    errors = _map_errors(settings, root)
    found, problems = walk.contract_files_stat(root)
    errors.extend(_file_error(p) for p in problems)
    found, twice = _one_path_per_file(found)
    errors.extend(twice)
    base = root if root.is_dir() else root.parent
    out: list[tuple[Path, str, os.stat_result]] = []
    skipped = 0
    for path, st in found:
        if settings.exclude and path != root and excluded(contract_key(path, base, suffix=True),
                                                          settings.exclude):
            skipped += 1
            continue
        out.append((path, contract_key(path, base), st))
    return out, errors, skipped


def _load_dir(root: Path, previous: ContractSet | None, settings: Settings, load) -> ContractSet:
    reuse: dict[Path, Contract] = {}
    if previous is not None:
        broken = previous.broken
        reuse = {c.path: c for c in previous.contracts if c.path not in broken and c.stat}
    files, errors, skipped = load_paths(root, settings)
    cset = ContractSet([], errors, settings=settings, excluded=skipped)
    for path, key, st in files:
        old = reuse.get(path) if reuse else None  # (hashing a Path is not free)
        if old is not None and old.stat == _stat_key(path, st):
            contract, errs, notes = old, [], []
        else:
            contract, errs, notes = load(path, settings, key, st)
        cset.errors.extend(errs)
        cset.notes.extend(notes)
        if contract is None:
            continue
        cset.contracts.append(contract)
        for entry in contract.entries:
            cset.by_qid[entry.qid] = entry
            cset.qids_of.setdefault(entry.id, []).append(entry.qid)
    return cset
