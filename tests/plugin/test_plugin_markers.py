"""Markers: validated at collection, ids ride on every report phase, non-evidence is inert."""

from __future__ import annotations

import json

import pytest
from falsify_project import DEMO

TYPO = """
import pytest

@pytest.mark.falsifier("FALSIFY-DEMO-01")
def test_typo():
    pass
"""


@pytest.mark.falsifier("FALSIFY-PLUGIN-007")
@pytest.mark.parametrize("mode", ["--falsify", "--falsify=check", "--falsify=report"])
def test_unknown_id_is_a_collection_error_in_the_falsify_modes(project, mode):
    project.contract()
    project.tests(TYPO)
    result = project.run(mode)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([
        "*test_demo.py::test_typo: unknown falsifier id 'FALSIFY-DEMO-01'*closest known: FALSIFY-DEMO-00*",
        "*Interrupted: 1 error during collection*",
    ])


@pytest.mark.falsifier("FALSIFY-PLUGIN-007")
def test_unknown_id_without_falsify_is_a_warning_and_the_test_runs(project):
    project.contract()
    project.tests(TYPO)
    result = project.run()
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines([
        "*PytestWarning: pytest-falsify: test_demo.py::test_typo: unknown falsifier id "
        "'FALSIFY-DEMO-01'*closest known: FALSIFY-DEMO-00*",
    ])


@pytest.mark.falsifier("FALSIFY-PLUGIN-007")
def test_the_unknown_id_warning_is_given_once_under_xdist(project):
    project.contract()
    project.tests(TYPO)
    result = project.subprocess("-n", "2")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1, warnings=1)


@pytest.mark.falsifier("FALSIFY-PLUGIN-007", "FALSIFY-PLUGIN-008")
def test_unknown_id_under_falsify_writes_nothing(project):
    project.contract()
    project.tests("""
import pytest

@pytest.mark.falsifier("FALSIFY-DEMO-001")
def test_good():
    pass

@pytest.mark.falsifier("NOPE")
def test_bad():
    pass
""")
    result = project.run("--falsify")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert project.read() == DEMO.encode()
    result.stdout.fnmatch_lines(["*nothing written*"])


def test_bad_level_is_a_collection_error(project):
    project.contract()
    project.tests("""
import pytest

@pytest.mark.falsifier("FALSIFY-DEMO-001", level="gpu")
def test_x():
    pass
""")
    result = project.run()
    result.stdout.fnmatch_lines(["*test_demo.py::test_x: level='gpu'; use 'algorithm' or 'live'*"])


def test_markers_are_registered_for_strict_markers(project):
    project.contract()
    project.tests("""
import pytest

@pytest.mark.falsifier("FALSIFY-DEMO-001")
@pytest.mark.slow
@pytest.mark.ignored
@pytest.mark.gpu
def test_x():
    pass
""")
    project.run("--strict-markers").assert_outcomes(skipped=1)


@pytest.mark.falsifier("FALSIFY-PLUGIN-004")
def test_setup_skip_carries_the_ids_and_is_not_evidence(project):
    project.contract()
    project.tests("""
import pytest

@pytest.fixture
def gone():
    pytest.skip("optional dependency missing")

@pytest.mark.falsifier("FALSIFY-DEMO-003")
def test_x(gone):
    pass
""")
    project.run("--falsify", "--falsify-report", "r.json")
    (t,) = json.loads((project.path / "r.json").read_text())["tests"]
    assert t["ids"] == ["demo::FALSIFY-DEMO-003"] and t["outcome"] == "skipped"
    assert "optional dependency missing" in t["reason"]
    assert project.read() == DEMO.encode()


@pytest.mark.falsifier("FALSIFY-PLUGIN-004")
@pytest.mark.parametrize(("body", "outcome"), [
    ("@pytest.fixture\ndef broken():\n    raise RuntimeError('setup')\n\n"
     "@pytest.mark.falsifier('FALSIFY-DEMO-003')\ndef test_x(broken):\n    pass\n", "error"),
    ("@pytest.mark.xfail(reason='known')\n@pytest.mark.falsifier('FALSIFY-DEMO-003')\n"
     "def test_x():\n    assert False\n", "xfail"),
    ("@pytest.mark.xfail(reason='known')\n@pytest.mark.falsifier('FALSIFY-DEMO-003')\n"
     "def test_x():\n    pass\n", "xpass"),
    ("@pytest.mark.xfail(reason='known', strict=True)\n@pytest.mark.falsifier('FALSIFY-DEMO-003')\n"
     "def test_x():\n    pass\n", "xpass"),
], ids=["setup-error", "xfail", "xpass", "strict-xpass"])
def test_setup_errors_xfail_and_xpass_are_reported_but_never_evidence(project, body, outcome):
    project.contract()
    project.tests("import pytest\n\n" + body)
    result = project.run("--falsify", "--falsify-report", "r.json")
    (t,) = json.loads((project.path / "r.json").read_text())["tests"]
    assert t["outcome"] == outcome
    assert project.read() == DEMO.encode()
    result.stdout.fnmatch_lines(["transitions: none", f"  {outcome} (not evidence): test_demo.py::test_x"])


def test_several_ids_and_a_class_marker_bind_one_test_to_each(project):
    project.contract()
    project.tests("""
import pytest

@pytest.mark.falsifier("FALSIFY-DEMO-001")
class TestBoth:
    @pytest.mark.falsifier("FALSIFY-DEMO-002", "FALSIFY-DEMO-003", level="live")
    def test_x(self):
        pass
""")
    project.run("--falsify=report", "--falsify-report", "r.json")
    (t,) = json.loads((project.path / "r.json").read_text())["tests"]
    assert t["ids"] == ["demo::FALSIFY-DEMO-002", "demo::FALSIFY-DEMO-003", "demo::FALSIFY-DEMO-001"]
    assert t["level"] == "live"
