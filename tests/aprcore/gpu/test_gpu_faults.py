"""How APRCORE_GPU_FAULT switches a broken piece of GPU code on: plumbing, runs on CPU."""

from __future__ import annotations

import pytest

from aprcore.gpu import faults
from aprcore.gpu.pipeline import split_layers


def test_a_kernel_fault_replaces_only_the_op_it_breaks(monkeypatch):
    monkeypatch.setenv(faults.ENV, "nan_matvec")
    assert faults.kernel_for("linear") is faults.KERNEL_FAULTS["nan_matvec"][1]
    assert faults.kernel_for("rms_norm") is None
    monkeypatch.delenv(faults.ENV)
    assert faults.kernel_for("linear") is None


def test_an_unknown_gpu_fault_is_an_error_naming_the_known_ones(monkeypatch):
    monkeypatch.setenv(faults.ENV, "cosmic_ray")
    with pytest.raises(ValueError, match="unknown GPU fault 'cosmic_ray'.*nan_matvec"):
        faults.active()


def test_the_pipeline_fault_runs_each_boundary_layer_on_both_stages(monkeypatch):
    monkeypatch.setenv(faults.ENV, "pipeline_boundary_layer_runs_twice")
    assert split_layers(6, 3) == [range(0, 2), range(1, 4), range(3, 6)]
