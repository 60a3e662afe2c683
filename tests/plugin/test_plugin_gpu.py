"""GPU gating: decided at collection; a GPU test that did not run never lowers a status."""

from __future__ import annotations

import json

import pytest
import yaml

from pytest_falsify import gpu

GPU_TESTS = """
import pytest

@pytest.mark.gpu
@pytest.mark.falsifier("FALSIFY-DEMO-002")
def test_gpu_parity():
    pass

@pytest.mark.ignored
def test_opt_in():
    pass
"""


def status(project, fid):
    es = yaml.safe_load(project.read())["falsification_tests"]
    return next(e.get("discharge_status") for e in es if e["id"] == fid)


@pytest.fixture
def cuda(monkeypatch):
    def set_device(present: bool):
        info = {"device": "Fake H100", "driver": 13000, "runtime": 13000, "cupy": "13.6"}
        monkeypatch.setattr(gpu, "probe", lambda: (True, info) if present else (False, "no CUDA device"))
    return set_device


def test_gpu_and_ignored_tests_skip_without_run_ignored(project):
    project.contract()
    project.tests(GPU_TESTS)
    result = project.run("-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*GPU test: pass --run-ignored to run it*",
                                 "*ignored test: pass --run-ignored to run it*"])


def test_a_gpu_mark_a_conftest_adds_at_collection_is_gated_too(project):
    # The gate reads the marks after every other plugin's collection hook: marks added
    # there count, on a test and on its module. (The binding, which runs first, reads a
    # module's marks once for its own pass: the gate must not reuse what it read.)
    project.contract()
    project.pytester.makeconftest("""
import pytest

def pytest_collection_modifyitems(items):
    for item in items:
        if item.name == "test_own_mark":
            item.add_marker(pytest.mark.gpu)
        if item.module.__name__ == "test_gpu_module":
            item.parent.add_marker(pytest.mark.gpu)
""")
    project.tests("""
import pytest

@pytest.mark.falsifier("FALSIFY-DEMO-002")
def test_own_mark():
    pass

def test_plain():
    pass
""")
    project.tests("""
import pytest

@pytest.mark.falsifier("FALSIFY-DEMO-001")
def test_in_a_marked_module():
    pass
""", name="test_gpu_module")
    result = project.run("-rs")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(["*GPU test: pass --run-ignored to run it*"])


def test_run_ignored_without_a_device_skips_with_no_cuda_device(project, cuda):
    cuda(False)
    project.contract()
    project.tests(GPU_TESTS)
    result = project.run("--run-ignored", "-rs", "--falsify")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*no CUDA device*", "1 GPU test(s) did not run (skipped); they change no status"])


def test_require_gpu_turns_a_missing_device_into_an_error(project, cuda):
    cuda(False)
    project.contract()
    project.tests(GPU_TESTS)
    result = project.run("--run-ignored", "--require-gpu", "--falsify")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--require-gpu: no CUDA device*"])


def test_deselected_gpu_tests_do_not_trip_require_gpu(project, cuda):
    cuda(False)
    project.contract()
    project.tests(GPU_TESTS)
    project.run("--run-ignored", "--require-gpu", "-m", "not gpu").assert_outcomes(passed=1)


def test_gpu_pass_is_live_evidence_with_the_device(project, cuda):
    cuda(True)
    project.contract()
    project.tests(GPU_TESTS)
    project.run("-m", "gpu", "--run-ignored", "--falsify", "--falsify-report", "r.json").assert_outcomes(passed=1)
    assert status(project, "FALSIFY-DEMO-002") == "DISCHARGED"
    (t,) = json.loads((project.path / "r.json").read_text())["tests"]
    assert t["level"] == "live" and t["device"]["device"] == "Fake H100"


@pytest.mark.falsifier("FALSIFY-PLUGIN-004")
def test_a_cpu_only_run_cannot_undo_a_gpu_discharge(project, cuda):
    project.contract()
    project.tests(GPU_TESTS + """
@pytest.mark.falsifier("FALSIFY-DEMO-002")
def test_cpu_reference():
    pass
""")
    cuda(True)
    project.run("--run-ignored", "--falsify")
    assert status(project, "FALSIFY-DEMO-002") == "DISCHARGED"
    after_gpu = project.read()
    cuda(False)
    for args in (["--falsify"], ["--falsify", "--run-ignored"]):
        project.run(*args)
        assert project.read() == after_gpu
