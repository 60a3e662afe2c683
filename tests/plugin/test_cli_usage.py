"""The `falsify` command as a user meets it: help, options, finding the project, listing,
exit codes, pipes and error messages. Run as a subprocess, as a shell would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from falsify_project import DEMO

from pytest_falsify import gate
from pytest_falsify.cli import BAD_INPUT, CLOSED_PIPE, COMMANDS, FALSIFIED, OK

FALSIFIED_DEMO = DEMO.replace("""    discharge_level: algorithm
    discharge_status: DISCHARGED
""", """    discharge_level: algorithm
    discharge_status: FALSIFIED
    evidence:
      tests:
      - {test: 'tests/test_demo.py::test_guard', outcome: failed, level: algorithm, message: 'assert 0'}
""")


def falsify(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest_falsify", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A project: pytest.ini naming `spec/` as the contracts directory, one contract."""
    (tmp_path / "pytest.ini").write_text("[pytest]\nfalsify_contracts = spec\n")
    (tmp_path / "spec").mkdir()
    (tmp_path / "spec" / "demo.yaml").write_text(DEMO)
    (tmp_path / "src" / "deep").mkdir(parents=True)
    return tmp_path


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_subcommand_has_help_with_a_description_and_an_example(repo, command):
    out = falsify(repo, command, "--help")
    assert out.returncode == OK
    assert COMMANDS[command].HELP
    assert "example" in out.stdout
    assert "exit codes:" in out.stdout


def test_version_prints_the_package_version(repo):
    from importlib import metadata

    out = falsify(repo, "--version")
    assert out.returncode == OK
    assert out.stdout.strip() == f"falsify (pytest-falsify) {metadata.version('pytest-falsify')}"


@pytest.mark.parametrize("where", ["before", "after"])
def test_global_options_work_before_or_after_the_subcommand(repo, tmp_path_factory, where):
    other = tmp_path_factory.mktemp("other")
    (other / "x.yaml").write_text(DEMO.replace("DEMO-00", "X-00"))
    opt = ["--contracts", str(other)]
    args = [*opt, "list"] if where == "before" else ["list", *opt]
    out = falsify(repo, *args)
    assert out.returncode == OK, out.stderr
    assert "FALSIFY-X-001" in out.stdout and "FALSIFY-DEMO-001" not in out.stdout


@pytest.mark.parametrize(("name", "text"), [
    ("pytest.ini", "[pytest]\nfalsify_contracts = spec\n"),
    ("pyproject.toml", '[tool.pytest.ini_options]\nfalsify_contracts = "spec"\n'),
    ("tox.ini", "[tox]\nenv_list = py\n\n[pytest]\nfalsify_contracts = spec\n"),
    ("setup.cfg", "[metadata]\nname = x\n\n[tool:pytest]\nfalsify_contracts = spec\n"),
])
def test_contracts_are_found_from_a_subdirectory_through_each_pytest_config_file(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    (tmp_path / "spec").mkdir()
    (tmp_path / "spec" / "demo.yaml").write_text(DEMO)
    (tmp_path / "a" / "b").mkdir(parents=True)
    out = falsify(tmp_path / "a" / "b", "validate")
    assert out.returncode == OK, out.stderr
    assert "1 contract(s), 3 falsifier(s)" in out.stdout


def test_config_file_precedence_follows_pytest(tmp_path):
    # pytest.ini wins over pyproject.toml in the same directory, even without a section
    # naming falsify_contracts; a tox.ini without [pytest] is not a pytest config file.
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\nfalsify_contracts = "spec"\n')
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "demo.yaml").write_text(DEMO)
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "tox.ini").write_text("[tox]\nenv_list = py\n")
    out = falsify(sub, "validate")
    assert out.returncode == OK, out.stderr


def test_list_filters_by_status_and_contract_and_prints_json(repo):
    (repo / "spec" / "other.yaml").write_text(DEMO.replace("DEMO-00", "OTHER-00"))
    out = falsify(repo, "list", "--status", "unbound", "--contract", "demo")
    assert out.returncode == OK, out.stderr
    assert [line.split()[0] for line in out.stdout.splitlines()] == ["demo::FALSIFY-DEMO-001",
                                                                  "demo::FALSIFY-DEMO-002"]
    rows = json.loads(falsify(repo, "list", "--json", "--status", "DISCHARGED").stdout)
    assert [(r["id"], r["status"], r["contract"], r["line"]) for r in rows] == [
        ("demo::FALSIFY-DEMO-003", "DISCHARGED", "demo", 17),
        ("other::FALSIFY-OTHER-003", "DISCHARGED", "other", 17)]


def test_list_of_an_unknown_contract_is_bad_input_naming_the_choices(repo):
    out = falsify(repo, "list", "--contract", "dmeo")
    assert out.returncode == BAD_INPUT
    assert "--contract dmeo: no contract of that name; contracts: demo" in out.stderr


def test_status_states_denominators_and_names_falsified_claims_with_their_failing_test(repo):
    (repo / "spec" / "demo.yaml").write_text(FALSIFIED_DEMO)
    out = falsify(repo, "status")
    assert out.returncode == FALSIFIED
    assert "3 claims · 1 carry evidence · 1 falsified · 0 partial · 2 unbound" in out.stdout
    assert ("FALSIFIED demo::FALSIFY-DEMO-003 (spec/demo.yaml:17): failing test "
            "tests/test_demo.py::test_guard: assert 0") in out.stdout


def test_status_names_partial_claims(repo):
    (repo / "spec" / "demo.yaml").write_text(DEMO.replace(
        "discharge_status: DISCHARGED", "discharge_status: PARTIAL_ALGORITHM_LEVEL"))
    out = falsify(repo, "status")
    assert out.returncode == OK
    assert "0 falsified · 1 partial · 2 unbound" in out.stdout
    assert "PARTIAL   demo::FALSIFY-DEMO-003 (spec/demo.yaml:17)" in out.stdout


@pytest.mark.parametrize(("contracts", "read_lines"), [(400, 1), (2, 0)],
                         ids=["closed-mid-output", "closed-before-the-last-flush"])
def test_a_closed_pipe_ends_quietly(repo, contracts, read_lines):
    # Large output: a write fails while listing. Small output: everything sits in Python's
    # buffer until the final flush, which is when the closed pipe shows.
    for i in range(contracts):
        (repo / "spec" / f"c{i:03d}.yaml").write_text(DEMO.replace("DEMO-00", f"C{i:03d}-00"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # as in a shell
    proc = subprocess.Popen([sys.executable, "-m", "pytest_falsify", "list"], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for _ in range(read_lines):
        proc.stdout.readline()
    proc.stdout.close()  # what `| head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == CLOSED_PIPE
    assert err == ""


def test_a_malformed_report_is_bad_input_naming_that_report(repo):
    (repo / "good.json").write_text(json.dumps({"format": "pytest-falsify-report/1", "exitstatus": 0, "tests": []}))
    (repo / "bad.json").write_text('{"format": "pytest-falsify-report/1",\n "tests": [}\n')
    out = falsify(repo, "check", "good.json", "bad.json")
    assert out.returncode == BAD_INPUT
    assert out.stderr.startswith("falsify: error: bad.json:2: not a pytest-falsify report")
    assert "Traceback" not in out.stderr


def test_a_missing_report_is_bad_input_naming_it(repo):
    out = falsify(repo, "apply", "gone.json")
    assert out.returncode == BAD_INPUT
    assert "gone.json: cannot read the report: No such file or directory" in out.stderr


def test_a_malformed_contract_is_bad_input_with_file_line_and_fix(repo):
    (repo / "spec" / "demo.yaml").write_text(DEMO.replace('prediction: "passes"', 'prediction: "passes'))
    out = falsify(repo, "validate")
    assert out.returncode == BAD_INPUT
    assert "demo.yaml:11: YAML syntax error" in out.stderr and "fix:" in out.stderr


def test_a_malformed_config_file_is_bad_input_naming_it(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options\n")
    out = falsify(tmp_path, "status")
    assert out.returncode == BAD_INPUT
    assert f"{tmp_path / 'pyproject.toml'}: not valid TOML" in out.stderr


def test_a_missing_contracts_directory_names_the_config_file_that_set_it(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\nfalsify_contracts = nowhere\n")
    out = falsify(tmp_path, "validate")
    assert out.returncode == BAD_INPUT
    assert (f"{tmp_path / 'nowhere'}: contracts directory not found (falsify_contracts of "
            f"{tmp_path / 'pytest.ini'})") in out.stderr


def test_exit_codes_are_distinct_for_agree_drift_and_usage(repo):
    assert falsify(repo, "check").returncode == OK
    report = {"format": "pytest-falsify-report/1", "exitstatus": 0, "tests": [
        {"test": "t.py::test_x", "ids": ["FALSIFY-DEMO-001"], "level": "algorithm",
         "outcome": "passed", "metrics": {}}]}
    (repo / "r.json").write_text(json.dumps(report))
    assert falsify(repo, "check", "r.json").returncode == gate.DRIFT
    assert falsify(repo, "check", "--no-such-option").returncode == BAD_INPUT
    assert len({OK, FALSIFIED, BAD_INPUT, gate.DRIFT, CLOSED_PIPE}) == 5
