"""Contracts loaded through the parse cache: the index a run needs, without full parses.

`Index(settings, cache_path).load(root)` gives the same ContractSet as `contracts.load_dir`
(the same contracts, entries, errors and notes), but every file the cache vouches for
(parse_cache.py: size+mtime, else digest) comes back *light*: its entries carry id, line,
status, level, stored evidence and declared `faults` (in `data`, for mutants mode and the
falsifiability states), not the YAML node tree, the file's text or the entry's other
keys. That is all that resolving marker ids, planning, the summary and the report use.
`hydrate(contract)` reads one light contract's text and node tree, for the files a run
renders (check's diff, write's rewrite).

A file is cached only when its record survives JSON exactly (a YAML date or a NaN in its
evidence does not), so a light entry never differs from the full one.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
from pathlib import Path

from . import contracts, parse_cache, spares, walk, yamlsafe
from .contracts import Contract, ContractError, ContractNote, Entry
from .settings import Settings

#: the modules whose code shapes a record: a change to any of them rebuilds the cache
_LOADER_MODULES = ("contracts", "index", "parse_cache", "settings", "statuses", "walk", "yamlsafe")
_ENTRY_FIELDS = ("id", "block", "line", "status", "status_key", "level", "evidence", "key", "word")


def fingerprint(settings: Settings) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{parse_cache.FORMAT}\0{settings.exclude!r}\0{settings.status_map!r}\0".encode())
    here = Path(__file__).resolve().parent
    for name in _LOADER_MODULES:
        try:
            h.update((here / f"{name}.py").read_bytes())
        except OSError:
            h.update(name.encode())
    return h.hexdigest()


#: ints of fewer bits have fewer than 4,300 digits (sys.int_info.default_max_str_digits):
#: JSON writes and reads them back; a longer one may not be written at all
_INT_BITS = 14_000


def _json_exact(value: object) -> bool:
    """Whether JSON gives `value` back equal, with the same types: strings, bools, None,
    ints, finite floats, and lists and str-keyed dicts of them (exact types: a subclass,
    a tuple, a date or an int key is not, as its JSON round trip would not be equal).
    A walk, not the round trip itself: ~35% less time for each file a run writes."""
    cls = value.__class__
    if cls is str or cls is bool or value is None:
        return True
    if cls is int:
        return value.bit_length() < _INT_BITS  # type: ignore[attr-defined]
    if cls is float:
        return math.isfinite(value)  # type: ignore[arg-type]
    if cls is list:
        return all(map(_json_exact, value))  # type: ignore[call-overload]
    if cls is dict:
        return all(k.__class__ is str and _json_exact(v) for k, v in value.items())  # type: ignore[attr-defined]
    return False


def to_record(contract: Contract | None, errors: list[ContractError],
              notes: list[ContractNote]) -> dict | None:
    """What the cache keeps of one file, or None when JSON cannot hold it exactly."""
    rec = {
        "contract": None if contract is None else {
            "name": contract.name, "version": contract.version, "bom": contract.bom,
            "entries": [[getattr(e, f) for f in _ENTRY_FIELDS] + [e.data.get("faults")]
                        for e in contract.entries]},
        "errors": [[e.line, e.message, e.fix] for e in errors],
        "notes": [[n.line, n.message] for n in notes],
    }
    try:
        return rec if _json_exact(rec) else None
    except RecursionError:  # nested deeper than the walk can go: JSON could not either
        return None


def from_record(path: Path, rec: dict, stat: tuple | None
                ) -> tuple[Contract | None, list[ContractError], list[ContractNote]]:
    errors = [ContractError(path, line, msg, fix) for line, msg, fix in rec["errors"]]
    notes = [ContractNote(path, line, msg) for line, msg in rec["notes"]]
    c = rec["contract"]
    if c is None:
        return None, errors, notes
    entries = [Entry(fid, block, path, line, status, status_key, level, evidence,
                     {} if faults is None else {"faults": faults}, key, word)
               for fid, block, line, status, status_key, level, evidence, key, word, faults
               in c["entries"]]
    contract = Contract(path, c["name"], c["version"], entries, "", c["bom"], None, stat)
    return contract, errors, notes


def _stat_key(st: os.stat_result) -> tuple:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class _CachedLoader:
    """The loader's per-file step (`contracts.load_file`'s signature), through the cache."""

    def __init__(self, cache: parse_cache.ParseCache) -> None:
        self.cache = cache
        self.seen: set[str] = set()

    def __call__(self, path: Path, settings: Settings, key: str, st: os.stat_result | None = None):
        name = str(path)
        self.seen.add(name)
        if st is None:
            try:
                st = os.stat(path)
            except OSError:
                return contracts.load_file(path, settings, key)  # it reports the problem
        try:
            value, data = self.cache.lookup(name, st, lambda: walk.read_limited(path))
        except walk.FileProblem:
            return contracts.load_file(path, settings, key)
        if value is not None:
            try:
                return from_record(path, value, _stat_key(st))
            except (KeyError, TypeError, ValueError):  # a record of the wrong shape
                pass
        if data is None:
            try:
                data = walk.read_limited(path)
            except walk.FileProblem:
                return contracts.load_file(path, settings, key)
        contract, errors, notes = contracts.load_bytes(path, data, settings, key)
        rec = to_record(contract, errors, notes)
        if rec is not None:
            self.cache.store(name, st, data, rec)
        if contract is not None:
            contract.stat = _stat_key(st)
        return contract, errors, notes


#: The id index beside the parse cache, and a projection of it: each file's bare ids and
#: errors, for runs that only bind markers (no --falsify): they read ~0.3 MB, not 4 MB.
IDS_FILE = "id-index.json"


def _ids_value(value: object) -> tuple[list[str], list[list]] | None:
    """(ids, [[line, message, fix]]) of an id-index record; None when it is not one."""
    if not isinstance(value, dict):
        return None
    ids, errors = value.get("ids"), value.get("errors")
    if not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)
            and isinstance(errors, list) and all(
                isinstance(e, list) and len(e) == 3 and isinstance(e[0], int)
                and isinstance(e[1], str) and isinstance(e[2], str) for e in errors)):
        return None
    return ids, errors


def _project(value: dict) -> dict:
    """The id-index value of a parse-cache record's value."""
    c = value["contract"]
    return {"ids": [e[0] for e in c["entries"]] if c else [], "errors": value["errors"]}


class Index:
    """Loads a contracts directory through one parse cache (None: plain full loads), and
    records files the run wrote so the next run need not parse them."""

    def __init__(self, settings: Settings | None = None, cache_path: Path | None = None) -> None:
        self.settings = settings or Settings()
        self.cache_path = cache_path
        self.fingerprint = fingerprint(self.settings)
        self._cache: parse_cache.ParseCache | None = None

    @property
    def cache(self) -> parse_cache.ParseCache | None:
        """The parse cache, read from disk when first needed (None: no cache)."""
        if self._cache is None and self.cache_path is not None:
            self._cache = parse_cache.ParseCache(self.cache_path, self.fingerprint)
        return self._cache

    @property
    def spare_dir(self) -> Path | None:
        """Where a write keeps spare files (spares.py): beside the parse cache, or None."""
        return self.cache_path.parent / spares.DIR_NAME if self.cache_path is not None else None

    def load(self, root: Path, previous: contracts.ContractSet | None = None) -> contracts.ContractSet:
        if self.cache is None:
            return contracts.load_dir(root, previous, self.settings)
        step = _CachedLoader(self.cache)
        cset = contracts.load_dir(root, previous, self.settings, load=step)
        # Files reused from `previous` never reach the step; they are kept too.
        self.cache.forget_except(step.seen | {str(c.path) for c in cset.contracts})
        self._save()
        return cset

    def load_ids(self, root: Path) -> contracts.IdSet:
        """The qualified ids and errors of `root`, exactly as `load` gives them, through the
        id index: a warm run reads that one small file and the walk's stats. When the
        index does not vouch for every file (the parse cache's rules), this is `load`
        (whose parse cache then parses only what it does not vouch for) and the index is
        written anew from the parse cache."""
        if self.cache_path is None:
            return _id_set(contracts.load_dir(root, settings=self.settings))
        ids_cache = parse_cache.ParseCache(self.ids_path, self.fingerprint)
        files, errors, _ = contracts.load_paths(root, self.settings)
        qids: list[str] = []
        qids_of: dict[str, list[str]] = {}
        with contracts.bulk():
            for path, key, st in files:
                try:
                    value, _data = ids_cache.lookup(str(path), st,
                                                    functools.partial(walk.read_limited, path))
                except walk.FileProblem:
                    value = None
                rec = _ids_value(value)
                if rec is None:  # changed, new, or never indexable: the full load
                    return _id_set(self.load(root))
                ids, errs = rec
                errors.extend(contracts.ContractError(path, line, msg, fix) for line, msg, fix in errs)
                for fid in ids:
                    qid = f"{key}{contracts.SEP}{fid}"
                    qids.append(qid)
                    qids_of.setdefault(fid, []).append(qid)
        ids_cache.forget_except({str(p) for p, _, _ in files})
        ids_cache.save()  # only when a digest check renewed a record's stat
        # Tuples, not lists: tuples of strings leave the GC's lists, and 8,930 long-lived
        # lists were enough to cost the run one more full collection (~0.1 s) than
        # without the plugin.
        return contracts.IdSet(frozenset(qids), {k: tuple(v) for k, v in qids_of.items()},
                               errors)

    @property
    def ids_path(self) -> Path | None:
        return self.cache_path.with_name(IDS_FILE) if self.cache_path is not None else None

    def _save(self) -> None:
        """Write the parse cache back if it changed, and the id index projected from it."""
        if not self.cache.save():
            return
        ids = parse_cache.ParseCache(None, self.fingerprint)
        ids.path = self.ids_path
        for key, rec in self.cache.records.items():
            try:
                ids.records[key] = {**rec, "value": _project(rec["value"])}
            except (KeyError, TypeError, IndexError):  # a record of the wrong shape
                continue
        ids.mark_changed()
        ids.save()

    def written(self, rendered: list) -> None:
        """Record the files just written (engine.Rendered, with what the loader made of
        the new text), with their new size and mtime."""
        if self.cache is None:
            return
        for r in rendered:
            if r.loaded is None:
                continue
            try:
                st = os.stat(r.path)
            except OSError:
                continue
            rec = to_record(*r.loaded)
            if rec is not None:
                self.cache.store(str(r.path), st, (b"\xef\xbb\xbf" if r.bom else b"")
                                 + r.new.encode("utf-8"), rec)
        self._save()
        # Its records (~25 objects a file) are on disk now: dropped here, while the write
        # keeps the cyclic GC off, rather than scanned by every full collection until the
        # session ends (~0.1 s at aprender's scale). A later use reads the file again.
        self._cache = None


def _id_set(cset: contracts.ContractSet) -> contracts.IdSet:
    return contracts.IdSet(frozenset(cset.by_qid), cset.qids_of, cset.errors)


def load_dir(root: Path, settings: Settings | None = None,
             cache_path: Path | None = None) -> contracts.ContractSet:
    """`contracts.load_dir` through the parse cache at `cache_path` (None: a full load)."""
    return Index(settings, cache_path).load(root)


class Changed(Exception):
    """A light contract's file changed since it was indexed: its plan would be stale."""


def hydrate(contract: Contract) -> Contract:
    """`contract` with its text and YAML node tree, read now if it came light from the
    cache (composed and constructed only: its entries are the indexed ones). Raises
    Changed when the file is no longer what was indexed."""
    if contract.parsed is not None or contract.text:
        return contract
    try:
        st = os.stat(contract.path)
        if _stat_key(st) != contract.stat:
            raise Changed(f"{contract.path}: changed during the run")
        text, bom = yamlsafe.decode(walk.read_limited(contract.path))
        root = yamlsafe.compose(text)
        tree = yamlsafe.construct(root)
    except (OSError, walk.FileProblem, UnicodeDecodeError, yamlsafe.YamlProblem) as exc:
        raise Changed(f"{contract.path}: changed during the run ({exc})") from None
    contract.text, contract.bom, contract.parsed = text, bom, (root, tree)
    return contract
