"""The `falsify` command: validate, status, apply REPORT..., check."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml
from falsify_project import DEMO, PASSING

from pytest_falsify import gate
from pytest_falsify.cli import main


def run_cli(project, *args):
    return main(["--contracts", str(project.path / "contracts"), *args])


def test_validate_counts_and_reports_zero_errors_only_when_valid(project, capsys):
    project.contract()
    assert run_cli(project, "validate") == 0
    assert "1 contract(s), 3 falsifier(s), 0 errors; 0 of 3 carry test evidence" in capsys.readouterr().out
    project.contract(DEMO.replace("discharge_status: DISCHARGED", "discharge_status: DONE"))
    assert run_cli(project, "validate") == 2
    assert "demo.yaml:20: FALSIFY-DEMO-003: unknown status 'DONE'" in capsys.readouterr().err


def test_status_prints_the_tally_per_contract(project, capsys):
    project.contract()
    assert run_cli(project, "status") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["demo", "1", "DISCHARGED", "0", "PARTIAL", "0", "BLOCKER", "2", "UNBOUND",
                              "0", "FALSIFIED"]


def test_apply_merges_a_cpu_and_a_gpu_report_into_a_live_discharge(project, capsys):
    project.contract()
    project.tests(PASSING.replace(', level="live"', ""))
    project.run("--falsify=report", "--falsify-report", "cpu.json")
    gpu = json.loads((project.path / "cpu.json").read_text())
    for t in gpu["tests"]:
        t["level"] = "live"
    (project.path / "gpu.json").write_text(json.dumps(gpu))
    assert run_cli(project, "apply", str(project.path / "cpu.json"), str(project.path / "gpu.json")) == 0
    es = {e["id"]: e for e in yaml.safe_load(project.read())["falsification_tests"]}
    assert es["FALSIFY-DEMO-002"]["discharge_status"] == "DISCHARGED"
    assert "FALSIFY-DEMO-002: UNBOUND -> DISCHARGED" in capsys.readouterr().out


def test_apply_lets_a_failure_on_any_host_win(project):
    project.contract()
    project.tests(PASSING)
    project.run("--falsify=report", "--falsify-report", "a.json")
    bad = json.loads((project.path / "a.json").read_text())
    bad["tests"][0]["outcome"] = "failed"
    (project.path / "b.json").write_text(json.dumps(bad))
    run_cli(project, "apply", str(project.path / "a.json"), str(project.path / "b.json"))
    es = {e["id"]: e for e in yaml.safe_load(project.read())["falsification_tests"]}
    assert es["FALSIFY-DEMO-001"]["discharge_status"] == "FALSIFIED"


def test_check_fails_on_drift_against_a_report_and_strict_flags_claims(project, capsys):
    project.contract()
    project.tests(PASSING)
    project.run("--falsify=report", "--falsify-report", "r.json")
    assert run_cli(project, "check", str(project.path / "r.json")) == gate.DRIFT
    assert "+    discharge_status: DISCHARGED" in capsys.readouterr().out
    assert run_cli(project, "check") == 0
    assert run_cli(project, "check", "--strict") == gate.UNPROVEN
    assert "FALSIFY-DEMO-003: DISCHARGED claims evidence, no test binds it" in capsys.readouterr().out


def test_apply_refuses_a_file_that_is_not_a_report(project, tmp_path, capsys):
    project.contract()
    (tmp_path / "x.json").write_text("{}")
    assert run_cli(project, "apply", str(tmp_path / "x.json")) == 2
    assert f"{tmp_path / 'x.json'}: not a pytest-falsify report" in capsys.readouterr().err


def test_plugin_and_cli_never_import_numpy():
    code = ("import sys, pytest_falsify.plugin, pytest_falsify.cli, pytest_falsify.gpu; "
            "assert 'numpy' not in sys.modules, 'numpy imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_apply_ignores_the_results_of_an_interrupted_run(project, capsys):
    project.contract()
    project.tests(PASSING.replace("def test_guard():\n    pass", "def test_guard():\n    assert 0")
                  + '\n@pytest.mark.falsifier("FALSIFY-DEMO-01")\ndef test_typo():\n    pass\n')
    project.run("--falsify", "--continue-on-collection-errors", "--falsify-report", "r.json")
    assert project.read() == DEMO.encode()
    assert run_cli(project, "apply", str(project.path / "r.json")) == 0
    assert project.read() == DEMO.encode()
    assert "interrupted run: its results are not applied" in capsys.readouterr().err


def test_pure_modules_and_the_cli_load_without_pytest():
    import subprocess
    import sys

    code = ("import sys, pytest_falsify.cli, pytest_falsify.verdict, pytest_falsify.engine, "
            "pytest_falsify.contracts, pytest_falsify.rewrite, pytest_falsify.report, "
            "pytest_falsify.outcome, pytest_falsify.records, pytest_falsify.gate, "
            "pytest_falsify.pruning, pytest_falsify.activation; "
            "print(sorted(m for m in sys.modules if m == 'pytest' or m.startswith('_pytest')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
