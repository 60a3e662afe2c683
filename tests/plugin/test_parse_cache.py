"""The parse cache: used only when provably fresh, never trusted when bad, safe in parallel."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from pytest_falsify.parse_cache import RACY_NS, ParseCache, cache_file

FP = "fingerprint-1"


@pytest.fixture
def src(tmp_path: Path) -> Path:
    p = tmp_path / "c.yaml"
    p.write_bytes(b"metadata: {}\n")
    old = os.stat(p).st_mtime_ns - 10 * RACY_NS  # clear of the racy window
    os.utime(p, ns=(old, old))
    return p


def _stored(tmp_path: Path, src: Path, value: object = {"ids": ["A"]}) -> Path:
    cpath = cache_file(tmp_path / ".pytest_cache")
    cache = ParseCache(cpath, FP)
    cache.store(str(src), src.stat(), src.read_bytes(), value)
    cache.save()
    return cpath


def _lookup(cache: ParseCache, src: Path):
    reads = []

    def read() -> bytes:
        reads.append(1)
        return src.read_bytes()

    value, _ = cache.lookup(str(src), src.stat(), read)
    return value, len(reads)


def test_an_unchanged_file_is_served_by_size_and_mtime_without_reading_it(tmp_path, src):
    cpath = _stored(tmp_path, src)
    assert _lookup(ParseCache(cpath, FP), src) == ({"ids": ["A"]}, 0)


def test_a_touched_file_with_the_same_bytes_is_served_by_its_digest(tmp_path, src):
    cpath = _stored(tmp_path, src)
    os.utime(src, ns=(src.stat().st_mtime_ns + 5 * RACY_NS,) * 2)  # as after git checkout
    cache = ParseCache(cpath, FP)
    assert _lookup(cache, src) == ({"ids": ["A"]}, 1)
    assert cache.digest_hits == 1


def test_a_changed_file_is_a_miss(tmp_path, src):
    cpath = _stored(tmp_path, src)
    src.write_bytes(b"metadata: {version: 2}\n")
    assert _lookup(ParseCache(cpath, FP), src) == (None, 1)


def test_same_size_and_mtime_but_new_bytes_are_caught_when_the_edit_was_racy(tmp_path, src):
    # An edit in the same clock tick as the read keeps size and mtime: such a record is
    # checked by digest, so the edit is seen.
    now = src.stat().st_mtime_ns + 10 * RACY_NS
    os.utime(src, ns=(now, now))
    cpath = cache_file(tmp_path / ".pytest_cache")
    cache = ParseCache(cpath, FP)
    st = src.stat()
    cache.store(str(src), st, src.read_bytes(), {"ids": ["A"]})
    cache.records[str(src)]["read_ns"] = now + 1  # read in the same tick as the edit
    cache.save()
    src.write_bytes(b"metadata: {}\n".replace(b"{}", b"[]"))  # same size
    os.utime(src, ns=(now, now))
    assert _lookup(ParseCache(cpath, FP), src) == (None, 1)


@pytest.mark.parametrize("garbage", [
    b"", b"{not json", b"\xff\xfe", b"[]", b'{"format": 99}\n{}',
    b'{"format": 2, "fingerprint": "fingerprint-1", "checksum": "x"}\n{"a": 1}',
], ids=["empty", "truncated", "binary", "list", "other-format", "bad-checksum"])
def test_a_corrupt_cache_is_ignored_and_rebuilt(tmp_path, src, garbage):
    cpath = cache_file(tmp_path / ".pytest_cache")
    cpath.parent.mkdir(parents=True)
    cpath.write_bytes(garbage)
    cache = ParseCache(cpath, FP)
    assert cache.ignored and cache.records == {}
    assert _lookup(cache, src) == (None, 0)
    cache.store(str(src), src.stat(), src.read_bytes(), {"ids": ["B"]})
    cache.save()
    assert _lookup(ParseCache(cpath, FP), src) == ({"ids": ["B"]}, 0)


def test_an_edited_record_fails_the_checksum_and_is_not_trusted(tmp_path, src):
    cpath = _stored(tmp_path, src)
    head, body = cpath.read_bytes().split(b"\n", 1)
    data = json.loads(body)
    data[str(src)]["value"] = {"ids": ["FORGED"]}
    cpath.write_bytes(head + b"\n" + json.dumps(data).encode())
    cache = ParseCache(cpath, FP)
    assert _lookup(cache, src) == (None, 0)
    assert cache.ignored == "its records fail their checksum"


def test_records_of_other_loader_code_or_settings_are_not_used(tmp_path, src):
    cpath = _stored(tmp_path, src)
    assert _lookup(ParseCache(cpath, "fingerprint-2"), src) == (None, 0)


def test_an_unwritable_cache_directory_costs_nothing_but_speed(tmp_path, src):
    blocker = tmp_path / "ro"
    blocker.write_text("a file where the cache directory should be")
    cache = ParseCache(blocker / "d" / "falsify" / "parse-cache.json", FP)
    cache.store(str(src), src.stat(), src.read_bytes(), 1)
    cache.save()  # no exception


def test_concurrent_savers_never_leave_a_partial_cache(tmp_path, src):
    cpath = _stored(tmp_path, src)
    stop = threading.Event()
    seen: list[str | None] = []

    def writer(n: int) -> None:
        while not stop.is_set():
            c = ParseCache(cpath, FP)
            c.store(f"{src}-{n}", src.stat(), src.read_bytes(), {"big": "x" * 200_000, "n": n})
            c.save()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    try:
        for _ in range(200):
            seen.append(ParseCache(cpath, FP).ignored)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert seen == [None] * 200
    assert not [p for p in cpath.parent.iterdir() if p.name != cpath.name]  # no temp file left
