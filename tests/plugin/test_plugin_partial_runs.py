"""Partial runs never lose evidence: stored evidence is pruned only for tests that provably
no longer exist (their file is gone, or the collector that held them was collected and no
longer yields them). Each way of running part of a suite leaves the contract untouched.
"""

from __future__ import annotations

import pytest
import yaml

pytestmark = pytest.mark.falsifier("FALSIFY-PLUGIN-012")

# The baseline suite: three bound tests (one in a class) and an unbound test that fails
# until FALSIFY_TEST_FIXED is set, plus a bound test in a second file.
SUITE = """\
import os
import pytest

@pytest.mark.falsifier("FALSIFY-DEMO-001")
def test_algorithm(record_property):
    if os.environ.get("FALSIFY_TEST_CRASH"):
        os._exit(1)  # the xdist worker running this test dies
    record_property("cosine", 0.999)

@pytest.mark.falsifier("FALSIFY-DEMO-002", level="live")
def test_live():
    pass

class TestGuard:
    @pytest.mark.falsifier("FALSIFY-DEMO-003")
    def test_guard(self):
        pass

def test_unbound_fails():
    assert os.environ.get("FALSIFY_TEST_FIXED")
"""
OTHER = """\
import pytest

@pytest.mark.falsifier("FALSIFY-DEMO-001")
def test_elsewhere():
    pass
"""
ALL_BOUND = ["test_demo.py::test_algorithm", "test_other.py::test_elsewhere",
             "test_demo.py::test_live", "test_demo.py::TestGuard::test_guard"]


def stored_tests(project) -> list[str]:
    data = yaml.safe_load(project.read())
    return [t["test"] for e in data["falsification_tests"] for t in e["evidence"]["tests"]]


@pytest.fixture
def baseline(project) -> bytes:
    """A full run has stored evidence of every bound test; returns the contract's bytes."""
    project.contract()
    project.tests(SUITE)
    project.tests(OTHER, name="test_other")
    project.run("--falsify", cache=True).assert_outcomes(passed=4, failed=1)
    assert sorted(stored_tests(project)) == sorted(ALL_BOUND)
    return project.read()


@pytest.mark.parametrize("args", [
    pytest.param(("--lf",), id="last-failed"),
    pytest.param(("--ff",), id="failed-first"),
    pytest.param(("-k", "live"), id="keyword"),
    pytest.param(("-m", "not falsifier"), id="marker"),
    pytest.param(("--deselect", "test_demo.py::test_algorithm"), id="deselect"),
    pytest.param(("--ignore", "test_other.py"), id="ignore"),
    pytest.param(("test_demo.py::test_live",), id="node-id"),
    pytest.param(("test_demo.py::TestGuard",), id="class-node-id"),
    pytest.param(("-x",), id="exitfirst"),
    pytest.param(("--maxfail", "1"), id="maxfail"),
])
def test_a_partial_run_keeps_the_evidence_of_every_test_it_did_not_run(project, baseline, args):
    project.run("--falsify", *args, cache=True)
    assert project.read() == baseline


def test_stepwise_runs_keep_the_evidence_of_the_tests_they_skip(project, baseline):
    project.run("--falsify", "--sw", cache=True)  # stops at the failure
    project.run("--falsify", "--sw", cache=True)  # deselects every test before it
    assert project.read() == baseline


def test_a_plugin_that_drops_items_silently_loses_no_evidence(project, baseline):
    project.pytester.makeconftest("""
        def pytest_collection_modifyitems(config, items):
            items[:] = [it for it in items if it.name == "test_unbound_fails"]
    """)
    project.run("--falsify").assert_outcomes(failed=1)
    assert project.read() == baseline


def test_a_crashed_xdist_worker_loses_no_evidence(project, baseline, monkeypatch):
    pytest.importorskip("xdist")
    monkeypatch.setenv("FALSIFY_TEST_CRASH", "1")
    result = project.subprocess("-n", "2", "--falsify")
    result.stdout.fnmatch_lines(["*crashed (not evidence): test_demo.py::test_algorithm*"])
    assert project.read() == baseline


def test_a_test_removed_from_a_fully_collected_file_is_pruned(project, baseline):
    project.tests(SUITE.replace("def test_live", "def test_live_renamed"))
    result = project.run("--falsify")
    assert "test_demo.py::test_live" not in stored_tests(project)
    assert "test_demo.py::test_live_renamed" in stored_tests(project)
    result.stdout.fnmatch_lines(["pruned evidence of 1 test(s) that no longer exist"])


def test_a_test_removed_from_a_collected_file_is_pruned_even_on_a_node_id_run(project, baseline):
    project.tests(SUITE.replace("class TestGuard", "class TestRenamed"))
    result = project.run("--falsify", "test_demo.py::test_live")
    assert sorted(stored_tests(project)) == sorted(set(ALL_BOUND) - {
        "test_demo.py::TestGuard::test_guard"})
    result.stdout.fnmatch_lines(["pruned evidence of 1 test(s) that no longer exist"])


def test_a_test_removed_from_a_class_is_pruned_when_the_class_was_collected(project, baseline):
    project.tests(SUITE.replace("def test_guard(self)", "def test_other_guard(self)"))
    project.run("--falsify", "test_demo.py::TestGuard")
    assert "test_demo.py::TestGuard::test_guard" not in stored_tests(project)


def test_the_evidence_of_a_deleted_test_file_is_pruned(project, baseline):
    (project.path / "test_other.py").unlink()
    project.run("--falsify", "test_demo.py")
    assert "test_other.py::test_elsewhere" not in stored_tests(project)
