"""`falsify init`: the config stanza and a first contract, never clobbering anything."""

from __future__ import annotations

import pytest
import yaml

from pytest_falsify.cli import main

pytestmark = pytest.mark.falsifier("FALSIFY-PLUGIN-015")

PYPROJECT = '[project]\nname = "x"\n\n[tool.pytest.ini_options]\naddopts = "-q"  # keep me\n'


@pytest.fixture
def here(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.chdir(pytester.path)
    return pytester.path


def first_contract(here, name=None):
    files = sorted((here / "contracts").glob("*.yaml"))
    assert len(files) == 1
    return files[0]


def test_init_adds_the_setting_under_the_pytest_table_of_pyproject(here, capsys):
    (here / "pyproject.toml").write_text(PYPROJECT)
    assert main(["init"]) == 0
    assert (here / "pyproject.toml").read_text() == PYPROJECT.replace(
        "[tool.pytest.ini_options]\n", '[tool.pytest.ini_options]\nfalsify_contracts = "contracts"\n')
    assert "falsify_contracts = contracts" in capsys.readouterr().out


def test_the_first_contract_validates_and_a_bound_test_discharges_it(here, pytester):
    (here / "pyproject.toml").write_text(PYPROJECT)
    assert main(["init", "--name", "parity-v1"]) == 0
    path = here / "contracts" / "parity-v1.yaml"
    fid = yaml.safe_load(path.read_text())["falsification_tests"][0]["id"]
    assert fid == "FALSIFY-PARITY-001"
    assert main(["validate"]) == 0
    pytester.makepyfile(test_parity=f"""
        import pytest

        @pytest.mark.falsifier("{fid}")
        def test_parity():
            pass
    """)
    pytester.runpytest_inprocess("-p", "pytest_falsify.plugin", "--falsify").assert_outcomes(passed=1)
    assert "discharge_status: DISCHARGED" in path.read_text()


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("pytest.ini", "[pytest]\naddopts = -q\n", "[pytest]\nfalsify_contracts = contracts\naddopts = -q\n"),
    ("tox.ini", "[tox]\nenv_list = py\n\n[pytest]\naddopts = -q\n",
     "[tox]\nenv_list = py\n\n[pytest]\nfalsify_contracts = contracts\naddopts = -q\n"),
    ("setup.cfg", "[metadata]\nname = x\n[tool:pytest]\naddopts = -q\n",
     "[metadata]\nname = x\n[tool:pytest]\nfalsify_contracts = contracts\naddopts = -q\n"),
    ("pyproject.toml", '[project]\nname = "x"\n',
     '[project]\nname = "x"\n\n[tool.pytest.ini_options]\nfalsify_contracts = "contracts"\n'),
    ("pytest.ini", "[pytest]\r\naddopts = -q\r\n",
     "[pytest]\r\nfalsify_contracts = contracts\r\naddopts = -q\r\n"),
    ("pyproject.toml", '[tool.pytest]\naddopts = ["-q"]\n',
     '[tool.pytest]\nfalsify_contracts = "contracts"\naddopts = ["-q"]\n'),
    ("pytest.toml", '[pytest]  # native\naddopts = ["-q"]',
     '[pytest]  # native\nfalsify_contracts = "contracts"\naddopts = ["-q"]'),
], ids=["pytest.ini", "tox.ini", "setup.cfg", "pyproject-without-pytest", "crlf",
        "pyproject-native-table", "pytest.toml"])
def test_init_writes_into_the_config_file_pytest_reads(here, name, text, expected):
    (here / name).write_bytes(text.encode())
    assert main(["init"]) == 0
    assert (here / name).read_bytes() == expected.encode()


def test_without_any_config_file_init_creates_pytest_ini(here):
    assert main(["init"]) == 0
    assert (here / "pytest.ini").read_text() == "[pytest]\nfalsify_contracts = contracts\n"


def test_a_setting_already_there_is_kept_and_its_directory_used(here, capsys):
    (here / "pytest.ini").write_text("[pytest]\nfalsify_contracts = spec/contracts\n")
    assert main(["init"]) == 0
    assert (here / "pytest.ini").read_text() == "[pytest]\nfalsify_contracts = spec/contracts\n"
    assert len(list((here / "spec" / "contracts").glob("*.yaml"))) == 1
    assert "kept: " in capsys.readouterr().out


def test_contracts_already_there_are_never_touched(here, capsys):
    (here / "contracts").mkdir()
    (here / "contracts" / "mine.yaml").write_text("falsification_tests: []\n")
    assert main(["init"]) == 0
    assert [p.name for p in (here / "contracts").iterdir()] == ["mine.yaml"]
    assert (here / "contracts" / "mine.yaml").read_text() == "falsification_tests: []\n"
    assert "already holds 1 contract file(s)" in capsys.readouterr().out


def test_a_layout_it_cannot_edit_safely_is_refused_and_left_as_it_was(here, capsys):
    text = 'tool.pytest.ini_options.addopts = "-q"\n[project]\nname = "x"\n'
    (here / "pyproject.toml").write_text(text)
    assert main(["init"]) == 2
    assert (here / "pyproject.toml").read_text() == text
    assert not (here / "contracts").exists()
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert 'add this line under [tool.pytest.ini_options] yourself: falsify_contracts = "contracts"' in err


def test_contracts_outside_the_project_are_refused(here, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere")
    assert main(["init", "--contracts", str(outside)]) == 2
    assert not (here / "pytest.ini").exists()


def test_a_custom_contracts_directory_is_written_relative_to_the_config_file(here):
    (here / "pytest.ini").write_text("[pytest]\n")
    assert main(["init", "--contracts", "spec/claims"]) == 0
    assert (here / "pytest.ini").read_text() == "[pytest]\nfalsify_contracts = spec/claims\n"
    assert len(list((here / "spec" / "claims").glob("*.yaml"))) == 1
