"""A parse cache: what each contract file yielded, so an unchanged file is never parsed again.

One JSON file under pytest's cache directory (`.pytest_cache/d/falsify/parse-cache.json`).
Pure: no pytest import; the plugin and the CLI both pass the path.

The rules (docs/design.md, "The parse cache"):

- A record is keyed by the file's path and holds its size, mtime (ns) and a BLAKE2b digest
  of its bytes, plus what the loader made of it (a JSON value the loader defines).
- A record is used when size and mtime match, or, when they do not (a `git checkout`
  touches mtimes), when the file's bytes have the digest: then only the file is read, not
  parsed. A file whose mtime is within 2 s of when its bytes were read for the record
  ("racily clean", as git calls it: an edit in the same clock tick keeps size and mtime)
  is checked by digest until a later read is clear of it.
- The cache is keyed as a whole by a fingerprint of what shapes a record: the format
  number, the loader's source code and the project's loader settings. Another
  fingerprint: every record is ignored.
- Never trusted: a cache that is not valid JSON, has the wrong shape, or whose records
  fail the checksum in its header is ignored (and rebuilt on save); a record is only
  ever used together with a size+mtime or digest match against the file on disk.
- Safe under concurrent runs: written to a temporary file in the same directory and
  moved into place with os.replace (a reader sees the old file or the new, never half of
  one); concurrent writers each write a complete cache, the last one wins, and a record
  the winner lacks is rebuilt on the next run. Writing is best effort: a read-only or
  full disk costs speed, never a run.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

FORMAT = 2
FILE_NAME = "parse-cache.json"
#: a file modified this close to the save is checked by digest (filesystem clock ticks)
RACY_NS = 2_000_000_000


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def cache_file(cache_dir: Path) -> Path:
    """Where the cache lives inside a pytest cache directory (`Cache.mkdir("falsify")`)."""
    return cache_dir / "d" / "falsify" / FILE_NAME


class ParseCache:
    """Records of one contracts directory's files, read once, written back at most once."""

    def __init__(self, path: Path | None, fingerprint: str) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self.records: dict[str, dict] = {}
        self.hits = self.digest_hits = self.misses = 0
        self.ignored: str | None = None  # why the file on disk was not used, if it was not
        self._dirty = False
        if path is not None:
            self._read(path)

    def _read(self, path: Path) -> None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            self.ignored = f"unreadable ({exc.strerror})"
            return
        # Two lines: a header (format, fingerprint, checksum of the second line), then the
        # records. The checksum covers the records' bytes, so any damage (a torn or hand
        # edited file) is caught before a single record is used.
        head, _, body = raw.partition(b"\n")
        try:
            header = json.loads(head)
        except (ValueError, UnicodeDecodeError):
            self.ignored = "not valid JSON"
            return
        if not (isinstance(header, dict) and header.get("format") == FORMAT):
            self.ignored = "not a parse cache of this format"
            return
        if header.get("fingerprint") != self.fingerprint:
            self.ignored = "written for other loader code or settings"
            self._dirty = True  # rewrite it for ours
            return
        if header.get("checksum") != digest(body):
            self.ignored = "its records fail their checksum"
            self._dirty = True
            return
        try:
            records = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            self.ignored = "not valid JSON"
            return
        if not isinstance(records, dict):
            self.ignored = "not a parse cache of this format"
            return
        for key, rec in records.items():
            if (isinstance(rec, dict) and isinstance(rec.get("size"), int)
                    and isinstance(rec.get("mtime_ns"), int) and isinstance(rec.get("read_ns"), int)
                    and isinstance(rec.get("digest"), str) and "value" in rec):
                self.records[key] = rec
            else:
                self.ignored = "a record of the wrong shape"
                self._dirty = True

    def lookup(self, key: str, st: os.stat_result, read: callable) -> tuple[object, bytes | None]:
        """(the record's value or None, the file's bytes if they had to be read).

        `read()` returns the file's bytes; it is called only when size+mtime do not prove
        the record fresh. With a None value, the caller parses (the bytes, if given) and
        calls `store`."""
        rec = self.records.get(key)
        if rec is None:
            self.misses += 1
            return None, None
        same_stat = rec["size"] == st.st_size and rec["mtime_ns"] == st.st_mtime_ns
        if same_stat and st.st_mtime_ns < rec["read_ns"] - RACY_NS:
            self.hits += 1
            return rec["value"], None
        data = read()
        if digest(data) == rec["digest"]:
            self.digest_hits += 1
            self._put(key, st, rec["digest"], rec["value"])  # new stat, or a later read time
            return rec["value"], data
        self.misses += 1
        return None, data

    def store(self, key: str, st: os.stat_result, data: bytes, value: object) -> None:
        """Record what the loader made of `data` (the bytes read at stat `st`)."""
        self._put(key, st, digest(data), value)

    def _put(self, key: str, st: os.stat_result, dig: str, value: object) -> None:
        # read_ns: no later than when the bytes were read (they were read before this call)
        self.records[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns,
                             "read_ns": time.time_ns(), "digest": dig, "value": value}
        self._dirty = True

    def forget_except(self, keys: set[str]) -> None:
        """Drop the records of files that are gone (so the cache does not grow forever)."""
        for k in [k for k in self.records if k not in keys]:
            del self.records[k]
            self._dirty = True

    def mark_changed(self) -> None:
        """The records were set from outside: `save` writes them."""
        self._dirty = True

    def save(self) -> bool:
        """Write the cache if it changed (atomically; best effort); whether it was written."""
        if self.path is None or not self._dirty:
            return False
        # (records are acyclic: JSON values, or to_record's, which are JSON-exact)
        records = json.dumps(self.records, separators=(",", ":"), check_circular=False).encode()
        header = json.dumps({"format": FORMAT, "fingerprint": self.fingerprint,
                             "checksum": digest(records)}).encode()
        body = header + b"\n" + records
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(body)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError:
            return False
        self._dirty = False
        return True
