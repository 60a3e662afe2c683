"""End to end: `pytest --falsify` derives statuses and rewrites contracts, minimally."""

from __future__ import annotations

import json

import pytest
import yaml
from falsify_project import DEMO, PASSING

from pytest_falsify import gate


def entries(project, name="demo"):
    return {e["id"]: e for e in yaml.safe_load(project.read(name))["falsification_tests"]}


def test_write_mode_derives_statuses_and_records_evidence(project):
    project.contract()
    project.tests(PASSING)
    result = project.run("--falsify")
    result.assert_outcomes(passed=3)
    got = entries(project)
    assert got["FALSIFY-DEMO-001"]["discharge_status"] == "DISCHARGED"
    assert got["FALSIFY-DEMO-002"]["discharge_status"] == "DISCHARGED"
    assert got["FALSIFY-DEMO-001"]["evidence"]["tests"][0]["metrics"] == {"cosine": 0.999}
    result.stdout.fnmatch_lines([
        "*falsify (write)*",
        "transitions:",
        "  demo::FALSIFY-DEMO-001: UNBOUND -> DISCHARGED",
        "  demo::FALSIFY-DEMO-002: UNBOUND -> DISCHARGED",
        "demo*3 DISCHARGED*0 PARTIAL*0 BLOCKER*0 UNBOUND*0 FALSIFIED",
        "wrote 1 contract file(s):",
    ])


def test_algorithm_pass_on_a_live_falsifier_is_partial(project):
    project.contract()
    project.tests(PASSING.replace(', level="live"', ""))
    project.run("--falsify")
    assert entries(project)["FALSIFY-DEMO-002"]["discharge_status"] == "PARTIAL_ALGORITHM_LEVEL"


@pytest.mark.falsifier("FALSIFY-PLUGIN-005")
def test_rewrite_keeps_comments_quotes_and_blank_lines(project):
    project.contract()
    project.tests(PASSING)
    project.run("--falsify")
    text = project.read().decode()
    for line in DEMO.splitlines():
        if "version: 1.0.0" not in line:
            assert line in text.splitlines(), line
    assert "  version: 1.1.0   # bumped by the plugin" in text


@pytest.mark.falsifier("FALSIFY-PLUGIN-002")
def test_a_second_run_with_the_same_outcomes_changes_zero_bytes(project):
    project.contract()
    # a metric that varies run to run (the source stays the same: editing the test would
    # change its fingerprint, which is a real change)
    project.tests("import random\n" + PASSING.replace('"cosine", 0.999', '"cosine", random.random()'))
    project.run("--falsify")
    first = project.read()
    result = project.run("--falsify")
    assert project.read() == first
    result.stdout.fnmatch_lines(["transitions: none", "wrote 0 contract file(s)"])


@pytest.mark.falsifier("FALSIFY-PLUGIN-001")
def test_a_failing_test_falsifies_despite_a_passing_sibling(project):
    project.contract()
    project.tests(PASSING + """
@pytest.mark.falsifier("FALSIFY-DEMO-001")
def test_regression():
    assert 0.5 >= 0.99, "cosine too low"
""")
    result = project.run("--falsify")
    result.assert_outcomes(passed=3, failed=1)
    ev = entries(project)["FALSIFY-DEMO-001"]
    assert ev["discharge_status"] == "FALSIFIED"
    failed = [t for t in ev["evidence"]["tests"] if t["outcome"] == "failed"]
    assert failed[0]["test"] == "test_demo.py::test_regression" and "cosine too low" in failed[0]["message"]
    result.stdout.fnmatch_lines(["  demo::FALSIFY-DEMO-001: UNBOUND -> FALSIFIED"])


@pytest.mark.falsifier("FALSIFY-PLUGIN-010")
def test_check_fails_on_a_hand_edited_status_and_passes_after_write(project):
    path = project.contract()
    project.tests(PASSING)
    project.run("--falsify")
    assert project.run("--falsify=check").ret == 0
    path.write_bytes(project.read().replace(b"discharge_status: DISCHARGED", b"discharge_status: FALSIFIED", 1))
    result = project.run("--falsify=check")
    assert result.ret == gate.DRIFT
    result.stdout.fnmatch_lines(["*(on disk)", "*(derived)", "-*discharge_status: FALSIFIED",
                                 "+*discharge_status: DISCHARGED", "falsify check FAILED*"])
    project.run("--falsify")
    assert project.run("--falsify=check").ret == 0


@pytest.mark.falsifier("FALSIFY-PLUGIN-010")
def test_check_warns_about_a_claimed_status_no_test_binds_and_strict_fails(project):
    project.contract()
    project.tests(PASSING.replace('"FALSIFY-DEMO-003"', '"FALSIFY-DEMO-001"'))
    project.run("--falsify")
    result = project.run("--falsify=check")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["warning: demo::FALSIFY-DEMO-003: claims evidence, no test binds it"])
    strict = project.run("--falsify=check", "--falsify-strict")
    assert strict.ret == gate.UNPROVEN
    strict.stdout.fnmatch_lines(["error: demo::FALSIFY-DEMO-003: claims evidence, no test binds it"])


def test_report_mode_writes_no_contract_but_a_json_report(project):
    project.contract()
    project.tests(PASSING)
    result = project.run("--falsify=report", "--falsify-report", "out/r.json")
    assert project.read() == DEMO.encode()
    rep = json.loads((project.path / "out" / "r.json").read_text())
    prov = rep["provenance"]
    assert {"host", "platform", "python", "packages", "git_commit", "command_line", "time"} <= set(prov)
    assert "--falsify=report" in prov["command_line"]
    f = {x["id"]: x for x in rep["falsifiers"]}
    assert f["demo::FALSIFY-DEMO-001"]["old_status"] == "UNBOUND"
    assert f["demo::FALSIFY-DEMO-001"]["new_status"] == "DISCHARGED"
    assert f["demo::FALSIFY-DEMO-001"]["contract"] == "demo"
    t = {x["test"]: x for x in rep["tests"]}
    assert t["test_demo.py::test_algorithm"]["metrics"] == {"cosine": 0.999}
    assert t["test_demo.py::test_live"]["level"] == "live"
    result.stdout.fnmatch_lines(["report mode: no contract file written"])


def test_report_keeps_the_hypothesis_minimal_example_and_blob(project):
    project.contract()
    project.tests("""
import pytest
from hypothesis import given, settings, strategies as st

@pytest.mark.falsifier("FALSIFY-DEMO-001")
@settings(print_blob=True, database=None, derandomize=True)
@given(st.integers())
def test_property(x):
    assert x < 10
""")
    project.run("-p", "_hypothesis_pytestplugin", "--falsify", "--falsify-report", "r.json")
    rep = json.loads((project.path / "r.json").read_text())
    (t,) = rep["tests"]
    assert t["outcome"] == "failed" and t["example"] == "test_property( x=10, )"
    assert t["blob"].startswith("@reproduce_failure(")
    stored = entries(project)["FALSIFY-DEMO-001"]["evidence"]["tests"][0]
    assert stored["example"] == t["example"]


def test_without_falsify_no_file_changes(project):
    project.contract()
    project.tests(PASSING)
    project.run().assert_outcomes(passed=3)
    assert project.read() == DEMO.encode()


def test_bare_falsify_before_a_path_is_write_mode(project):
    project.contract()
    project.tests(PASSING)
    project.run("--falsify", "test_demo.py").assert_outcomes(passed=3)
    assert entries(project)["FALSIFY-DEMO-001"]["discharge_status"] == "DISCHARGED"


def test_status_is_written_to_the_key_the_entry_uses(project):
    project.contract(DEMO.replace("discharge_status: DISCHARGED", "status: PROPOSED"))
    project.tests(PASSING)
    project.run("--falsify")
    e = entries(project)["FALSIFY-DEMO-003"]
    assert e["status"] == "DISCHARGED" and "discharge_status" not in e


@pytest.mark.falsifier("FALSIFY-PLUGIN-011")
def test_a_test_blocked_on_a_missing_fixture_gives_blocker(project):
    project.contract()
    project.tests("""
import pytest, pytest_falsify

@pytest.fixture
def model_file():
    pytest_falsify.blocked("qwen2-0.5b.gguf not downloaded")

@pytest.mark.falsifier("FALSIFY-DEMO-002")
def test_needs_model(model_file):
    pass
""")
    result = project.run("--falsify")
    result.assert_outcomes(skipped=1)
    e = entries(project)["FALSIFY-DEMO-002"]
    assert e["discharge_status"] == "BLOCKER_FIXTURE_ABSENT"
    assert e["evidence"]["tests"][0]["reason"] == "qwen2-0.5b.gguf not downloaded"


def test_numpy_scalars_recorded_through_the_fixture_become_plain_numbers(project):
    pytest.importorskip("numpy")
    project.contract()
    project.tests("""
import numpy as np, pytest

@pytest.mark.falsifier("FALSIFY-DEMO-001")
def test_metrics(falsify_evidence):
    falsify_evidence(cosine=np.float32(0.5), argmax_match=np.bool_(True), n=np.int64(3))
""")
    project.run("--falsify")
    metrics = entries(project)["FALSIFY-DEMO-001"]["evidence"]["tests"][0]["metrics"]
    assert metrics == {"cosine": 0.5, "argmax_match": True, "n": 3}


def test_a_metric_recorded_by_a_fixture_after_the_test_reaches_the_evidence(project):
    project.contract()
    project.tests("""
import pytest

@pytest.fixture
def timed(record_property):
    yield
    record_property("teardown_s", 0.25)

@pytest.mark.falsifier("FALSIFY-DEMO-001")
def test_metrics(timed, record_property):
    record_property("cosine", 0.5)
""")
    project.run("--falsify")
    metrics = entries(project)["FALSIFY-DEMO-001"]["evidence"]["tests"][0]["metrics"]
    assert metrics == {"cosine": 0.5, "teardown_s": 0.25}


@pytest.mark.falsifier("FALSIFY-PLUGIN-005")
def test_crlf_and_bom_survive_a_rewrite(project):
    path = project.contract()
    path.write_bytes(b"\xef\xbb\xbf" + DEMO.replace("\n", "\r\n").encode())
    project.tests(PASSING)
    project.run("--falsify")
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf# demo contract") and b"\n" not in data.replace(b"\r\n", b"")
    assert b"  version: 1.1.0   # bumped by the plugin\r\n" in data
