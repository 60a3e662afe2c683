"""Evidence stays about today's code: fingerprints, stale claims, dirty trees, refreshing."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml
from falsify_project import KERNEL

from pytest_falsify import fingerprint as F
from pytest_falsify import gate, gpu
from pytest_falsify.cli import main

TESTS = """\
import pytest
from kernel import fast


@pytest.mark.gpu
@pytest.mark.falsifier("FALSIFY-DEMO-002")
def test_gpu_kernel():
    assert fast(2) == 4


@pytest.mark.falsifier("FALSIFY-DEMO-001", "FALSIFY-DEMO-003")
def test_cpu():
    assert 1 + 1 == 2
"""


@pytest.fixture
def gpu_project(project, monkeypatch):
    """A project whose GPU test ran on a (fake) CUDA host and whose report was applied."""
    info = {"device": "Fake H200", "driver": 13000, "runtime": 13000, "cupy": "13.6"}
    monkeypatch.setattr(gpu, "probe", lambda: (True, info))
    project.contract()
    (project.path / "kernel.py").write_text(KERNEL)
    (project.path / "unrelated.py").write_text("def helper():\n    return 1\n")
    project.tests(TESTS)
    git(project, "init", "-q")
    git(project, "add", ".")
    commit(project, "code")
    apply_gpu_report(project)
    return project


def commit(project, message):
    git(project, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message)


def apply_gpu_report(project):
    result = project.run("--run-ignored", "--falsify=report", "--falsify-report", "gpu.json")
    assert result.ret == 0, result.stdout.str()
    assert main(["--contracts", str(project.path / "contracts"), "apply",
                 str(project.path / "gpu.json")]) == 0


def stored(project, fid="FALSIFY-DEMO-002"):
    es = yaml.safe_load(project.read())["falsification_tests"]
    return next(e for e in es if e["id"] == fid)["evidence"]["tests"][0]


def edit(project, name, old, new):
    p = project.path / name
    p.write_text(p.read_text().replace(old, new))


def check(project, *args):
    return project.run("--falsify=check", "--falsify-report", "check.json", *args)


def test_evidence_carries_a_small_fingerprint_of_the_code_its_test_ran(gpu_project):
    rec = stored(gpu_project)
    assert set(rec["fingerprint"]) == {"kernel.py", "test_demo.py"}
    digest, *names = rec["fingerprint"]["kernel.py"].split()
    assert len(digest) == 8 and names == ["fast"]  # `other` did not run; <module> is implied
    assert rec["host"] and "dirty" not in rec and not rec["commit"].endswith("-dirty")


def test_fingerprints_taken_in_xdist_workers_reach_the_contract(project):
    project.contract()
    (project.path / "kernel.py").write_text(KERNEL)
    project.tests(TESTS.replace("assert 1 + 1 == 2", "assert fast(1) == 2"))
    result = project.subprocess("-n", "2", "--falsify")
    assert result.ret == 0, result.stdout.str()
    rec = stored(project, "FALSIFY-DEMO-001")
    assert rec["fingerprint"]["kernel.py"].split()[1:] == ["fast"]


@pytest.mark.falsifier("FALSIFY-HONEST-002")
def test_changing_a_function_a_stored_gpu_test_ran_makes_its_claim_stale(gpu_project):
    edit(gpu_project, "kernel.py", "return x * SCALE", "return x * SCALE + 0")
    before = gpu_project.read()
    result = check(gpu_project)
    assert result.ret == gate.OK  # stale is a warning without --falsify-strict
    result.stdout.fnmatch_lines([
        "demo*0 FALSIFIED*1 STALE",
        "stale: demo::FALSIFY-DEMO-002: test_demo.py::test_gpu_kernel (evidence of *): kernel.py::fast changed"])
    stale = json.loads((gpu_project.path / "check.json").read_text())["stale"]
    assert [(s["id"], s["changed"]) for s in stale] == [("demo::FALSIFY-DEMO-002", ["kernel.py::fast changed"])]
    assert stale[0]["host"]
    assert gpu_project.read() == before  # computing staleness writes nothing
    strict = check(gpu_project, "--falsify-strict")
    assert strict.ret == gate.STALE
    strict.stdout.fnmatch_lines(["falsify check FAILED (exit 7): stale evidence*"])


def test_changing_an_unrelated_file_or_function_leaves_the_claim_fresh(gpu_project):
    edit(gpu_project, "unrelated.py", "return 1", "return 2 + 2")
    edit(gpu_project, "kernel.py", "return x - 1", "return x - 2 - 3")
    edit(gpu_project, "kernel.py", "def fast(x):", "# a comment line\n\ndef fast(x):")
    result = check(gpu_project, "--falsify-strict")
    assert result.ret == gate.OK, result.stdout.str()
    assert "stale:" not in result.stdout.str()


def test_a_module_level_change_in_a_file_the_test_ran_is_stale(gpu_project):
    edit(gpu_project, "kernel.py", "SCALE = 2", "SCALE = 3")
    check(gpu_project).stdout.fnmatch_lines(["stale: *: kernel.py (module level) changed"])


def test_a_newer_gpu_report_applied_clears_the_stale_claim(gpu_project):
    edit(gpu_project, "kernel.py", "return x * SCALE", "return SCALE * x")
    assert "stale:" in check(gpu_project).stdout.str()
    git(gpu_project, "add", ".")
    commit(gpu_project, "kernel change")  # the GPU host runs a committed tree
    apply_gpu_report(gpu_project)
    result = check(gpu_project, "--falsify-strict")
    assert result.ret == gate.OK and "stale:" not in result.stdout.str()


def test_falsify_status_lists_stale_claims_and_writes_nothing(gpu_project, capsys):
    edit(gpu_project, "kernel.py", "return x * SCALE", "return x * SCALE * 1")
    before = gpu_project.read()
    assert main(["--contracts", str(gpu_project.path / "contracts"), "status"]) == 0
    out = capsys.readouterr().out
    assert "1 STALE" in out and "kernel.py::fast changed" in out
    assert gpu_project.read() == before


def test_without_the_evidence_commit_the_file_is_named_with_its_candidates(gpu_project):
    import shutil

    shutil.rmtree(gpu_project.path / ".git")
    edit(gpu_project, "kernel.py", "return x * SCALE", "return x * SCALE + 0")
    check(gpu_project).stdout.fnmatch_lines(["stale: *: kernel.py changed (in one of: <module>, fast)"])


def test_a_removed_file_names_the_file(gpu_project):
    (gpu_project.path / "kernel.py").rename(gpu_project.path / "kernel2.py")
    edit(gpu_project, "test_demo.py", "from kernel import", "from kernel2 import")
    check(gpu_project).stdout.fnmatch_lines(["stale: *: kernel.py removed*"])


def git(project, *args):
    subprocess.run(["git", *args], cwd=project.path, check=True, capture_output=True)


def test_evidence_from_uncommitted_code_is_dirty_stale_and_never_claims_head(project):
    project.contract()
    (project.path / "kernel.py").write_text(KERNEL)
    project.tests(TESTS.replace("@pytest.mark.gpu\n", "@pytest.mark.ignored\n"))
    git(project, "init", "-q")
    git(project, "add", ".")
    commit(project, "code")
    edit(project, "kernel.py", "return x * SCALE", "return x * SCALE * 1")
    assert project.run("--falsify", "--run-ignored").ret == 0
    rec = stored(project)
    assert rec["dirty"] is True and rec["commit"].endswith("-dirty")
    result = check(project)  # the ignored test does not run: its evidence is checked
    result.stdout.fnmatch_lines(["stale: demo::FALSIFY-DEMO-002: *: recorded from uncommitted code*"])
    project.pytester.makeini("[pytest]\nfalsify_dirty_is_stale = false\n")
    assert "stale:" not in check(project).stdout.str()


def test_a_clean_rerun_replaces_dirty_evidence(project):
    project.contract()
    (project.path / "kernel.py").write_text(KERNEL)
    project.tests(TESTS)
    git(project, "init", "-q")
    project.run("--falsify")
    assert stored(project, "FALSIFY-DEMO-001")["dirty"] is True  # nothing committed yet
    git(project, "add", ".")
    commit(project, "all")
    project.run("--falsify")
    rec = stored(project, "FALSIFY-DEMO-001")
    assert "dirty" not in rec and not rec["commit"].endswith("-dirty")


def test_check_mode_does_not_trace_and_an_unchanged_rerun_changes_zero_bytes(project):
    project.contract()
    (project.path / "kernel.py").write_text(KERNEL)
    project.tests(TESTS)
    project.run("--falsify")
    first = project.read()
    assert "fingerprint" in first.decode()
    project.run("--falsify")
    assert project.read() == first
    rep = check(project)
    assert rep.ret == 0
    tests = json.loads((project.path / "check.json").read_text())["tests"]
    assert all("fingerprint" not in t for t in tests)


def test_report_mode_traces_only_when_its_report_file_keeps_the_evidence(project):
    project.contract()
    project.tests("""
import coverage, pytest

@pytest.mark.falsifier("FALSIFY-DEMO-001")
def test_untraced():
    assert coverage.Coverage.current() is None
""")
    assert project.subprocess("--falsify=report").ret == 0
    assert project.subprocess("--falsify=report", "--falsify-report", "r.json").ret == 1
    assert project.subprocess("--falsify=report", "--falsify-fingerprint=on").ret == 1


def test_only_a_run_that_traces_imports_coverage(project):
    project.contract()
    project.tests("""
import sys

def test_no_coverage():
    assert "coverage" not in sys.modules
""")
    assert project.subprocess().ret == 0
    assert project.subprocess("--falsify=report").ret == 0  # keeps nothing: no tracing
    assert project.subprocess("--falsify").ret == 1


def test_fingerprints_can_be_turned_off(project):
    project.contract()
    (project.path / "kernel.py").write_text(KERNEL)
    project.tests(TESTS)
    project.run("--falsify", "--falsify-fingerprint=off")
    assert "fingerprint" not in project.read().decode()


# --- the fingerprint itself (pure) --------------------------------------------------------------

def test_a_function_digest_ignores_position_comments_and_blank_lines():
    a = F.FileIndex.parse("X = 1\n\ndef f(x):\n    return x\n")
    b = F.FileIndex.parse("X = 1\n# note\n\n\ndef g():\n    pass\n\ndef f(x):\n\n    # why\n    return x\n")
    assert a.digests["f"] == b.digests["f"]
    assert a.digests["<module>"] == b.digests["<module>"]
    c = F.FileIndex.parse("X = 1\n\ndef f(x):\n    return -x\n")
    assert c.digests["f"] != a.digests["f"]


def test_lines_belong_to_their_method_and_nested_functions_to_the_outer_one():
    idx = F.FileIndex.parse("class A:\n    k = 1\n\n    @staticmethod\n    def m():\n"
                            "        def inner():\n            return 1\n        return inner()\n")
    assert [idx.owner(n) for n in (1, 2, 4, 5, 7)] == ["<module>", "<module>", "A.m", "A.m", "A.m"]


def test_a_file_whose_functions_the_test_mostly_ran_is_fingerprinted_whole():
    src = "".join(f"def f{i}():\n    return {i}\n\n" for i in range(F.MAX_NAMES + 2))
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "m.py").write_text(src)
        index = F.SourceIndex(Path(d))
        every_body = {str(Path(d) / "m.py"): [3 * i + 2 for i in range(F.MAX_NAMES + 1)]}
        fp = F.fingerprint(every_body, index)
        assert fp["m.py"].split()[1:] == [F.WHOLE]
        assert F.changes(fp, index) == []
        (Path(d) / "m.py").write_text(src.replace("return 3", "return -3"))
        assert F.changes(fp, F.SourceIndex(Path(d))) == ["m.py changed"]
