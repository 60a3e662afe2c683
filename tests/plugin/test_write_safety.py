"""Writing a set of contracts: all or none, kills, Ctrl-C, full and read-only disks, links."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from falsify_project import DEMO, PASSING

from pytest_falsify import atomic


def files(tmp_path, n=3):
    paths = []
    for i in range(n):
        p = tmp_path / f"c{i}.yaml"
        p.write_bytes(b"old\n")
        paths.append(p)
    return paths


def leftovers(directory):
    return sorted(p.name for p in directory.rglob("*") if p.name.endswith(atomic.TMP_SUFFIX)
                  or p.name == atomic.JOURNAL)




def raise_on_call(monkeypatch, owner, name: str, n: int, exc: BaseException) -> None:
    """Make the n-th call of owner.name raise `exc` (the others run as usual)."""
    real, calls = getattr(owner, name), []

    def hook(*args, **kwargs):
        calls.append(args)
        if len(calls) == n:
            raise exc
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, hook)


def test_a_full_disk_on_the_second_file_changes_no_file_and_names_it(tmp_path, monkeypatch):
    paths = files(tmp_path)
    raise_on_call(monkeypatch, atomic.os, "fsync", 2, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    with pytest.raises(atomic.WriteFailure, match=r"cannot write .*c1\.yaml: No space left on "
                                                  "device; no contract was changed"):
        atomic.write_set(tmp_path, [(p, b"new\n") for p in paths])
    assert [p.read_bytes() for p in paths] == [b"old\n"] * 3
    assert leftovers(tmp_path) == []


def test_a_read_only_directory_changes_no_file_and_names_it(tmp_path, monkeypatch):
    paths = files(tmp_path, 2)

    def mkstemp(**kw):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), kw.get("dir"))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp)
    with pytest.raises(atomic.WriteFailure, match=r"cannot write .*c0\.yaml: Read-only file system"):
        atomic.write_set(tmp_path, [(p, b"new\n") for p in paths])
    assert [p.read_bytes() for p in paths] == [b"old\n"] * 2


def test_ctrl_c_while_the_temps_are_written_changes_no_file_and_leaves_no_temp(tmp_path, monkeypatch):
    paths = files(tmp_path)
    raise_on_call(monkeypatch, atomic, "_temp", 3, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        atomic.write_set(tmp_path, [(p, b"new\n") for p in paths])
    assert [p.read_bytes() for p in paths] == [b"old\n"] * 3 and leftovers(tmp_path) == []


def record_durability(monkeypatch, syncfs: bool) -> list[str]:
    """The write set's fsyncs, syncfs calls, journal and contract renames, in order."""
    events: list[str] = []
    real_fsync, real_replace, real_syncfs = atomic.os.fsync, atomic.os.replace, atomic._syncfs()
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd)))
    monkeypatch.setattr(atomic.os, "replace", lambda a, b: (
        events.append("journal" if str(b).endswith(atomic.JOURNAL) else "replace"), real_replace(a, b)))
    monkeypatch.setattr(atomic, "_fsync_dir", lambda d: events.append(f"dir {d.name}"))
    if syncfs and real_syncfs is None:
        pytest.skip("no syncfs(2) here")
    monkeypatch.setattr(atomic, "_syncfs", lambda: (lambda fd: (
        events.append("syncfs"), real_syncfs(fd))[1]) if syncfs else None)
    return events


# The order that makes a crash at any point recoverable (docs/design.md, "All or none"): the
# journal only ever names temps whose bytes are on disk, and no contract is replaced before
# the journal's own name is on disk.

def test_every_temp_is_fsynced_before_the_journal_where_there_is_no_syncfs(tmp_path, monkeypatch):
    paths, events = files(tmp_path, 5), record_durability(monkeypatch, syncfs=False)
    atomic.write_set(tmp_path, [(p, b"new\n") for p in paths])
    journal = events.index("journal")
    assert events[:journal] == ["fsync"] * 6  # five temps, then the journal's own temp
    assert events[journal + 1] == f"dir {tmp_path.name}"
    assert set(events[journal + 2:]) == {"replace", f"dir {tmp_path.name}"}
    assert [p.read_bytes() for p in paths] == [b"new\n"] * 5 and leftovers(tmp_path) == []


def test_one_syncfs_makes_every_temp_durable_before_the_journal(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    paths = files(tmp_path, 4) + files(tmp_path / "sub", 2)  # two directories, one filesystem
    events = record_durability(monkeypatch, syncfs=True)
    atomic.write_set(tmp_path, [(p, b"new\n") for p in paths])
    journal = events.index("journal")
    assert events[:journal] == ["syncfs", "fsync"]  # the temps' filesystem, the journal's temp
    assert events[journal + 1] == f"dir {tmp_path.name}"
    assert "fsync" not in events[journal:] and "syncfs" not in events[journal:]
    assert [p.read_bytes() for p in paths] == [b"new\n"] * 6 and leftovers(tmp_path) == []


def test_a_kernel_whose_syncfs_hides_write_back_errors_fsyncs_each_temp(monkeypatch):
    monkeypatch.setattr(atomic.sys, "platform", "linux")
    monkeypatch.setattr(atomic, "_kernel", lambda: (5, 4))
    assert atomic._syncfs() is None


def test_a_syncfs_error_changes_no_file_and_names_the_directory(tmp_path, monkeypatch):
    paths = files(tmp_path, 4)
    if atomic._syncfs() is None:
        pytest.skip("no syncfs(2) here")
    import ctypes

    def failing(fd):
        ctypes.set_errno(errno.EIO)
        return -1

    monkeypatch.setattr(atomic, "_syncfs", lambda: failing)
    with pytest.raises(atomic.WriteFailure, match=r"cannot write .*: Input/output error; no "
                                                  "contract was changed"):
        atomic.write_set(tmp_path, [(p, b"new\n") for p in paths])
    assert [p.read_bytes() for p in paths] == [b"old\n"] * 4 and leftovers(tmp_path) == []


KILLER = """\
import os, signal, sys
from pathlib import Path
from pytest_falsify import atomic
d = Path(sys.argv[1])
real, n = os.replace, []
def replace(a, b):
    real(a, b)
    n.append(b)
    if len(n) == 2 and str(b).endswith(".yaml"):  # the journal, then the first contract
        os.kill(os.getpid(), signal.SIGKILL)
atomic.os.replace = replace
atomic.write_set(d, [(d / f"c{i}.yaml", b"new\\n") for i in range(3)])
"""


def test_a_writer_killed_mid_rename_leaves_a_set_the_next_run_finishes(tmp_path):
    paths = files(tmp_path)
    proc = subprocess.run([sys.executable, "-c", KILLER, str(tmp_path)], check=False)
    assert proc.returncode == -9
    assert sorted(p.read_bytes() for p in paths) == [b"new\n", b"old\n", b"old\n"]
    assert atomic.recover(tmp_path) == (
        ["finished an interrupted write: 2 of 3 contract file(s) were still to be renamed"], [])
    assert [p.read_bytes() for p in paths] == [b"new\n"] * 3 and leftovers(tmp_path) == []


def test_stray_temps_of_a_writer_killed_before_its_journal_are_removed(tmp_path):
    (tmp_path / "sub").mkdir()
    stray = tmp_path / "sub" / f".c.yaml.k3j2{atomic.TMP_SUFFIX}"
    stray.write_bytes(b"half")
    assert atomic.recover(tmp_path) == (["removed 1 temp file(s) of an interrupted write"], [])
    assert not stray.exists()


# --- end to end -----------------------------------------------------------------------

def test_a_file_that_cannot_be_rewritten_is_not_reported_as_rewritten(project):
    project.contract()
    project.contract(DEMO.replace("FALSIFY-DEMO", "FALSIFY-CR").replace("\n", "\r"), name="cr")
    project.tests(PASSING + PASSING.replace("DEMO", "CR").replace("def test_", "def test_cr_"))
    result = project.run("--falsify")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    assert "FALSIFY-CR-001: UNBOUND" not in out and "FALSIFY-DEMO-001: UNBOUND -> DISCHARGED" in out
    result.stdout.fnmatch_lines(["cr *1 DISCHARGED*2 UNBOUND*", "*cr.yaml: not rewritten: line endings "
                                 "are bare CR*", "wrote 1 contract file(s):"])
    assert b"DISCHARGED" not in project.read("cr").replace(b"discharge_status: DISCHARGED", b"")


def test_an_entry_reached_through_a_merge_key_is_not_rewritten_and_named(project):
    project.contract("""\
        falsification_tests:
          - &base
            id: FALSIFY-M-001
            prediction: p
            discharge_level: algorithm
          - <<: *base
            id: FALSIFY-M-002
        """, name="merged")
    before = project.read("merged")
    project.tests('import pytest\n\n@pytest.mark.falsifier("FALSIFY-M-001")\ndef test_a():\n    pass\n')
    result = project.run("--falsify")
    assert result.ret == pytest.ExitCode.TESTS_FAILED and project.read("merged") == before
    result.stdout.fnmatch_lines(["transitions: none", "*merged.yaml: not rewritten: FALSIFY-M-001: "
                                 "its entry (line 2) is shared through a YAML anchor*"])


def test_ctrl_c_in_the_write_phase_prints_one_line_and_changes_nothing(project, monkeypatch):
    project.contract()
    project.contract(DEMO.replace("FALSIFY-DEMO", "FALSIFY-TWO"), name="two")
    project.tests(PASSING + PASSING.replace("DEMO", "TWO").replace("def test_", "def test_two_"))
    before = project.read(), project.read("two")
    raise_on_call(monkeypatch, atomic, "_temp", 2, KeyboardInterrupt())
    result = project.run("--falsify")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["*interrupted (Ctrl-C) while writing contracts: no contract was changed"])
    assert (project.read(), project.read("two")) == before
    assert leftovers(project.path / "contracts") == []


def test_a_full_disk_in_the_write_phase_is_one_clean_message_and_the_tally_keeps_old(project, monkeypatch):
    project.contract()
    project.tests(PASSING)
    before = project.read()

    def fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    result = project.run("--falsify")
    assert result.ret == pytest.ExitCode.TESTS_FAILED and project.read() == before
    result.stdout.fnmatch_lines(["transitions: none", "demo *1 DISCHARGED*2 UNBOUND*",
                                 "*cannot write *demo.yaml: No space left on device; no contract was changed"])


def test_a_symlinked_contract_is_written_through_to_its_target(project):
    real = project.path / "contracts" / "real"
    real.mkdir()
    target = real / "demo.txt"  # not *.yaml: loaded once, through the link
    target.write_text(DEMO)
    (project.path / "contracts" / "demo.yaml").symlink_to("real/demo.txt")
    project.tests(PASSING)
    project.run("--falsify").assert_outcomes(passed=3)
    assert (project.path / "contracts" / "demo.yaml").is_symlink()
    data = yaml.safe_load(target.read_text())
    assert data["falsification_tests"][0]["discharge_status"] == "DISCHARGED"


def test_a_symlink_to_a_file_outside_the_contracts_directory_is_refused(project):
    outside = project.path / "shared.yaml"
    outside.write_text(DEMO)
    (project.path / "contracts" / "demo.yaml").symlink_to(outside)
    project.tests(PASSING)
    result = project.run("--falsify")
    assert result.ret == pytest.ExitCode.TESTS_FAILED and outside.read_text() == DEMO
    result.stdout.fnmatch_lines(["*demo.yaml: not rewritten: it is a symlink to *shared.yaml, outside*"])
    assert (project.path / "contracts" / "demo.yaml").is_symlink()


def test_the_next_write_finishes_a_set_a_killed_run_left_half_renamed(project):
    project.contract()
    contracts = project.path / "contracts"
    new = DEMO.replace("version: 1.0.0", "version: 9.0.0")
    tmp = contracts / f".demo.yaml.x1{atomic.TMP_SUFFIX}"
    tmp.write_text(new)
    (contracts / atomic.JOURNAL).write_text(f'[["{tmp.name}", "demo.yaml"]]')
    project.tests(textwrap.dedent(PASSING))
    result = project.run("--falsify")
    assert result.ret == pytest.ExitCode.OK  # finishing the set is not a problem of this run
    result.stdout.fnmatch_lines(["  note: finished an interrupted write: 1 of 1 contract file(s)*"])
    assert "version: 9.1.0" in project.read().decode() and leftovers(contracts) == []


def test_a_read_only_contracts_directory_is_one_line_and_nothing_is_written(project, monkeypatch):
    project.contract()
    project.tests(PASSING)
    before = project.read()

    def no_lock(path, mode="r", *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(atomic, "open", no_lock, raising=False)  # the lock file's open()
    result = project.run("--falsify")
    assert result.ret == pytest.ExitCode.TESTS_FAILED and project.read() == before
    result.stdout.fnmatch_lines(["*cannot lock *contracts: Read-only file system; nothing written"])


def test_ctrl_c_in_falsify_apply_is_one_line_and_changes_nothing(project, monkeypatch, capsys):
    from pytest_falsify.cli import main

    project.contract()
    project.tests(PASSING)
    project.run("--falsify=report", "--falsify-report", "r.json")
    before = project.read()
    raise_on_call(monkeypatch, atomic, "_temp", 1, KeyboardInterrupt())
    assert main(["--contracts", str(project.path / "contracts"), "apply",
                 str(project.path / "r.json")]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        "falsify apply: interrupted (Ctrl-C): no contract was changed"
    assert project.read() == before and leftovers(project.path / "contracts") == []


@pytest.mark.parametrize(("path", "expected"), [
    ("/p/contracts/a/b.yaml", "a/b.yaml"),  # under the directory: the part after it
    ("/p/contracts/.b.yaml.1f.falsify-tmp", ".b.yaml.1f.falsify-tmp"),
    ("/p/other/c.yaml", "../other/c.yaml"),  # anywhere else: os.path.relpath
    ("/p/contracts-old/c.yaml", "../contracts-old/c.yaml"),  # a sibling sharing the prefix
])
def test_a_journal_names_each_file_relative_to_the_contracts_directory(path, expected):
    directory = Path("/p/contracts")
    assert atomic._relative(path, directory, os.path.join(str(directory), "")) == expected
    assert os.path.normpath(os.path.join(directory, expected)) == path
