"""`falsify bind --suggest`: markers for the tests that contracts name in prose."""

from __future__ import annotations

import shutil
import subprocess
import textwrap

import pytest

from pytest_falsify.cli import main
from pytest_falsify.cli._bindings import Ref, references

pytestmark = pytest.mark.falsifier("FALSIFY-PLUGIN-015")

CONTRACT = """\
metadata:
  version: 1.0.0
falsification_tests:
  - id: FALSIFY-B-001
    prediction: p
    test: tests/test_x.py::test_node_id
  - id: FALSIFY-B-002
    prediction: p
    test: "test_prose in tests/test_x.py"
  - id: FALSIFY-B-003
    prediction: p
    test: tests/test_x.py (TestK.test_method)
  - id: FALSIFY-B-004
    prediction: p
    command: pytest tests/test_x.py -k test_alias
  - id: FALSIFY-B-005
    prediction: p
    test: see test_twice
  - id: FALSIFY-B-006
    prediction: p
    test: test_missing
  - id: FALSIFY-B-007
    prediction: p
    test: cargo test -p apr-gpu parity_probe
  - id: FALSIFY-B-008
    prediction: p
    test: tests/test_x.py
"""
TESTS = '''\
"""Tests named by the contract."""

import os


def test_node_id():
    pass


@pytest.mark.parametrize("a", [1])
def test_prose(a):
    pass


def test_alias():
    pass


def test_twice():
    pass


class TestK:
    def test_method(self):
        pass
'''


@pytest.fixture
def tree(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.chdir(pytester.path)
    pytester.makeini("[pytest]\n")
    (pytester.path / "contracts").mkdir()
    (pytester.path / "contracts" / "b.yaml").write_text(CONTRACT)
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_x.py").write_text(TESTS)
    (pytester.path / "tests" / "test_other.py").write_text("def test_twice():\n    pass\n")
    return pytester.path


@pytest.mark.parametrize(("prose", "refs"), [
    ("tests/test_x.py::test_y", [Ref("test_y", None, ("tests/test_x.py",))]),
    ("tests/test_x.py::TestK::test_y[a-b]", [Ref("test_y", "TestK", ("tests/test_x.py",))]),
    ("test_y in ./tests/test_x.py", [Ref("test_y", None, ("tests/test_x.py",))]),
    ("tests/test_x.py (TestK.test_y)", [Ref("test_y", "TestK", ("tests/test_x.py",))]),
    ("see test_a, then test_b", [Ref("test_a"), Ref("test_b")]),
    ("tests/test_x.py", []),
    ("cargo test -p apr-gpu parity_probe", []),
])
def test_the_prose_forms_name_their_tests(prose, refs):
    assert references(prose) == refs


def test_suggest_prints_a_patch_and_writes_nothing(tree, capsys):
    assert main(["bind", "--suggest"]) == 0
    out, err = capsys.readouterr()
    assert (tree / "tests" / "test_x.py").read_text() == TESTS
    added = [ln for ln in out.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    assert added == ["+import pytest",
                     '+@pytest.mark.falsifier("FALSIFY-B-001")',
                     '+@pytest.mark.falsifier("FALSIFY-B-002")',
                     '+@pytest.mark.falsifier("FALSIFY-B-004")',
                     '+    @pytest.mark.falsifier("FALSIFY-B-003")']
    assert not [ln for ln in out.splitlines() if ln.startswith("-") and not ln.startswith("---")]
    assert "ambiguous: " in err and "FALSIFY-B-005: test_twice: tests/test_other.py::test_twice, " \
        "tests/test_x.py::test_twice" in err
    assert "not found: " in err and "FALSIFY-B-006: test_missing" in err
    assert "file only: " in err and "FALSIFY-B-008: tests/test_x.py names no test function" in err
    assert "4 suggested, 0 already bound, 1 ambiguous, 1 not found, 1 file only; nothing " \
        "written" in err


def test_apply_writes_the_markers_and_the_tests_then_bind(tree, pytester, capsys):
    assert main(["bind", "--suggest", "--apply"]) == 0
    assert "applied to 1 file(s)" in capsys.readouterr().err
    result = pytester.runpytest_inprocess("-p", "pytest_falsify.plugin", "--falsify")
    result.assert_outcomes(passed=6)
    text = (tree / "contracts" / "b.yaml").read_text()
    assert text.count("discharge_status: PARTIAL_ALGORITHM_LEVEL") == 4  # live claims, algorithm tests


def test_a_second_suggest_after_apply_finds_everything_bound(tree, capsys):
    main(["bind", "--suggest", "--apply"])
    capsys.readouterr()
    assert main(["bind", "--suggest"]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert "0 suggested, 4 already bound" in err


def test_the_printed_patch_applies_with_git_and_equals_apply(tree, capsys):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    main(["bind", "--suggest"])
    patch = capsys.readouterr().out
    subprocess.run(["git", "apply", "-"], input=patch, text=True, cwd=tree, check=True)
    by_git = (tree / "tests" / "test_x.py").read_text()
    (tree / "tests" / "test_x.py").write_text(TESTS)
    main(["bind", "--suggest", "--apply"])
    assert (tree / "tests" / "test_x.py").read_text() == by_git


def test_a_module_that_imports_pytest_gets_no_second_import(tree, capsys):
    (tree / "tests" / "test_x.py").write_text(TESTS.replace("import os\n", "import os\n\nimport pytest\n"))
    main(["bind", "--suggest"])
    assert "+import pytest" not in capsys.readouterr().out


def test_crlf_test_files_stay_crlf(tree):
    (tree / "tests" / "test_x.py").write_bytes(TESTS.replace("\n", "\r\n").encode())
    main(["bind", "--suggest", "--apply"])
    data = (tree / "tests" / "test_x.py").read_bytes()
    assert b'@pytest.mark.falsifier("FALSIFY-B-001")\r\n' in data
    assert b"\n" not in data.replace(b"\r\n", b"")


def test_bind_without_suggest_is_a_one_line_usage_error(tree, capsys):
    assert main(["bind"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pass --suggest" in err


def test_a_test_file_that_does_not_parse_is_noted_and_skipped(tree, capsys):
    (tree / "tests" / "test_broken.py").write_text(textwrap.dedent("def test_node_id(:\n"))
    assert main(["bind", "--suggest"]) == 0
    assert "note: tests/test_broken.py: not read (SyntaxError)" in capsys.readouterr().err


def test_an_id_in_two_contracts_is_suggested_qualified_and_then_binds(tree, pytester, capsys):
    for folder in ("algebra", "training"):
        (tree / "contracts" / folder).mkdir()
        (tree / "contracts" / folder / "lemmas-v1.yaml").write_text(
            "falsification_tests:\n  - id: FALSIFY-AL-001\n    prediction: p\n"
            f"    test: tests/test_{folder}.py::test_lemma\n")
        (tree / "tests" / f"test_{folder}.py").write_text("def test_lemma():\n    pass\n")
    assert main(["bind", "--suggest", "--apply"]) == 0
    capsys.readouterr()
    assert '@pytest.mark.falsifier("algebra/lemmas-v1::FALSIFY-AL-001")' in (
        tree / "tests" / "test_algebra.py").read_text()
    pytester.runpytest_inprocess("-p", "pytest_falsify.plugin", "--falsify").assert_outcomes(passed=8)
    assert "discharge_status: PARTIAL_ALGORITHM_LEVEL" in (
        tree / "contracts" / "training" / "lemmas-v1.yaml").read_text()
    capsys.readouterr()
    assert main(["bind", "--suggest"]) == 0
    assert capsys.readouterr().out == ""  # every qualified marker is seen as bound
