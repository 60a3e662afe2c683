"""`falsify apply`: reports are checked against their schema and bounds, and signed."""

from __future__ import annotations

import json

import pytest
import yaml
from falsify_project import PASSING

from pytest_falsify import reportschema, signing
from pytest_falsify.cli import main

KEY = "s3cret-shared-by-ci-and-the-cuda-host"
TRUSTED = "[pytest]\nfalsify_report_key = env:FALSIFY_REPORT_KEY\n"


def run_cli(project, *args):
    return main(["--contracts", str(project.path / "contracts"), *args])


def statuses(project):
    return {e["id"]: e.get("discharge_status") for e in
            yaml.safe_load(project.read())["falsification_tests"]}


@pytest.fixture
def cpu_report(project):
    """A real report of the demo project (algorithm-level passes), as a dict."""
    project.contract()
    project.tests(PASSING.replace(', level="live"', ""))
    project.run("--falsify=report", "--falsify-report", "cpu.json")
    return json.loads((project.path / "cpu.json").read_text())


def save(project, report, name="r.json"):
    path = project.path / name
    path.write_text(json.dumps(report))
    return str(path)


def forged_gpu(report):
    return {**report, "tests": [{**t, "level": "live"} for t in report["tests"]]}


# --- bounds ---------------------------------------------------------------------------

def test_metrics_nested_250_deep_are_refused_and_nothing_is_written(project, cpu_report, capsys):
    deep: object = 1.0
    for _ in range(250):
        deep = {"x": deep}
    cpu_report["tests"][0]["metrics"] = {"m": deep}
    before = project.read()
    assert run_cli(project, "apply", save(project, cpu_report)) == 2
    assert "nested deeper than 4 levels (limit MAX_METRIC_DEPTH)" in capsys.readouterr().err
    assert project.read() == before


def test_more_tests_than_the_limit_are_refused(project, cpu_report, capsys):
    one = cpu_report["tests"][0]
    cpu_report["tests"] = [{**one, "test": f"t.py::test_{i}"} for i in range(reportschema.MAX_TESTS + 1)]
    assert run_cli(project, "apply", save(project, cpu_report)) == 2
    assert "more than 100,000 (limit MAX_TESTS)" in capsys.readouterr().err


def test_a_test_id_with_a_300_character_file_name_is_refused(project, cpu_report, capsys):
    cpu_report["tests"][0]["test"] = "tests/" + "a" * 300 + ".py::test_x"
    assert run_cli(project, "apply", save(project, cpu_report)) == 2
    assert "a path part of 303 characters, more than 255 (limit MAX_PATH_PART)" in capsys.readouterr().err


@pytest.mark.parametrize(("field", "value", "message"), [
    ("outcome", "passed-ish", "outcome: must be one of"),
    ("level", "gpu", "level: must be one of algorithm, live"),
    ("metrics", {"cos": float("nan")}, "is not a finite number"),
    ("ids", [], "ids: must be a list of 1..100 falsifier ids"),
])
def test_a_malformed_result_is_refused_naming_its_field(project, cpu_report, capsys, field, value, message):
    cpu_report["tests"][0][field] = value
    assert run_cli(project, "apply", save(project, cpu_report)) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(("tests", "metrics"), [
    (12_000, {f"m{i}": i for i in range(10)}),  # evidence over the 200,000-node limit
    (1_200, {"note": "x" * 4000}),  # a file over the 4 MiB limit
])
def test_a_report_within_bounds_that_would_make_an_unloadable_contract_writes_nothing(
        project, cpu_report, capsys, tests, metrics):
    # Within the report's limits, but the evidence would exceed the loader's: every new
    # text is re-validated by the loader before it is written.
    one = cpu_report["tests"][0]
    cpu_report["tests"] = [{**one, "test": f"t.py::test_{i}", "metrics": metrics} for i in range(tests)]
    before = project.read()
    assert run_cli(project, "apply", save(project, cpu_report)) == 1
    out = capsys.readouterr().out
    assert "not rewritten: the new text would not load" in out and "transitions: none" in out
    assert project.read() == before


# --- signatures ---------------------------------------------------------------------------

def test_pytest_signs_its_report_when_the_key_is_in_the_environment(project, monkeypatch):
    monkeypatch.setenv("FALSIFY_REPORT_KEY", KEY)
    project.contract()
    project.tests(PASSING)
    project.run("--falsify=report", "--falsify-report", "gpu.json")
    report = json.loads((project.path / "gpu.json").read_text())
    assert report["signature"]["alg"] == "hmac-sha256"
    assert signing.verify(report, KEY.encode()) is None


def test_a_trusted_project_applies_a_signed_gpu_report(project, cpu_report, monkeypatch):
    project.pytester.makeini(TRUSTED)
    monkeypatch.setenv("FALSIFY_REPORT_KEY", KEY)
    assert run_cli(project, "apply", save(project, signing.sign(forged_gpu(cpu_report), KEY.encode()))) == 0
    assert statuses(project)["FALSIFY-DEMO-002"] == "DISCHARGED"


def test_a_trusted_project_refuses_an_unsigned_report(project, cpu_report, monkeypatch, capsys):
    project.pytester.makeini(TRUSTED)
    monkeypatch.setenv("FALSIFY_REPORT_KEY", KEY)
    before = project.read()
    assert run_cli(project, "apply", save(project, forged_gpu(cpu_report))) == 2
    assert "r.json: refused: unsigned; sign it" in capsys.readouterr().err
    assert project.read() == before


def test_a_changed_signed_report_is_refused(project, cpu_report, monkeypatch, capsys):
    project.pytester.makeini(TRUSTED)
    monkeypatch.setenv("FALSIFY_REPORT_KEY", KEY)
    signed = signing.sign(cpu_report, KEY.encode())
    assert run_cli(project, "apply", save(project, forged_gpu(signed))) == 2  # CPU passes made "live"
    assert "refused: bad signature (the report was changed)" in capsys.readouterr().err


def test_a_report_signed_with_another_key_is_refused(project, cpu_report, monkeypatch, capsys):
    project.pytester.makeini(TRUSTED)
    monkeypatch.setenv("FALSIFY_REPORT_KEY", KEY)
    assert run_cli(project, "apply", save(project, signing.sign(cpu_report, b"other"))) == 2
    assert "refused: signed with another key" in capsys.readouterr().err


def test_allow_unsigned_applies_no_live_level_evidence(project, cpu_report, monkeypatch, capsys):
    project.pytester.makeini(TRUSTED)
    monkeypatch.setenv("FALSIFY_REPORT_KEY", KEY)
    forged = forged_gpu(cpu_report)
    forged["tests"].append({**cpu_report["tests"][0], "test": "test_demo.py::test_extra"})
    assert run_cli(project, "apply", "--allow-unsigned", save(project, forged)) == 0
    assert "its 3 live-level result(s) are not applied" in capsys.readouterr().err
    got = statuses(project)
    assert got["FALSIFY-DEMO-002"] is None and got["FALSIFY-DEMO-001"] == "DISCHARGED"


def test_a_trusted_project_without_the_key_here_is_a_clear_error(project, cpu_report, monkeypatch, capsys):
    project.pytester.makeini(TRUSTED)
    monkeypatch.delenv("FALSIFY_REPORT_KEY", raising=False)
    assert run_cli(project, "apply", save(project, cpu_report)) == 2
    assert "falsify_report_key names $FALSIFY_REPORT_KEY, which is not set" in capsys.readouterr().err


def test_without_trust_configured_unsigned_reports_apply_as_before(project, cpu_report, monkeypatch):
    monkeypatch.delenv("FALSIFY_REPORT_KEY", raising=False)
    assert run_cli(project, "apply", save(project, cpu_report)) == 0
    assert statuses(project)["FALSIFY-DEMO-001"] == "DISCHARGED"


def test_an_ed25519_project_applies_only_reports_signed_by_the_cuda_hosts_private_key(
        project, monkeypatch, capsys):
    pytest.importorskip("cryptography")
    private, public = signing.ed25519_keypair()
    monkeypatch.setenv("FALSIFY_REPORT_KEY", KEY)  # an HMAC key around must not win
    project.contract()
    project.pytester.makeini(f"[pytest]\nfalsify_report_key = ed25519:{public}\n")
    project.tests(PASSING)
    monkeypatch.setenv(signing.SIGNING_ENV, private)  # only the CUDA host holds it
    project.run("--falsify=report", "--falsify-report", "gpu.json")
    monkeypatch.delenv(signing.SIGNING_ENV)
    report = json.loads((project.path / "gpu.json").read_text())
    assert report["signature"]["alg"] == "ed25519"
    tampered = {**report, "tests": [{**t, "outcome": "passed"} for t in report["tests"]]}
    tampered["tests"][0]["level"] = "live" if tampered["tests"][0]["level"] != "live" else "algorithm"
    assert run_cli(project, "apply", save(project, tampered, "t.json")) == 2
    assert "t.json: refused: bad signature (the report was changed)" in capsys.readouterr().err
    assert run_cli(project, "apply", str(project.path / "gpu.json")) == 0
    assert statuses(project)["FALSIFY-DEMO-002"] == "DISCHARGED"


def test_a_malformed_ed25519_key_in_the_ini_is_a_clear_error(project, cpu_report, capsys):
    pytest.importorskip("cryptography")
    project.pytester.makeini("[pytest]\nfalsify_report_key = ed25519:not-a-key\n")
    assert run_cli(project, "apply", save(project, cpu_report)) == 2
    assert "falsify_report_key: not a base64 Ed25519 key of 32 bytes" in capsys.readouterr().err


def test_a_report_from_a_dirty_tree_applies_with_its_dirty_commit(project, cpu_report):
    """The plugin stamps `<commit>-dirty` on evidence from uncommitted code; apply takes it."""
    dirty = {**cpu_report, "tests": [{**t, "commit": "0123456789ab-dirty"} for t in cpu_report["tests"]]}
    assert run_cli(project, "apply", save(project, dirty)) == 0
    assert statuses(project)["FALSIFY-DEMO-001"] == "DISCHARGED"
    assert b"0123456789ab-dirty" in project.read()


@pytest.mark.parametrize("commit", ["0123-dirty-dirty", "-dirty", "xyz-dirty"])
def test_a_malformed_dirty_commit_is_still_refused(project, cpu_report, capsys, commit):
    bad = {**cpu_report, "tests": [{**t, "commit": commit} for t in cpu_report["tests"]]}
    assert run_cli(project, "apply", save(project, bad)) == 2
    assert "must be a hex commit id" in capsys.readouterr().err
