"""End to end: `pytest --falsify` on an aprender-shaped contract writes in its style."""

from __future__ import annotations

import difflib

import yaml

APRENDER = """\
# aprender-shaped: top-level version, string changelog newest-first, `status` keys
version: 3.1.0
metadata:
  description: CPU vs GPU parity
  changelog:
    - "3.1.0: FALSIFY-AP-002 tightened"
    - "3.0.0: first version"
falsification_tests:
  - id: FALSIFY-AP-001
    rule: r
    prediction: p
    discharge_level: algorithm
    status: PROPOSED
  - id: FALSIFY-AP-002
    rule: r
    prediction: p
    discharge_level: algorithm
  - id: FALSIFY-AP-003
    rule: r
    prediction: p
    discharge_level: algorithm
    algorithm_evidence:
      status: PROPOSED
      notes: benchmarked by hand   # prose, kept
gates:
  - id: GATE-AP-001
    rule: r
    discharge_level: algorithm
    status: PROPOSED
    verdict: pending
"""

TESTS = """\
import pytest

@pytest.mark.falsifier("FALSIFY-AP-001", "FALSIFY-AP-002", "FALSIFY-AP-003", "GATE-AP-001")
def test_all():
    pass
"""


def changed(old: str, new: str) -> list[str]:
    return [ln for ln in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
            if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]


def test_a_round_trip_changes_only_owned_lines_in_the_files_style_then_zero_bytes(project):
    project.contract(APRENDER, name="parity")
    project.tests(TESTS)
    project.run("--falsify").assert_outcomes(passed=1)
    first = project.read("parity").decode()
    removed = [ln for ln in changed(APRENDER, first) if ln.startswith("-")]
    assert removed == ["-version: 3.1.0", "-    status: PROPOSED", "-      status: PROPOSED",
                       "-    status: PROPOSED", "-    verdict: pending"]
    data = yaml.safe_load(first)
    assert data["version"] == "3.2.0" and "version" not in data["metadata"]
    assert data["metadata"]["changelog"][0].startswith("3.2.0: FALSIFY-AP-001: PROPOSED -> DISCHARGED")
    ap1, ap2, ap3 = data["falsification_tests"]
    assert ap2["status"] == "DISCHARGED" and "discharge_status" not in ap2
    assert ap3["algorithm_evidence"]["status"] == "DISCHARGED" and "status" not in ap3
    assert "      notes: benchmarked by hand   # prose, kept\n" in first
    assert data["gates"][0]["verdict"] == "pass"
    project.run("--falsify")
    assert project.read("parity").decode() == first


def test_the_verdict_map_comes_from_the_ini(project):
    project.pytester.makeini("[pytest]\nfalsify_verdict_map = DISCHARGED=green *=amber\n")
    project.contract(APRENDER, name="parity")
    project.tests(TESTS)
    project.run("--falsify")
    assert yaml.safe_load(project.read("parity"))["gates"][0]["verdict"] == "green"


def test_a_bad_verdict_map_is_a_usage_error(project):
    project.pytester.makeini("[pytest]\nfalsify_verdict_map = DISCHARGED\n")
    project.contract(APRENDER, name="parity")
    project.tests(TESTS)
    result = project.run("--falsify")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*falsify_verdict_map: 'DISCHARGED' is not STATUS=word*"])


def test_the_whole_corpus_round_trips_through_pytest_in_each_files_style(project):
    """Every falsifier of the aprender-shaped corpus bound and passing: only owned lines
    change in every file, and a second run changes 0 bytes."""
    from pytest_falsify.contracts import load_dir
    from pytest_falsify.settings import from_values

    contracts = project.corpus()
    ini = {"falsify_exclude": ["drafts/*"], "falsify_status_map": [
        "MERGED = PARTIAL_ALGORITHM_LEVEL", "IMPLEMENTED = PARTIAL_ALGORITHM_LEVEL",
        "VERIFIED* = DISCHARGED"]}
    cset = load_dir(contracts, settings=from_values(ini.get, None))
    assert not cset.errors
    qids = sorted(cset.by_qid)
    project.tests("import pytest\n\n@pytest.mark.falsifier(" + ", ".join(map(repr, qids))
                  + ', level="live")\ndef test_all():\n    pass\n')
    before = {p: p.read_text() for p in contracts.rglob("*.yaml")}
    result = project.run("--falsify")
    assert result.ret == 0, result.stdout.str()
    wrote = [ln for ln in result.stdout.lines if ln.startswith("wrote ")]
    assert wrote and int(wrote[0].split()[1]) >= 15, wrote  # every corpus contract changed
    after = {p: p.read_text() for p in contracts.rglob("*.yaml")}
    owned = ("status:", "discharge_status:", "verdict:", "version:")
    for p, old in before.items():
        removed = [ln for ln in changed(old, after[p]) if ln.startswith("-")]
        assert all(ln[1:].strip().removeprefix("- ").startswith(owned) for ln in removed), (p, removed)
    project.run("--falsify")
    assert {p: p.read_text() for p in contracts.rglob("*.yaml")} == after
