"""GPU pinning under pytest-xdist and multi-GPU gating, end to end on a CPU host.

`CUDA_VISIBLE_DEVICES` stands in for the host's GPUs (the controller takes the GPUs it
may use from there before it asks nvidia-smi), and each worker's view is read back from a
conftest, which runs before any test module could initialise CUDA.
"""

from __future__ import annotations

import json

import pytest
import yaml

from pytest_falsify import gpu

pytest.importorskip("xdist")

RECORD_VIEW = """
import os, pathlib
worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
pathlib.Path(f"view-{worker}.txt").write_text(os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>"))
"""


@pytest.fixture(autouse=True)
def outside_any_xdist_run(monkeypatch):
    # This suite may itself run under xdist, whose worker variables the subprocesses
    # below would inherit.
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID",
                 gpu.P.ENV_PLAN):
        monkeypatch.delenv(name, raising=False)


def views(project) -> dict[str, str]:
    return {p.stem.removeprefix("view-"): p.read_text() for p in project.path.glob("view-*.txt")}


def test_each_xdist_worker_sees_its_own_gpu_first(project, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    project.pytester.makeconftest(RECORD_VIEW)
    project.tests("def test_a():\n    pass\n")
    project.subprocess("-n", "3", "--falsify-gpus=auto").assert_outcomes(passed=1)
    # gw2 is the third worker on two GPUs: it shares GPU 0 with gw0 (round-robin).
    assert views(project) == {"gw0": "0,1", "gw1": "1,0", "gw2": "0,1", "main": "0,1"}


def test_a_count_pins_workers_to_the_first_n_gpus(project, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6")
    project.pytester.makeconftest(RECORD_VIEW)
    project.tests("def test_a():\n    pass\n")
    project.subprocess("-n", "2", "--falsify-gpus=2").assert_outcomes(passed=1)
    assert views(project)["gw0"] == "4,5" and views(project)["gw1"] == "5,4"


def test_the_ini_option_pins_like_the_command_line(project, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    project.pytester.makeini("[pytest]\nfalsify_gpus = 1,0\n")
    project.pytester.makeconftest(RECORD_VIEW)
    project.tests("def test_a():\n    pass\n")
    project.subprocess("-n", "2").assert_outcomes(passed=1)
    assert views(project)["gw0"] == "1,0" and views(project)["gw1"] == "0,1"


def test_without_workers_the_run_pins_itself_to_the_first_gpu(project, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    project.pytester.makeconftest(RECORD_VIEW)
    project.tests("def test_a():\n    pass\n")
    project.subprocess("--falsify-gpus=3,2").assert_outcomes(passed=1)
    assert views(project) == {"main": "3,2"}


def test_no_option_leaves_cuda_visible_devices_alone(project, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    project.pytester.makeconftest(RECORD_VIEW)
    project.tests("def test_a():\n    pass\n")
    project.subprocess("-n", "2").assert_outcomes(passed=1)
    assert set(views(project).values()) == {"0,1"}


def test_asking_for_more_gpus_than_the_host_has_is_a_usage_error(project, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    project.tests("def test_a():\n    pass\n")
    result = project.subprocess("-n", "2", "--falsify-gpus=2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--falsify-gpus=2: this host has 1 GPU(s) (0)*"])


MULTI = """
import pytest

@pytest.mark.gpu(count=2)
@pytest.mark.falsifier("FALSIFY-DEMO-002")
def test_two_gpus():
    pass
"""


@pytest.fixture
def one_gpu_host(monkeypatch):
    info = {"device": "Fake H200", "driver": 13000, "runtime": 13000, "cupy": "14.2",
            "gpu_index": "3", "gpu_uuid": "GPU-fake-3", "count": 1}
    monkeypatch.setattr(gpu, "probe", lambda: (True, info))


def test_a_two_gpu_test_skips_on_a_one_gpu_host_and_changes_no_status(project, one_gpu_host):
    project.contract()
    project.tests(MULTI)
    before = project.read()
    result = project.run("--run-ignored", "-rs", "--falsify")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*needs 2 GPUs, this host has 1*"])
    assert project.read() == before


def test_a_two_gpu_test_runs_where_two_are_visible(project, monkeypatch):
    info = {"device": "Fake H200", "driver": 13000, "runtime": 13000, "cupy": "14.2",
            "gpu_index": "0", "gpu_uuid": "GPU-fake-0", "count": 2}
    monkeypatch.setattr(gpu, "probe", lambda: (True, info))
    project.contract()
    project.tests(MULTI)
    project.run("--run-ignored", "--falsify").assert_outcomes(passed=1)
    entry = next(e for e in yaml.safe_load(project.read())["falsification_tests"]
                 if e["id"] == "FALSIFY-DEMO-002")
    assert entry["discharge_status"] == "DISCHARGED"


def test_gpu_evidence_names_the_physical_gpu(project, one_gpu_host):
    project.contract()
    project.tests("import pytest\n\n@pytest.mark.gpu\n@pytest.mark.falsifier('FALSIFY-DEMO-002')\n"
                  "def test_one():\n    pass\n")
    project.run("--run-ignored", "--falsify=report", "--falsify-report", "r.json")
    (test,) = json.loads((project.path / "r.json").read_text())["tests"]
    assert test["device"]["gpu_index"] == "3" and test["device"]["gpu_uuid"] == "GPU-fake-3"
    assert "count" not in test["device"]


@pytest.mark.parametrize("bad", ["0", "'two'", "True"])
def test_a_gpu_count_that_is_not_a_positive_whole_number_is_a_usage_error(project, one_gpu_host, bad):
    project.tests(f"import pytest\n\n@pytest.mark.gpu(count={bad})\ndef test_x():\n    pass\n")
    result = project.run("--run-ignored")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
