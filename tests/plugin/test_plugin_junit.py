"""Metrics recorded with `falsify_evidence` reach `--junitxml` in the user's JUnit family,
without record_property's "incompatible with junit_family 'xunit2'" warning."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import yaml
from falsify_project import DEMO

TESTS = """\
import pytest

@pytest.mark.falsifier("FALSIFY-DEMO-001")
def test_algorithm(falsify_evidence):
    falsify_evidence(cosine=0.999, steps=3)

def test_unbound(falsify_evidence):
    falsify_evidence(loss=1.5)
"""


def _xml(project) -> ET.Element:
    return ET.parse(project.path / "out.xml").getroot()


def _suite_properties(root: ET.Element) -> dict[str, str]:
    return {p.get("name"): p.get("value") for p in root.iter("testsuite")
            for props in p.findall("properties") for p in props}


def _case_properties(root: ET.Element) -> dict[str, dict[str, str]]:
    return {c.get("name"): {p.get("name"): p.get("value") for p in c.iter("property")}
            for c in root.iter("testcase")}


def _evidence_metrics(project) -> dict:
    es = {e["id"]: e for e in yaml.safe_load(project.read())["falsification_tests"]}
    return es["FALSIFY-DEMO-001"]["evidence"]["tests"][0]["metrics"]


@pytest.mark.parametrize("family", ["xunit1", "legacy"])
def test_xunit1_families_get_testcase_properties(project, family):
    project.contract()
    project.tests(TESTS)
    result = project.run("--falsify", "--junitxml=out.xml", "-o", f"junit_family={family}")
    assert result.ret == 0
    assert "incompatible" not in result.stdout.str()
    assert _case_properties(_xml(project)) == {
        "test_algorithm": {"cosine": "0.999", "steps": "3"}, "test_unbound": {"loss": "1.5"}}
    assert _evidence_metrics(project) == {"cosine": 0.999, "steps": 3}


def test_xunit2_gets_testsuite_properties_and_no_warning(project):
    project.contract()
    project.tests(TESTS)
    result = project.run("--falsify", "--junitxml=out.xml", "-o", "junit_family=xunit2")
    assert result.ret == 0
    assert "incompatible" not in result.stdout.str()
    root = _xml(project)
    assert _case_properties(root) == {"test_algorithm": {}, "test_unbound": {}}  # xunit2 has none
    assert _suite_properties(root) == {"test_demo.py::test_algorithm::cosine": "0.999",
                                       "test_demo.py::test_algorithm::steps": "3",
                                       "test_demo.py::test_unbound::loss": "1.5"}
    assert _evidence_metrics(project) == {"cosine": 0.999, "steps": 3}


def test_xunit2_is_pytests_default_family(project):
    project.contract()
    project.tests(TESTS)
    result = project.run("--junitxml=out.xml")
    assert "incompatible" not in result.stdout.str()
    assert "test_demo.py::test_unbound::loss" in _suite_properties(_xml(project))


def test_xunit2_under_xdist_gets_the_workers_metrics(project):
    project.contract()
    project.tests(TESTS)
    result = project.subprocess("-n", "2", "--falsify", "--junitxml=out.xml")
    assert result.ret == 0, result.stdout.str()
    assert "incompatible" not in result.stdout.str()
    assert _suite_properties(_xml(project)) == {"test_demo.py::test_algorithm::cosine": "0.999",
                                                "test_demo.py::test_algorithm::steps": "3",
                                                "test_demo.py::test_unbound::loss": "1.5"}
    assert _evidence_metrics(project) == {"cosine": 0.999, "steps": 3}


@pytest.mark.parametrize("xdist", [(), ("-n", "2")], ids=["in-process", "xdist"])
def test_a_run_without_a_mode_writes_the_metrics_too(project, xdist):
    """Without --falsify the plugin adds no per-report hook but the metrics' own: they still
    reach the XML, from xdist workers too."""
    project.contract()
    project.tests(TESTS)
    result = project.subprocess(*xdist, "--junitxml=out.xml")
    assert result.ret == 0, result.stdout.str()
    assert _suite_properties(_xml(project)) == {"test_demo.py::test_algorithm::cosine": "0.999",
                                                "test_demo.py::test_algorithm::steps": "3",
                                                "test_demo.py::test_unbound::loss": "1.5"}


def test_without_junitxml_metrics_are_user_properties(project):
    project.contract(DEMO)
    project.tests(TESTS + """
def test_sees_them(request, falsify_evidence):
    falsify_evidence(x=1)
    assert request.node.user_properties == [("x", 1)]
""")
    assert project.run().ret == 0
