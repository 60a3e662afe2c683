"""Spare files: a write set reuses the inodes of the contracts it replaced (spares.py)."""

from __future__ import annotations

import os

import pytest

from pytest_falsify import atomic, spares

pytestmark = pytest.mark.skipif(os.name == "nt", reason="no spares on Windows")


def contracts(directory, n=4, text=b"old\n"):
    directory.mkdir(exist_ok=True)
    paths = [directory / f"c{i}.yaml" for i in range(n)]
    for p in paths:
        p.write_bytes(text)
    return paths


def write(directory, pool, paths, text=b"new\n"):
    atomic.write_set(directory, [(p, text) for p in paths], spares.SparePool(pool))


def test_a_write_puts_new_texts_into_spares_and_keeps_the_replaced_inodes(tmp_path):
    pool, paths = tmp_path / "pool", contracts(tmp_path / "c")
    write(tmp_path / "c", pool, paths)  # no spares yet: new temps; the old inodes are kept
    kept = {os.stat(pool / n).st_ino for n in os.listdir(pool)}
    assert len(kept) == 4 and all((pool / n).read_bytes() == b"old\n" for n in os.listdir(pool))
    write(tmp_path / "c", pool, paths, b"newer\n")
    assert {p.stat().st_ino for p in paths} == kept  # written into the kept inodes
    assert [p.read_bytes() for p in paths] == [b"newer\n"] * 4
    assert all(p.stat().st_nlink == 1 for p in paths)  # no pool name reaches a contract
    assert sorted((pool / n).read_bytes() for n in os.listdir(pool)) == [b"new\n"] * 4


def test_a_text_shorter_than_the_spare_it_is_written_into_is_all_the_file_holds(tmp_path):
    pool, paths = tmp_path / "pool", contracts(tmp_path / "c", text=b"a much longer old text\n")
    write(tmp_path / "c", pool, paths, b"middle\n")
    write(tmp_path / "c", pool, paths, b"new\n")
    assert [p.read_bytes() for p in paths] == [b"new\n"] * 4


def test_a_file_written_into_a_spare_has_its_own_contract_s_permission_bits(tmp_path):
    pool, paths = tmp_path / "pool", contracts(tmp_path / "c")
    modes = [0o600, 0o640, 0o644, 0o664]
    for p, mode in zip(paths, modes, strict=True):
        p.chmod(mode)
    write(tmp_path / "c", pool, paths)  # the pool now holds inodes of every mode
    for p, mode in zip(paths, modes[1:] + modes[:1], strict=True):
        p.chmod(mode)  # each contract's bits differ from its spare's now
    write(tmp_path / "c", pool, paths, b"newer\n")
    assert [p.stat().st_mode & 0o7777 for p in paths] == modes[1:] + modes[:1]


def planted(tmp_path, plant):
    """A pool whose four entries `plant(file, entry)` made from one file outside it; a
    write of four contracts through it. Returns (that file, the contracts)."""
    pool, paths = tmp_path / "pool", contracts(tmp_path / "c")
    pool.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"keep me\n")
    for i in range(4):
        plant(outside, pool / f"s{i}")
    write(tmp_path / "c", pool, paths)
    assert [p.read_bytes() for p in paths] == [b"new\n"] * 4
    return outside, paths


def test_a_spare_that_another_name_reaches_is_never_written(tmp_path):
    # a killed writer's link to a live contract, or a file someone linked into the pool
    outside, paths = planted(tmp_path, os.link)
    assert outside.read_bytes() == b"keep me\n"
    assert outside.stat().st_ino not in {p.stat().st_ino for p in paths}


def test_a_symlink_in_the_pool_is_not_followed(tmp_path):
    outside, paths = planted(tmp_path, lambda file, entry: entry.symlink_to(file))
    assert outside.read_bytes() == b"keep me\n"
    assert not any(p.is_symlink() for p in paths)


def test_a_hard_linked_contract_keeps_its_other_name_and_is_not_kept_as_a_spare(tmp_path):
    pool, paths = tmp_path / "pool", contracts(tmp_path / "c")
    other = tmp_path / "other-name.yaml"
    os.link(paths[0], other)
    write(tmp_path / "c", pool, paths)
    assert other.read_bytes() == b"old\n" and other.stat().st_nlink == 1
    assert len(os.listdir(pool)) == 3  # the three contracts of one name each
    write(tmp_path / "c", pool, paths, b"newer\n")
    assert other.read_bytes() == b"old\n"


def test_no_more_than_the_limit_is_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(spares, "LIMIT", 2)
    pool, paths = tmp_path / "pool", contracts(tmp_path / "c")
    write(tmp_path / "c", pool, paths)
    assert len(os.listdir(pool)) == 2


def test_a_pool_that_cannot_be_made_only_means_new_temps(tmp_path):
    blocker = tmp_path / "pool"
    blocker.write_text("a file where the pool directory would be")
    paths = contracts(tmp_path / "c")
    write(tmp_path / "c", blocker / "spares", paths)
    assert [p.read_bytes() for p in paths] == [b"new\n"] * 4


def test_the_pool_is_not_made_where_its_cache_directory_is_missing(tmp_path):
    paths = contracts(tmp_path / "c")
    write(tmp_path / "c", tmp_path / ".pytest_cache" / "d" / "falsify" / "spares", paths)
    assert [p.read_bytes() for p in paths] == [b"new\n"] * 4
    assert not (tmp_path / ".pytest_cache").exists()  # pytest makes it, with its .gitignore


def test_a_second_write_run_writes_into_the_file_the_first_one_replaced(project):
    from falsify_project import PASSING

    path = project.contract()
    original = path.stat().st_ino
    project.tests(PASSING)
    assert project.run("--falsify", cache=True).ret == 0  # the cache holds the pool
    assert path.stat().st_ino != original  # replaced; its old inode kept as a spare
    project.tests(PASSING.replace("    pass\n", "    assert False\n", 1))
    project.run("--falsify", cache=True)
    assert b"FALSIFIED" in project.read()
    assert path.stat().st_ino == original and path.stat().st_nlink == 1
