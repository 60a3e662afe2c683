"""Contract inputs that used to crash, exhaust memory or be skipped silently get clean errors.

Values that do not construct, files and node trees beyond the limits, and directory
entries the walk cannot use: each names the file (and line) and a fix, and nothing else
of the directory is lost.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from falsify_project import DEMO, PASSING

from pytest_falsify import contracts, walk, yamlsafe
from pytest_falsify.cli import main

pytestmark = pytest.mark.falsifier("FALSIFY-PLUGIN-006")

GOOD = "falsification_tests:\n  - {id: F-1, prediction: p}\n"


def errors_of(root: Path) -> list[str]:
    return [str(e) for e in contracts.load_dir(root).errors]


@pytest.mark.parametrize(("value", "message"), [
    ("2026-13-45", "'2026-13-45' is not a valid timestamp (month must be in 1..12)"),
    ("!!int abc", "'abc' is not a valid int"),
    ("!!bool maybe", "'maybe' is not a valid bool"),
    ("9" * 5000, "is not a valid int (Exceeds the limit (4300 digits)"),
    ("!!timestamp x", "'x' is not a valid timestamp"),
], ids=["bad-date", "int-tag", "bool-tag", "5000-digit-int", "timestamp-tag"])
def test_a_value_that_does_not_construct_is_an_error_on_its_line(tmp_path, value, message):
    (tmp_path / "c.yaml").write_text(f"metadata:\n  version: 1.0.0\n  date: {value}\n" + GOOD)
    [err] = errors_of(tmp_path)
    assert err.startswith(f"{tmp_path / 'c.yaml'}:3: YAML value error: ") and message in err


def test_a_value_that_does_not_construct_is_an_error_of_the_run_and_the_file_is_kept(project):
    path = project.contract(DEMO.replace("date: 2026-01-01", "date: 2026-13-45"))
    project.tests(PASSING)
    result = project.run("--falsify")
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the tests ran; the file was skipped
    result.stdout.fnmatch_lines(["*demo.yaml:6: YAML value error: '2026-13-45'*", "*fix: *"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert path.read_text() == DEMO.replace("date: 2026-01-01", "date: 2026-13-45")


def test_a_recursive_alias_is_refused(tmp_path):
    (tmp_path / "c.yaml").write_text("metadata: &m\n  self: *m\n" + GOOD)
    [err] = errors_of(tmp_path)
    assert "c.yaml:1: a recursive alias" in err


def _peak_mib_of_loading(directory: Path) -> tuple[float, str]:
    code = ("import resource, sys; from pathlib import Path; from pytest_falsify import contracts; "
            "errs = contracts.load_dir(Path(sys.argv[1])).errors; "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024); "
            "print(errs[0] if errs else 'no error')")
    out = subprocess.run([sys.executable, "-c", code, str(directory)], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    return float(out[0]), "\n".join(out[1:])


def test_a_huge_flow_list_is_refused_before_its_nodes_are_built(tmp_path):
    n = (yamlsafe.MAX_FILE_BYTES - 100) // 2  # just under the file limit: ~2M one-char items
    (tmp_path / "c.yaml").write_text("metadata: {big: [" + ",".join(["1"] * n) + "]}\n" + GOOD)
    peak, err = _peak_mib_of_loading(tmp_path)
    assert "more than 200000 YAML nodes (limit MAX_EXPANDED_NODES)" in err
    (tmp_path / "empty").mkdir()
    baseline, _ = _peak_mib_of_loading(tmp_path / "empty")  # the same interpreter, no file
    assert peak - baseline < 100  # building the 2M nodes took ~600 MiB


def test_a_file_over_the_size_limit_is_refused_without_reading_it(tmp_path):
    big = tmp_path / "c.yaml"
    with big.open("wb") as f:  # sparse: 8 GB on paper, nothing on disk
        f.truncate(8 * 1024**3)
    (tmp_path / "ok.yaml").write_text(GOOD)
    [err] = errors_of(tmp_path)
    assert f"{big}:0: file larger than {yamlsafe.MAX_FILE_BYTES:,} bytes (limit MAX_FILE_BYTES)" in err


@pytest.mark.parametrize(("make", "expected"), [
    (lambda d: (d / "gone.yaml").symlink_to(d / "missing.yaml"),
     ["gone.yaml:0: dangling symlink (to '{d}/missing.yaml')"]),
    (lambda d: os.mkfifo(d / "fifo.yaml"), ["fifo.yaml:0: a FIFO, not a contract file"]),
    (lambda d: ((d / "sub").mkdir(), (d / "sub" / "up").symlink_to(d)),
     ["sub/up:0: symlink loop (links back to a parent directory)"]),
    (lambda d: ((d / "a.yaml").symlink_to(d / "b.yaml"), (d / "b.yaml").symlink_to(d / "a.yaml")),
     ["a.yaml:0: symlink loop", "b.yaml:0: symlink loop"]),
], ids=["dangling-symlink", "fifo", "directory-loop", "symlink-loop"])
def test_an_entry_the_walk_cannot_use_is_reported(tmp_path, make, expected):
    (tmp_path / "ok.yaml").write_text(GOOD)
    make(tmp_path)
    cset = contracts.load_dir(tmp_path)
    assert [str(e).split("\n")[0] for e in cset.errors] == [
        f"{tmp_path}/{e.format(d=tmp_path)}" for e in expected]
    assert list(cset.by_id) == ["F-1"]  # the rest of the directory still loads


def test_an_unreadable_subdirectory_is_reported(tmp_path, monkeypatch):
    (tmp_path / "ok.yaml").write_text(GOOD)
    (tmp_path / "locked").mkdir()
    if os.geteuid() != 0:
        (tmp_path / "locked").chmod(0)
    else:  # root reads any directory: make the listing fail the way chmod 000 would
        real = os.scandir

        def scandir(path):
            if Path(path).name == "locked":
                raise PermissionError(13, "Permission denied", str(path))
            return real(path)

        monkeypatch.setattr(walk.os, "scandir", scandir)
    try:
        errs = errors_of(tmp_path)
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert errs == [f"{tmp_path / 'locked'}:0: cannot list directory: Permission denied\n"
                    "    fix: fix its permissions, or move it out of the contracts directory"]


def test_a_symlinked_directory_of_contracts_is_read(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "c.yaml").write_text(GOOD)
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "linked").symlink_to(tmp_path / "elsewhere")
    cset = contracts.load_dir(tmp_path / "contracts")
    assert not cset.errors and list(cset.by_id) == ["F-1"]


def test_a_fifo_as_the_contracts_directory_is_an_error(tmp_path, capsys):
    os.mkfifo(tmp_path / "contracts")
    assert main(["--contracts", str(tmp_path / "contracts"), "validate"]) == 2  # bad input
    assert "a FIFO, not a contracts directory" in capsys.readouterr().err


@pytest.mark.parametrize(("toml", "message"), [
    ("x = [\n", "not valid TOML"),
    ('[tool.pytest]\nini_options = "x"\n', "[tool.pytest.ini_options] must be a table"),
    ("[tool.pytest.ini_options]\nfalsify_contracts = 3\n", "falsify_contracts must be a directory"),
], ids=["not-toml", "not-a-table", "not-a-string"])
def test_a_malformed_pyproject_is_a_one_line_usage_error(tmp_path, monkeypatch, capsys, toml, message):
    (tmp_path / "pyproject.toml").write_text(toml)
    (tmp_path / "contracts").mkdir()
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"falsify: error: {tmp_path / 'pyproject.toml'}: ")
    assert message in err

