"""A committed FALSIFIED claim whose test still fails is a finding, not a red build."""

from __future__ import annotations

import json

import pytest

from pytest_falsify import gate

FAILING_001 = """\
import pytest

@pytest.mark.falsifier("FALSIFY-DEMO-001")
def test_known(record_property):
    record_property("margin", 0.1)
    assert 1 == 2, "the claim is false"

@pytest.mark.falsifier("FALSIFY-DEMO-002", level="live")
def test_live():
    pass
"""


def _committed_falsified(project):
    project.contract()
    project.tests(FAILING_001)
    project.run("--falsify")
    assert b"discharge_status: FALSIFIED" in project.read()


@pytest.mark.falsifier("FALSIFY-HONEST-001")
def test_a_failure_that_reproduces_a_committed_falsified_verdict_passes_check(project):
    _committed_falsified(project)
    result = project.run("--falsify=check", "--falsify-report", "r.json", "-rx")
    assert result.ret == gate.OK
    result.assert_outcomes(passed=1, xfailed=1)
    result.stdout.fnmatch_lines([  # pytest's -r lines first, then the falsify summary
        "*XFAIL*test_known*still falsified: demo::FALSIFY-DEMO-001*",
        "still falsified (known finding, not a new failure): demo::FALSIFY-DEMO-001: test_demo.py::test_known",
        "falsify check passed*"])
    g = json.loads((project.path / "r.json").read_text())["gate"]
    assert g["exit"] == 0 and g["new_failures"] == [] and g["drift"] == []
    assert g["still_falsified"] == [{"id": "demo::FALSIFY-DEMO-001", "test": "test_demo.py::test_known"}]
    rep = json.loads((project.path / "r.json").read_text())
    known = next(t for t in rep["tests"] if t["test"] == "test_demo.py::test_known")
    assert known["outcome"] == "failed" and "the claim is false" in known["message"]


@pytest.mark.falsifier("FALSIFY-HONEST-001")
def test_a_new_failure_fails_check_with_pytests_own_code(project):
    _committed_falsified(project)
    project.tests(FAILING_001.replace("def test_live():\n    pass", "def test_live():\n    assert 0"))
    result = project.run("--falsify=check", "--falsify-report", "r.json")
    assert result.ret == gate.NEW_FAILURE
    result.stdout.fnmatch_lines(["new failure: test_demo.py::test_live", "falsify check FAILED (exit 1)*"])
    g = json.loads((project.path / "r.json").read_text())["gate"]
    assert g["new_failures"] == ["test_demo.py::test_live"]
    assert [s["test"] for s in g["still_falsified"]] == ["test_demo.py::test_known"]


def test_another_test_failing_on_a_falsified_claim_is_a_new_failure(project):
    _committed_falsified(project)
    project.tests(FAILING_001 + """
@pytest.mark.falsifier("FALSIFY-DEMO-001")
def test_second():
    assert 0
""")
    result = project.run("--falsify=check")
    assert result.ret == gate.NEW_FAILURE
    result.stdout.fnmatch_lines(["new failure: test_demo.py::test_second"])


def test_a_failure_bound_to_a_falsified_and_a_discharged_claim_is_new(project):
    _committed_falsified(project)
    project.tests(FAILING_001.replace('"FALSIFY-DEMO-001")\ndef test_known',
                                      '"FALSIFY-DEMO-001", "FALSIFY-DEMO-003")\ndef test_known'))
    assert project.run("--falsify=check").ret == gate.NEW_FAILURE


@pytest.mark.falsifier("FALSIFY-HONEST-001")
def test_drift_alone_has_its_own_exit_code(project):
    _committed_falsified(project)
    path = project.path / "contracts" / "demo.yaml"
    path.write_bytes(project.read().replace(b"discharge_status: DISCHARGED", b"discharge_status: PARTIAL_ALGORITHM_LEVEL", 1))
    result = project.run("--falsify=check", "--falsify-report", "r.json")
    assert result.ret == gate.DRIFT
    result.stdout.fnmatch_lines(["drift: contracts*demo.yaml", "falsify check FAILED (exit 6): drift*"])
    assert json.loads((project.path / "r.json").read_text())["gate"]["drift"]


def test_a_known_failure_in_write_mode_keeps_the_status_and_exits_zero(project):
    _committed_falsified(project)
    before = project.read()
    assert project.run("--falsify").ret == gate.OK
    assert project.read() == before


def test_without_falsify_a_known_failure_is_still_a_plain_failure(project):
    _committed_falsified(project)
    assert project.run().ret == pytest.ExitCode.TESTS_FAILED


def test_exit_code_precedence():
    assert gate.exit_code(1, new_failure=False, drift=True, stale=True, unproven=True) == 1
    assert gate.exit_code(0, new_failure=False, drift=True, stale=True, unproven=True) == gate.DRIFT
    assert gate.exit_code(0, new_failure=False, drift=False, stale=True, unproven=True) == gate.STALE
    assert gate.exit_code(0, new_failure=False, drift=False, stale=False, unproven=True) == gate.UNPROVEN
    assert gate.exit_code(2, new_failure=True, drift=True, stale=True, unproven=True) == 2




def test_a_known_failure_passes_check_under_xdist(project):
    pytest.importorskip("xdist")
    _committed_falsified(project)
    result = project.subprocess("-n", "2", "--falsify=check")
    assert result.ret == gate.OK, result.stdout.str()
    result.stdout.fnmatch_lines(["still falsified (known finding*test_known"])
