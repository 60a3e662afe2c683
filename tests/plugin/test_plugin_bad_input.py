"""Bad input gets a clear error, the files on disk stay valid, and nothing is lost."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
import yaml
from falsify_project import DEMO, PASSING

BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdefghi", "bcdefghij", strict=True))


@pytest.mark.falsifier("FALSIFY-PLUGIN-006")
@pytest.mark.parametrize(("text", "where", "message"), [
    (DEMO.replace('prediction: "passes"', 'prediction: "passes'), "demo.yaml:11", "YAML syntax error"),
    (DEMO.replace("    discharge_level: algorithm\n\n", "    discharge_level: algorithm\n    rule: again\n\n", 1),
     "demo.yaml:13", "duplicate key 'rule'"),
    (DEMO.replace("FALSIFY-DEMO-002", "FALSIFY-DEMO-001"), "demo.yaml:14", "duplicate falsifier id"),
    (DEMO.replace("discharge_status: DISCHARGED", "discharge_status: DONE"), "demo.yaml:20", "unknown status 'DONE'"),
    (DEMO.replace("status: ACTIVE", "status: !!python/object/apply:os.getcwd []"), "demo.yaml:4", "is not allowed"),
    (BOMB, "demo.yaml:", "aliases expand"),
], ids=["malformed", "duplicate-key", "duplicate-id", "unknown-status", "python-tag", "alias-bomb"])
def test_a_broken_contract_is_named_with_file_line_and_fix_and_never_rewritten(
        project, text, where, message):
    path = project.contract(text)
    project.tests(PASSING)
    result = project.run("--falsify")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=3)  # the tests ran all the same
    result.stdout.fnmatch_lines([f"*{where}*{message}*", "*fix: *"])
    assert path.read_text() == text


def _ctrl_c_mid_run(project, *args: str) -> tuple[int, str]:
    """Run `pytest --falsify ARGS` and press Ctrl-C while its last test runs."""
    project.contract()
    started = project.path / "started"
    project.tests(PASSING + f"""
def test_zz_waits_for_ctrl_c():
    import pathlib, time
    pathlib.Path({str(started)!r}).touch()
    time.sleep(60)
""")
    proc = subprocess.Popen(project.cmd("--falsify", *args),
                            cwd=project.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out = proc.communicate(timeout=60)[0].decode()
    return proc.returncode, out


@pytest.mark.falsifier("FALSIFY-PLUGIN-008")
def test_ctrl_c_mid_run_writes_nothing(project):
    code, out = _ctrl_c_mid_run(project)
    assert code == pytest.ExitCode.INTERRUPTED, out
    assert "KeyboardInterrupt" in out and "nothing written" in out
    assert project.read() == DEMO.encode()


@pytest.mark.falsifier("FALSIFY-PLUGIN-008")
def test_a_collection_error_writes_nothing(project):
    project.contract()
    project.tests(PASSING)
    project.tests("import does_not_exist\n", name="test_broken")
    result = project.run("--falsify", "--continue-on-collection-errors")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert project.read() == DEMO.encode()
    result.stdout.fnmatch_lines(["*nothing written*"])


@pytest.mark.falsifier("FALSIFY-PLUGIN-009")
def test_a_contract_deleted_mid_run_loses_only_its_own_evidence(project):
    project.contract()
    other = project.contract("falsification_tests:\n  - {id: FALSIFY-OTHER-001, prediction: p}\n", "other")
    project.tests(PASSING + f"""
@pytest.mark.falsifier("FALSIFY-OTHER-001")
def test_other_then_delete():
    import os
    os.remove({str(other)!r})
""")
    result = project.run("--falsify")
    result.stdout.fnmatch_lines(["*FALSIFY-OTHER-001: results not written: no contract has this id*"])
    assert not other.exists()
    data = yaml.safe_load(project.read())
    assert {e["id"]: e.get("discharge_status") for e in data["falsification_tests"]} == {
        "FALSIFY-DEMO-001": "DISCHARGED", "FALSIFY-DEMO-002": "DISCHARGED", "FALSIFY-DEMO-003": "DISCHARGED"}


@pytest.mark.falsifier("FALSIFY-PLUGIN-009")
def test_two_runs_writing_the_same_contract_at_once_lose_nothing(project):
    project.contract()
    for name, fid in (("test_a", "FALSIFY-DEMO-001"), ("test_b", "FALSIFY-DEMO-002")):
        project.tests(f"""
import time, pytest

@pytest.mark.falsifier("{fid}", level="live")
def test_it():
    time.sleep(0.3)
""", name=name)
    procs = [subprocess.Popen(project.cmd("-q", "--falsify", f"{n}.py"), cwd=project.path, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT) for n in ("test_a", "test_b")]
    outs = [p.communicate(timeout=60)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    es = {e["id"]: e for e in yaml.safe_load(project.read())["falsification_tests"]}
    assert es["FALSIFY-DEMO-001"]["discharge_status"] == "DISCHARGED"
    assert es["FALSIFY-DEMO-002"]["discharge_status"] == "DISCHARGED"
    assert [t["test"] for t in es["FALSIFY-DEMO-001"]["evidence"]["tests"]] == ["test_a.py::test_it"]
    changelog = yaml.safe_load(project.read())["metadata"]["changelog"]
    assert len(changelog) == 3 and yaml.safe_load(project.read())["metadata"]["version"] == "1.2.0"


@pytest.mark.falsifier("FALSIFY-PLUGIN-009")
def test_a_dying_xdist_worker_loses_no_other_evidence(project):
    pytest.importorskip("xdist")
    project.contract()
    project.tests(PASSING.replace('"FALSIFY-DEMO-003"', '"FALSIFY-DEMO-001"') + """
@pytest.mark.falsifier("FALSIFY-DEMO-003")
def test_crash():
    import os
    os._exit(3)
""")
    result = project.subprocess("-n", "2", "--falsify")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*crashed (not evidence): test_demo.py::test_crash*"])
    es = {e["id"]: e for e in yaml.safe_load(project.read())["falsification_tests"]}
    assert es["FALSIFY-DEMO-001"]["discharge_status"] == "DISCHARGED"
    assert es["FALSIFY-DEMO-002"]["discharge_status"] == "DISCHARGED"
    assert es["FALSIFY-DEMO-003"]["discharge_status"] == "DISCHARGED" and "evidence" not in es["FALSIFY-DEMO-003"]


@pytest.mark.falsifier("FALSIFY-PLUGIN-009")
def test_the_whole_contracts_directory_deleted_mid_run_is_reported(project):
    project.contract()
    project.tests(PASSING + f"""
def test_zz_remove_contracts():
    import shutil
    shutil.rmtree({str(project.path / "contracts")!r})
""")
    result = project.run("--falsify")
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the run's evidence was not written
    result.stdout.fnmatch_lines(["*contracts directory gone during the run; nothing written*"])


@pytest.mark.falsifier("FALSIFY-PLUGIN-008")
def test_a_run_stopped_at_collection_still_writes_the_json_report(project):
    project.contract()
    project.tests(PASSING + """
@pytest.mark.falsifier("FALSIFY-DEMO-01")
def test_typo():
    pass
""")
    result = project.run("--falsify", "--falsify-report", "out/report.json")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert project.read() == DEMO.encode()
    rep = json.loads((project.path / "out" / "report.json").read_text())
    assert rep["interrupted"] is True and rep["exitstatus"] == pytest.ExitCode.INTERRUPTED
    assert rep["written"] == [] and any("nothing written" in p for p in rep["problems"])
    statuses = {f["id"]: (f["old_status"], f["new_status"]) for f in rep["falsifiers"]}
    assert statuses == {"demo::FALSIFY-DEMO-001": ("UNBOUND", "UNBOUND"),
                        "demo::FALSIFY-DEMO-002": ("UNBOUND", "UNBOUND"),
                        "demo::FALSIFY-DEMO-003": ("DISCHARGED", "DISCHARGED")}


@pytest.mark.falsifier("FALSIFY-PLUGIN-008")
def test_ctrl_c_mid_run_still_writes_the_json_report(project):
    code, out = _ctrl_c_mid_run(project, "--falsify-report", "report.json")
    assert code == pytest.ExitCode.INTERRUPTED, out
    assert project.read() == DEMO.encode()
    rep = json.loads((project.path / "report.json").read_text())
    assert rep["interrupted"] is True and rep["written"] == []
    assert all(f["old_status"] == f["new_status"] for f in rep["falsifiers"]) and rep["falsifiers"]
    assert {t["test"].split("::")[1]: t["outcome"] for t in rep["tests"]} == {
        "test_algorithm": "passed", "test_live": "passed", "test_guard": "passed"}
