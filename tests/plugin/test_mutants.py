"""Falsifiability: declared faults must make a bound test fail, or the claim is VACUOUS."""

from __future__ import annotations

import json
import textwrap

import pytest
import yaml

from pytest_falsify import gate, vacuity
from pytest_falsify.fingerprint import SourceIndex, source_cache

CONTRACT = """\
metadata: {version: 1.0.0}
falsification_tests:
  - id: FALSIFY-M-001
    prediction: add adds
    discharge_level: algorithm
    faults: [off_by_one]
  - id: FALSIFY-M-002
    prediction: a test that cannot fail
    discharge_level: algorithm
    faults: [off_by_one]
  - id: FALSIFY-M-003
    prediction: no faults declared
    discharge_level: algorithm
"""

KERNEL = """\
BUG = False


def add(a, b):
    return a + b + (1 if BUG else 0)
"""

CONFTEST = """\
import contextlib

import kernel


@contextlib.contextmanager
def off_by_one():
    kernel.BUG = True
    try:
        yield
    finally:
        kernel.BUG = False


def pytest_falsify_faults(config):
    return {"off_by_one": off_by_one}
"""

TESTS = """\
import pytest
import kernel


@pytest.fixture
def four():
    return kernel.add(2, 2)  # fixture setup never sees a fault


@pytest.mark.falsifier("FALSIFY-M-001")
def test_add(four):
    assert four == 4
    assert kernel.add(2, 2) == 4


@pytest.mark.falsifier("FALSIFY-M-002")
def test_vacuous():
    assert True


@pytest.mark.falsifier("FALSIFY-M-003")
def test_unproven():
    assert kernel.add(1, 1) == 2


def test_unbound():
    assert False, "mutants mode runs only bound tests"
"""


@pytest.fixture
def mproject(project):
    project.contract(CONTRACT, "m")
    (project.path / "kernel.py").write_text(KERNEL)
    (project.path / "conftest.py").write_text(CONFTEST)
    project.tests(TESTS)
    return project


def records(project):
    es = yaml.safe_load(project.read("m"))["falsification_tests"]
    return {e["id"]: e.get("evidence", {}).get("tests", [{}])[0] for e in es}


@pytest.mark.falsifier("FALSIFY-HONEST-003")
def test_an_assert_true_test_bound_to_a_falsifier_with_a_declared_fault_is_vacuous(mproject):
    result = mproject.run("--falsify=mutants", "--falsify-report", "m.json")
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=3, deselected=1)
    result.stdout.fnmatch_lines([
        "m*3 DISCHARGED*0 FALSIFIED*1 VACUOUS",
        "falsifiable: 1 killed, 1 VACUOUS, 1 unproven",
        "VACUOUS: m::FALSIFY-M-002: no declared fault makes a bound test fail: off_by_one",
        "unproven: m::FALSIFY-M-003: no faults declared",
        f"vacuity lint: test_demo.py::test_vacuous: {vacuity.FLAG}"])
    rec = records(mproject)
    assert rec["FALSIFY-M-001"]["falsifiable"] == {"killed": ["off_by_one"]}
    assert rec["FALSIFY-M-002"]["falsifiable"] == {"survived": ["off_by_one"]}
    assert "falsifiable" not in rec["FALSIFY-M-003"]
    states = {s["id"]: s["state"] for s in json.loads((mproject.path / "m.json").read_text())["falsifiable"]}
    assert states == {"m::FALSIFY-M-001": "killed", "m::FALSIFY-M-002": "VACUOUS",
                      "m::FALSIFY-M-003": "unproven"}


def test_mutants_mode_reads_the_declared_faults_through_the_parse_cache(mproject):
    """With pytest's cache on, as users run, entries come light from the parse cache:
    their declared faults must come with them, or no fault would ever run."""
    assert mproject.run("--falsify=report", "-k", "not unbound", cache=True).ret == 0  # the cache
    result = mproject.run("--falsify=mutants", cache=True)
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["falsifiable: 1 killed, 1 VACUOUS, 1 unproven"])
    assert records(mproject)["FALSIFY-M-001"]["falsifiable"] == {"killed": ["off_by_one"]}


def test_strict_check_refuses_discharged_for_vacuous_and_with_the_ini_flag_for_unproven(mproject):
    mproject.run("--falsify=mutants")
    plain = mproject.run("--falsify=check", "--deselect", "test_demo.py::test_unbound")
    assert plain.ret == gate.OK
    plain.stdout.fnmatch_lines(["VACUOUS: m::FALSIFY-M-002*"])
    strict = mproject.run("--falsify=check", "--falsify-strict", "--deselect", "test_demo.py::test_unbound",
                          "--falsify-report", "c.json")
    assert strict.ret == gate.UNPROVEN
    unproven = json.loads((mproject.path / "c.json").read_text())["gate"]["unproven"]
    assert any(u.startswith("m::FALSIFY-M-002: DISCHARGED but VACUOUS") for u in unproven)
    assert not any(u.startswith("m::FALSIFY-M-003") for u in unproven)
    mproject.pytester.makeini("[pytest]\nfalsify_require_faults = true\n")
    strict = mproject.run("--falsify=check", "--falsify-strict", "--deselect", "test_demo.py::test_unbound",
                          "--falsify-report", "c.json")
    unproven = json.loads((mproject.path / "c.json").read_text())["gate"]["unproven"]
    assert any(u.startswith("m::FALSIFY-M-003: DISCHARGED but unproven") for u in unproven)


def test_mutants_mode_gives_the_same_files_under_xdist(mproject):
    pytest.importorskip("xdist")
    mproject.run("--falsify=mutants")
    serial = records(mproject)
    (mproject.path / "contracts" / "m.yaml").write_text(CONTRACT)
    result = mproject.subprocess("-n", "2", "--falsify=mutants")
    assert result.ret == 0, result.stdout.str()
    parallel = records(mproject)
    assert {k: v.get("falsifiable") for k, v in parallel.items()} == {
        k: v.get("falsifiable") for k, v in serial.items()}


def test_an_unknown_fault_name_is_a_collection_error_naming_the_known_ones(mproject):
    mproject.contract(CONTRACT.replace("faults: [off_by_one]\n  - id: FALSIFY-M-002",
                                       "faults: [of_by_one]\n  - id: FALSIFY-M-002"), "m")
    result = mproject.run("--falsify=mutants")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*FALSIFY-M-001: unknown fault(s) of_by_one (the pytest_falsify_faults "
                                 "hook provides: off_by_one)*"])


def test_a_later_plain_write_keeps_the_mutants_evidence_while_the_code_is_unchanged(mproject):
    mproject.run("--falsify=mutants")
    before = mproject.read("m")
    mproject.run("--falsify", "--deselect", "test_demo.py::test_unbound")
    assert mproject.read("m") == before


def test_changing_the_code_under_test_drops_old_mutants_evidence_on_the_next_write(mproject):
    mproject.run("--falsify=mutants")
    (mproject.path / "kernel.py").write_text(KERNEL.replace("return a + b", "return b + a"))
    mproject.run("--falsify", "--deselect", "test_demo.py::test_unbound")
    assert "falsifiable" not in records(mproject)["FALSIFY-M-001"]


@pytest.mark.parametrize("body, flagged", [
    ("assert True", True),
    ("pass", True),
    ("record_property('x', 1)", True),
    ("assert x == 1", False),
    ("with pytest.raises(ValueError):\n        int('a')", False),
    ("np.testing.assert_allclose(a, b)", False),
    ("kernel.add(1, 2)", False),
    ("pytest.skip('no')", True),
])
def test_the_static_vacuity_lint_flags_only_tests_that_cannot_fail(body, flagged, tmp_path):
    src = f"def test_it(record_property):\n    {body}\n"
    ns: dict = {}
    path = tmp_path / "t.py"
    path.write_text(textwrap.dedent(src))
    exec(compile(path.read_text(), str(path), "exec"), ns)
    import linecache

    linecache.updatecache(str(path))
    assert (vacuity.lint(ns["test_it"], SourceIndex(tmp_path)) == vacuity.FLAG) is flagged


def test_a_warm_run_reads_the_lint_from_the_source_cache_and_sees_an_edit(mproject):
    flag = f"vacuity lint: test_demo.py::test_vacuous: {vacuity.FLAG}"
    mproject.run("--falsify=report", cache=True).stdout.fnmatch_lines([flag])
    assert (mproject.path / ".pytest_cache/d/falsify/source-cache.json").is_file()
    mproject.run("--falsify=report", cache=True).stdout.fnmatch_lines([flag])
    test_file = mproject.path / "test_demo.py"
    test_file.write_text(test_file.read_text().replace(
        "def test_vacuous():\n    assert True", "def test_vacuous():\n    assert kernel.add(1, 1) == 2"))
    assert flag not in mproject.run("--falsify=report", cache=True).stdout.str()


def _load(path, src):
    path.write_text(textwrap.dedent(src))
    ns: dict = {"pytest": pytest}
    exec(compile(path.read_text(), str(path), "exec"), ns)
    return ns


def test_the_vacuity_lint_reads_decorated_tests_and_methods_by_their_own_def(tmp_path):
    ns = _load(tmp_path / "t.py", """\
        class TestIt:
            @pytest.mark.parametrize("x", [1])
            @pytest.mark.skipif(False, reason="")
            def test_empty(self, x):
                pass

            def test_real(self):
                assert self.x == 1
        """)
    index = SourceIndex(tmp_path)
    assert vacuity.lint(ns["TestIt"].test_empty, index) == vacuity.FLAG
    assert vacuity.lint(ns["TestIt"].test_real, index) is None


def test_the_vacuity_lint_keeps_its_verdicts_in_the_source_cache_until_the_file_changes(tmp_path):
    path, cache = tmp_path / "t.py", tmp_path / "cache" / "source-cache.json"
    func = _load(path, "def test_it():\n    pass\n")["test_it"]
    first = SourceIndex(tmp_path, source_cache(cache))
    assert vacuity.lint(func, first) == vacuity.FLAG
    first.save()
    warm = SourceIndex(tmp_path, source_cache(cache))
    assert vacuity.lint(func, warm) == vacuity.FLAG and warm.cache.misses == 0
    fixed = _load(path, "def test_it():\n    assert compute() == 2\n")["test_it"]
    assert vacuity.lint(fixed, SourceIndex(tmp_path, source_cache(cache))) is None


def test_a_damaged_source_cache_is_ignored_and_rebuilt(tmp_path):
    path, cache = tmp_path / "t.py", tmp_path / "source-cache.json"
    func = _load(path, "def test_it():\n    pass\n")["test_it"]
    index = SourceIndex(tmp_path, source_cache(cache))
    vacuity.lint(func, index)
    index.save()
    cache.write_bytes(cache.read_bytes().replace(b'"cannot_fail":[1]', b'"cannot_fail":[]'))
    again = SourceIndex(tmp_path, source_cache(cache))
    assert again.cache.ignored and vacuity.lint(func, again) == vacuity.FLAG


def test_a_fault_that_survived_is_vacuous_only_when_every_passing_bound_test_tried_it():
    from pytest_falsify.falsifiable import state

    survived = {"test": "t.py::a", "outcome": "passed", "falsifiable": {"survived": ["f"]}}
    untried = {"test": "t.py::b", "outcome": "passed"}  # its old, killing record was replaced
    assert state("X", ["f"], [survived])["state"] == "VACUOUS"
    partial = state("X", ["f"], [survived, untried])
    assert partial["state"] == "unproven" and "1 of 2 bound tests" in partial["why"]
    killed = {"test": "t.py::b", "outcome": "passed", "falsifiable": {"killed": ["f"]}}
    assert state("X", ["f"], [survived, killed, untried])["state"] == "killed"


def test_a_test_that_skips_in_a_mutants_run_keeps_its_stored_kill():
    from pytest_falsify.falsifiable import states

    stored = [{"test": "t.py::gpu", "outcome": "passed", "falsifiable": {"killed": ["f"]}}]
    skipped_now = {"t.py::gpu": {"test": "t.py::gpu", "ids": ["X"], "outcome": "skipped",
                                 "falsifiable": {}}}
    (st,) = states([("X", "k", stored, {"faults": ["f"]})], {}, skipped_now)
    assert st["state"] == "killed"
