"""Adopting a real contracts repository: the aprender-shaped corpus never breaks pytest,
its vocabulary and layout load, and ids are qualified by contract path."""

from __future__ import annotations

import json

import pytest
import yaml
from falsify_project import DEMO

from pytest_falsify import gate
from pytest_falsify.cli import main

ONE_TEST = "def test_plain():\n    pass\n"

BOUND = """
import pytest

@pytest.mark.falsifier("kernels/softmax-v1::FALSIFY-SM-001")
def test_fused_softmax():
    assert {fused_ok}

@pytest.mark.falsifier("unknown-status-v1::FALSIFY-UNK-002")
def test_in_a_broken_file():
    pass
"""


def entries(path) -> dict:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {e["id"]: e for e in data["falsification_tests"]}


# --- never break pytest ------------------------------------------------------------------

@pytest.mark.falsifier("FALSIFY-LOAD-001")
def test_plain_pytest_runs_its_tests_beside_the_corpus_and_its_errors(project):
    project.corpus(errors=True)
    project.tests(ONE_TEST)
    result = project.run()
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "*pytest-falsify: 3 contract error(s) in contracts (tests ran*",
        "contracts/bad-yaml-v1.yaml:5: YAML syntax error*",
        "    fix: *",
        "contracts/duplicate-id-v1.yaml:7: duplicate falsifier id 'FALSIFY-DUP-001'*",
        "    fix: *",
        "contracts/unknown-status-v1.yaml:8: FALSIFY-UNK-001: unknown status 'MERGD'",
        "    fix: did you mean MERGED? (your ini maps it: "
        "'falsify_status_map = MERGED = PARTIAL_ALGORITHM_LEVEL')*",
    ])


@pytest.mark.falsifier("FALSIFY-LOAD-001")
def test_the_warning_block_is_shown_once_under_xdist(project):
    project.corpus(errors=True)
    project.tests(ONE_TEST)
    result = project.subprocess("-n", "2")
    assert result.ret == pytest.ExitCode.OK
    assert result.stdout.str().count("contract error(s) in contracts") == 1


@pytest.mark.falsifier("FALSIFY-LOAD-001")
def test_the_valid_corpus_gives_no_warning_at_all(project):
    project.corpus()
    project.tests(ONE_TEST)
    result = project.run("-W", "error")
    assert result.ret == pytest.ExitCode.OK
    assert "pytest-falsify" not in result.stdout.str()


@pytest.mark.falsifier("FALSIFY-LOAD-001")
def test_write_mode_skips_files_with_errors_names_them_and_exits_1(project):
    contracts = project.corpus(errors=True)
    broken = (contracts / "unknown-status-v1.yaml").read_bytes()
    project.tests(BOUND.format(fused_ok=True))
    result = project.run("--falsify")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([
        "3 contract error(s) (files with errors are not rewritten; exit status 1):",
        "*problem: *unknown-status-v1.yaml: not rewritten: 1 contract error(s), first at line 8: "
        "FALSIFY-UNK-001: unknown status 'MERGD'",
    ])
    assert (contracts / "unknown-status-v1.yaml").read_bytes() == broken
    fused = entries(contracts / "kernels" / "softmax-v1.yaml")["FALSIFY-SM-001"]
    assert fused["evidence"]["tests"][0]["test"] == "test_demo.py::test_fused_softmax"


@pytest.mark.falsifier("FALSIFY-LOAD-001")
def test_check_mode_fails_on_contract_errors(project):
    project.corpus(errors=True)
    project.tests(ONE_TEST)
    result = project.run("--falsify=check")
    assert result.ret == gate.DRIFT
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["3 contract error(s) (they fail the check):", "*falsify check FAILED*"])


@pytest.mark.falsifier("FALSIFY-LOAD-001")
def test_an_id_that_contract_errors_may_hide_is_a_warning_in_write_mode(project):
    project.corpus(errors=True)
    project.tests('import pytest\n\n@pytest.mark.falsifier("bad-yaml-v1::FALSIFY-BAD-001")\n'
                  'def test_bound_to_the_unreadable_file():\n    pass\n')
    result = project.run("--falsify")
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the errors, not the marker
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*unknown falsifier id 'bad-yaml-v1::FALSIFY-BAD-001'*"
                                 "3 contract file(s) have errors and may hide it*"])


# --- the project's own status words --------------------------------------------------------

@pytest.mark.falsifier("FALSIFY-LOAD-002")
def test_a_mapped_word_stays_verbatim_while_the_derived_status_agrees(project):
    contracts = project.corpus()
    project.tests(BOUND.format(fused_ok=True).split('@pytest.mark.falsifier("unknown')[0])
    result = project.run("--falsify")
    assert result.ret == pytest.ExitCode.OK
    fused = entries(contracts / "kernels" / "softmax-v1.yaml")["FALSIFY-SM-001"]
    assert fused["status"] == "MERGED" and fused["evidence"]["tests"][0]["outcome"] == "passed"


@pytest.mark.falsifier("FALSIFY-LOAD-002")
def test_a_mapped_word_is_replaced_when_the_tool_changes_the_status(project):
    contracts = project.corpus()
    project.tests(BOUND.format(fused_ok=False).split('@pytest.mark.falsifier("unknown')[0])
    project.run("--falsify")
    assert entries(contracts / "kernels" / "softmax-v1.yaml")["FALSIFY-SM-001"]["status"] == "FALSIFIED"


@pytest.mark.falsifier("FALSIFY-LOAD-002")
def test_a_bad_status_map_line_is_a_contract_error_pointing_at_the_ini(project):
    project.contract()
    project.pytester.makeini("[pytest]\nfalsify_status_map =\n    MERGED = PARTIAL\n")
    project.tests(ONE_TEST)
    result = project.run()
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["tox.ini:3: falsify_status_map: MERGED maps to unknown status "
                                 "'PARTIAL'", "    fix: did you mean *"])


# --- qualified ids, contracts keyed by path ----------------------------------------------------

@pytest.mark.falsifier("FALSIFY-LOAD-003")
def test_the_same_id_in_two_contracts_binds_only_the_qualified_one(project):
    contracts = project.corpus()
    project.tests("""
import pytest

@pytest.mark.falsifier("kernels/softmax-v1::FALSIFY-SM-001")
def test_fused():
    assert False

@pytest.mark.falsifier("reference/softmax-v1::FALSIFY-SM-001")
def test_reference():
    pass
""")
    project.run("--falsify")
    kernel = entries(contracts / "kernels" / "softmax-v1.yaml")["FALSIFY-SM-001"]
    ref = entries(contracts / "reference" / "softmax-v1.yaml")["FALSIFY-SM-001"]
    assert kernel["status"] == "FALSIFIED"
    assert [t["test"] for t in kernel["evidence"]["tests"]] == ["test_demo.py::test_fused"]
    assert [t["test"] for t in ref["evidence"]["tests"]] == ["test_demo.py::test_reference"]


@pytest.mark.falsifier("FALSIFY-LOAD-003")
@pytest.mark.parametrize("mode", ["--falsify", "--falsify=check"])
def test_an_ambiguous_bare_id_is_a_collection_error_listing_the_choices(project, mode):
    project.corpus()
    project.tests('import pytest\n\n@pytest.mark.falsifier("FALSIFY-SM-001")\n'
                  'def test_which():\n    pass\n')
    result = project.run(mode)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([
        "*test_which: falsifier id 'FALSIFY-SM-001' is in 2 contracts; qualify it as one of: "
        "kernels/softmax-v1::FALSIFY-SM-001, reference/softmax-v1::FALSIFY-SM-001*"])


@pytest.mark.falsifier("FALSIFY-LOAD-003")
def test_a_unique_bare_id_still_binds(project):
    contracts = project.corpus()
    project.tests('import pytest\n\n@pytest.mark.falsifier("FALSIFY-TV-001")\n'
                  'def test_top_version():\n    pass\n')
    assert project.run("--falsify").ret == pytest.ExitCode.OK
    assert "evidence" in entries(contracts / "top-version-v1.yaml")["FALSIFY-TV-001"]


@pytest.mark.falsifier("FALSIFY-LOAD-005")
def test_the_tally_has_one_row_per_contract_path(project):
    project.corpus()
    project.tests(ONE_TEST)
    result = project.run("--falsify=report")
    result.stdout.fnmatch_lines(["kernels/softmax-v1 *", "reference/softmax-v1 *"],
                                consecutive=False)
    rows = [ln.split()[0] for ln in result.stdout.lines if "softmax-v1 " in ln]
    assert sorted(rows) == ["kernels/softmax-v1", "reference/softmax-v1"]


@pytest.mark.falsifier("FALSIFY-LOAD-003")
def test_the_json_report_carries_qualified_ids_and_contract_paths(project):
    project.corpus()
    project.tests(BOUND.format(fused_ok=True).split('@pytest.mark.falsifier("unknown')[0])
    project.run("--falsify=report", "--falsify-report", "r.json")
    rep = json.loads((project.path / "r.json").read_text())
    row = {f["id"]: f for f in rep["falsifiers"]}["kernels/softmax-v1::FALSIFY-SM-001"]
    assert row["contract"] == "kernels/softmax-v1" and row["tests"] == ["test_demo.py::test_fused_softmax"]
    assert rep["tests"][0]["ids"] == ["kernels/softmax-v1::FALSIFY-SM-001"]


@pytest.mark.falsifier("FALSIFY-LOAD-003")
def test_apply_reads_qualified_ids_and_the_bare_ids_of_older_reports(project, capsys):
    project.contract()
    project.tests("import pytest\n\n@pytest.mark.falsifier('FALSIFY-DEMO-001')\n"
                  "def test_algorithm():\n    pass\n")
    project.run("--falsify=report", "--falsify-report", "r.json")
    rep = json.loads((project.path / "r.json").read_text())
    assert rep["tests"][0]["ids"] == ["demo::FALSIFY-DEMO-001"]
    rep["tests"][0]["ids"] = ["FALSIFY-DEMO-001"]  # as written before ids were qualified
    (project.path / "old.json").write_text(json.dumps(rep))
    assert main(["--contracts", str(project.path / "contracts"), "apply",
                 str(project.path / "old.json")]) == 0
    data = yaml.safe_load(project.read())
    assert data["falsification_tests"][0]["discharge_status"] == "DISCHARGED"
    assert "demo::FALSIFY-DEMO-001: UNBOUND -> DISCHARGED" in capsys.readouterr().out


# --- validate on the corpus -----------------------------------------------------------------

@pytest.mark.falsifier("FALSIFY-LOAD-004")
def test_validate_finds_no_error_in_the_corpus_only_notes(project, capsys):
    project.corpus()
    assert main(["validate"]) == 0
    out = capsys.readouterr().out
    assert "17 contract(s), 49 falsifier(s), 0 errors" in out
    assert "4 note(s) (--notes lists them), 1 file(s) excluded by falsify_exclude" in out


@pytest.mark.falsifier("FALSIFY-LOAD-004")
def test_validate_reports_exactly_the_true_errors_with_file_line_and_fix(project, capsys):
    project.corpus(errors=True)
    assert main(["validate"]) == 2  # bad input, like every malformed contract
    err = capsys.readouterr().err.splitlines()
    problems = [ln for ln in err if ".yaml:" in ln]
    assert [p.split(": ")[0].rsplit("/", 1)[-1] for p in problems] == [
        "bad-yaml-v1.yaml:5", "duplicate-id-v1.yaml:7", "unknown-status-v1.yaml:8"]
    assert sum(1 for ln in err if ln.startswith("    fix: ")) == 3


@pytest.mark.falsifier("FALSIFY-LOAD-004")
def test_validate_notes_name_each_skipped_file_and_ignored_block(project, capsys):
    project.corpus()
    main(["validate", "--notes"])
    notes = [ln for ln in capsys.readouterr().out.splitlines() if ": note: " in ln]
    assert [n.split("contracts/")[1].split(":")[0] for n in notes] == [
        "_schema.yaml", "falsification-stub-v1.yaml", "given-when-then-v1.yaml",
        "schema/contract.schema.yaml"]


def test_the_demo_contract_keeps_loading_unchanged(project, capsys):
    project.contract(DEMO)
    assert main(["validate"]) == 0


@pytest.mark.falsifier("FALSIFY-LOAD-001")
def test_apply_writes_the_files_without_errors_and_exits_2(project, capsys):
    contracts = project.corpus(errors=True)
    project.tests(BOUND.format(fused_ok=True))
    project.run("--falsify=report", "--falsify-report", "r.json")
    broken = (contracts / "unknown-status-v1.yaml").read_bytes()
    assert main(["apply", str(project.path / "r.json")]) == 2
    assert (contracts / "unknown-status-v1.yaml").read_bytes() == broken
    fused = entries(contracts / "kernels" / "softmax-v1.yaml")["FALSIFY-SM-001"]
    assert fused["evidence"]["tests"][0]["test"] == "test_demo.py::test_fused_softmax"
    err = capsys.readouterr().err
    assert "unknown-status-v1.yaml:8: FALSIFY-UNK-001: unknown status 'MERGD'" in err
