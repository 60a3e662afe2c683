"""Claims typed by hand (adoption): a weaker pass never lowers a status the tool did not
derive; a failure still falsifies it; once the tool derived a status, the table applies."""

from __future__ import annotations

import pytest
import yaml
from falsify_project import DEMO

from pytest_falsify import gate

pytestmark = pytest.mark.falsifier("FALSIFY-PLUGIN-013")

# FALSIFY-DEMO-002 needs a live pass; here it was set DISCHARGED by hand, with no evidence.
HAND = DEMO.replace("    prediction: passes on the real backend\n",
                    "    prediction: passes on the real backend\n    discharge_status: DISCHARGED\n")
ALGORITHM_PASS = """\
import pytest

@pytest.mark.falsifier("FALSIFY-DEMO-002")
def test_live():
    pass
"""
CLAIM = "demo::FALSIFY-DEMO-002: claimed DISCHARGED by hand; evidence shows PARTIAL_ALGORITHM_LEVEL"


def status(project, fid="FALSIFY-DEMO-002"):
    entries = yaml.safe_load(project.read())["falsification_tests"]
    return next(e for e in entries if e["id"] == fid).get("discharge_status")


def test_an_algorithm_pass_keeps_a_hand_set_discharged_and_warns(project):
    project.contract(HAND)
    project.tests(ALGORITHM_PASS)
    result = project.run("--falsify")
    assert result.ret == 0
    assert project.read() == HAND.encode()
    result.stdout.fnmatch_lines([f"  warning: *demo.yaml:*: {CLAIM}"])


def test_the_hand_claim_is_an_error_with_falsify_strict(project):
    project.contract(HAND)
    project.tests(ALGORITHM_PASS)
    result = project.run("--falsify", "--falsify-strict")
    assert result.ret == gate.UNPROVEN
    result.stdout.fnmatch_lines([f"  error: *demo.yaml:*: {CLAIM}"])
    assert project.read() == HAND.encode()


def test_check_passes_over_a_hand_claim_and_fails_on_it_with_strict(project):
    project.contract(HAND)
    project.tests(ALGORITHM_PASS)
    assert project.run("--falsify=check").ret == 0
    result = project.run("--falsify=check", "--falsify-strict")
    assert result.ret == gate.UNPROVEN
    result.stdout.fnmatch_lines(["falsify check FAILED*"])


def test_a_failure_still_falsifies_a_hand_set_discharged(project):
    project.contract(HAND)
    project.tests(ALGORITHM_PASS.replace("    pass", "    assert 0"))
    project.run("--falsify")
    assert status(project) == "FALSIFIED"


def test_the_report_lists_the_hand_claim(project):
    import json

    project.contract(HAND)
    project.tests(ALGORITHM_PASS)
    project.run("--falsify=report", "--falsify-report", "r.json")
    rep = json.loads((project.path / "r.json").read_text())
    assert rep["hand_claims"] == [{"id": "demo::FALSIFY-DEMO-002", "claimed": "DISCHARGED",
                                   "evidence_shows": "PARTIAL_ALGORITHM_LEVEL"}]


def test_once_the_tool_derived_the_status_a_weaker_pass_lowers_it(project):
    project.contract()
    project.tests(ALGORITHM_PASS.replace('"FALSIFY-DEMO-002"', '"FALSIFY-DEMO-002", level="live"'))
    project.run("--falsify")
    assert status(project) == "DISCHARGED"  # derived: evidence records now back it
    project.tests(ALGORITHM_PASS)  # the same test, now at algorithm level
    result = project.run("--falsify")
    assert status(project) == "PARTIAL_ALGORITHM_LEVEL"
    assert "claimed DISCHARGED by hand" not in result.stdout.str()


def test_a_hand_claim_becomes_derived_when_the_evidence_meets_it(project):
    project.contract(HAND)
    project.tests(ALGORITHM_PASS.replace('"FALSIFY-DEMO-002"', '"FALSIFY-DEMO-002", level="live"'))
    project.run("--falsify")
    assert status(project) == "DISCHARGED"
    project.tests(ALGORITHM_PASS)
    project.run("--falsify")
    assert status(project) == "PARTIAL_ALGORITHM_LEVEL"


def test_falsify_check_over_a_report_warns_and_strict_fails(project, capsys):
    from pytest_falsify.cli import main

    project.contract(HAND)
    project.tests(ALGORITHM_PASS)
    project.run("--falsify=report", "--falsify-report", "r.json")
    args = ["--contracts", str(project.path / "contracts"), "check", str(project.path / "r.json")]
    assert main(args) == 0
    assert f"warning: {project.path / 'contracts' / 'demo.yaml'}:" in capsys.readouterr().out
    assert main([*args, "--strict"]) == gate.UNPROVEN
    out = capsys.readouterr().out
    assert CLAIM in out
    assert "FALSIFY-DEMO-002: DISCHARGED claims evidence" not in out  # the report binds it


def test_sarif_lists_the_hand_claim_at_its_line_an_error_with_strict(project, capsys):
    import json

    from pytest_falsify.cli import main

    project.contract(HAND)
    project.tests(ALGORITHM_PASS)
    project.run("--falsify=report", "--falsify-report", "r.json")
    args = ["--contracts", str(project.path / "contracts"), "check", str(project.path / "r.json"),
            "--format", "sarif"]
    capsys.readouterr()  # the run's own output
    main(args)
    results = json.loads(capsys.readouterr().out)["runs"][0]["results"]
    hand = [r for r in results if r["ruleId"] == "hand-claim"]
    assert [(r["level"], r["message"]["text"]) for r in hand] == [("warning", CLAIM)]
    assert hand[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 14  # the entry's line
    assert main([*args, "--strict"]) == gate.UNPROVEN
    results = json.loads(capsys.readouterr().out)["runs"][0]["results"]
    assert [r["level"] for r in results if r["ruleId"] == "hand-claim"] == ["error"]


def test_the_corpus_hand_set_claims_survive_algorithm_passes(project):
    """aprender's case: DISCHARGED typed by hand, the live evidence prose; algorithm-level
    passes lowered 16 such claims in one run before this rule."""
    contracts = project.corpus()
    before = {p: p.read_bytes() for p in contracts.rglob("*.yaml")}
    project.tests("""
        import pytest

        @pytest.mark.falsifier("hand-discharged-v1::FALSIFY-HD-001",
                               "hand-discharged-v1::FALSIFY-HD-002")
        def test_reference_kernel():
            pass
    """)
    result = project.run("--falsify")
    assert result.ret == 0
    assert {p: p.read_bytes() for p in contracts.rglob("*.yaml")} == before
    for fid in ("FALSIFY-HD-001", "FALSIFY-HD-002"):
        result.stdout.fnmatch_lines([f"*warning: *hand-discharged-v1::{fid}: claimed DISCHARGED "
                                     "by hand; evidence shows PARTIAL_ALGORITHM_LEVEL"])
