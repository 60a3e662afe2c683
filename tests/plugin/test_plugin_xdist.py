"""pytest-xdist: results travel on the reports, only the controller writes."""

from __future__ import annotations

import shutil

import pytest
import yaml
from falsify_project import DEMO, PASSING

pytest.importorskip("xdist")

MIXED = PASSING + """
@pytest.mark.falsifier("FALSIFY-DEMO-003")
@pytest.mark.parametrize("x", range(6))
def test_many(x, falsify_evidence):
    falsify_evidence(x=x)
    assert x != 4, "falsified at x=4"

@pytest.mark.gpu
@pytest.mark.falsifier("FALSIFY-DEMO-002")
def test_gpu():
    pass
"""


@pytest.mark.falsifier("FALSIFY-PLUGIN-003")
def test_n2_and_n0_write_identical_contract_files(project):
    project.contract()
    project.tests(MIXED)
    serial = project.path / "serial"
    shutil.copytree(project.path / "contracts", serial)
    project.subprocess("-n", "2", "--falsify").assert_outcomes(passed=8, failed=1, skipped=1)
    parallel = project.read()
    shutil.rmtree(project.path / "contracts")
    shutil.copytree(serial, project.path / "contracts")
    project.run("--falsify").assert_outcomes(passed=8, failed=1, skipped=1)
    assert project.read() == parallel
    assert parallel != DEMO.encode() and b"falsified at x=4" in parallel


CHANGES_DEMO_001 = """
import pytest

@pytest.mark.falsifier("FALSIFY-DEMO-001")
def test_discharges():
    pass
"""

CHANGES_DEMO_003 = """
import pytest

@pytest.mark.falsifier("FALSIFY-DEMO-003")
def test_falsifies():
    assert False, "broken"
"""


@pytest.mark.falsifier("FALSIFY-PLUGIN-003")
def test_one_version_bump_when_each_worker_changes_a_status(project):
    # Two files, each changing one claim's status; --dist loadfile gives each worker one
    # file, so each worker's own results change a status. Were a worker to write as well
    # as the controller, each writer would bump the version: the changelog would grow by
    # one entry per writer, not by one.
    project.contract()
    project.tests(CHANGES_DEMO_001, name="test_a")
    project.tests(CHANGES_DEMO_003, name="test_b")
    project.subprocess("-n", "2", "--dist", "loadfile", "--falsify").assert_outcomes(
        passed=1, failed=1)
    meta = yaml.safe_load(project.read())["metadata"]
    assert meta["version"] == "1.1.0"
    assert [c["version"] for c in meta["changelog"]] == ["1.0.0", "1.1.0"]


def test_workers_write_nothing_and_the_controller_writes_once(project):
    project.contract()
    project.tests(MIXED)
    result = project.subprocess("-n", "2", "--falsify")
    assert result.stdout.str().count("falsify (write)") == 1
    result.stdout.fnmatch_lines(["wrote 1 contract file(s):"])


UNKNOWN_ID = """
import pathlib
import pytest

@pytest.mark.falsifier("FALSIFY-DEMO-001")
@pytest.mark.parametrize("x", range(4))
def test_good(x):
    pathlib.Path(f"ran-{x}").touch()

@pytest.mark.falsifier("FALSIFY-DEMO-01")
def test_typo():
    pass
"""


@pytest.mark.falsifier("FALSIFY-PLUGIN-007", "FALSIFY-PLUGIN-008")
def test_unknown_id_under_n2_stops_at_collection_like_n0(project):
    project.contract()
    project.tests(UNKNOWN_ID)
    result = project.subprocess("-n", "2", "--falsify")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([
        "*test_demo.py::test_typo: unknown falsifier id 'FALSIFY-DEMO-01'*closest known: FALSIFY-DEMO-00*",
        "*Interrupted: 1 error during collection*",
    ])
    assert not list(project.path.glob("ran-*")), "a test ran after the collection error"
    assert project.read() == DEMO.encode()
    result.stdout.fnmatch_lines(["*nothing written*"])
