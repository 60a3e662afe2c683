"""Deliberately broken GPU code, so tests can show the parity gates catch real bugs.

Four kinds, all switched on for a whole process by the environment variable
APRCORE_GPU_FAULT=<name> (so an end-to-end run such as `python -m aprcore run ...
--backend gpu`, and pytest-falsify's mutants mode, meet them):

- broken backend kernels (`KERNEL_FAULTS`): a real CUDA kernel with a plausible bug, put
  in place of one op of the GPU backend. `backend_with_fault` installs one explicitly;
  the GPU backend's op table reads APRCORE_GPU_FAULT at every op lookup (`kernel_for`),
  so a backend, model or fixture built before the fault was set meets it too;
- `attention_tiled_kv_heads`: the GPU backend's attention (`gpu.backend.attention`, the
  bare op and the model's) maps query heads to KV heads by tiling;
- `decoder_skips_last_layer`: the graph decode engine (`GpuDecoder`), built while it is
  set, runs every layer but the last;
- `pipeline_boundary_layer_runs_twice`: the layer split (`pipeline.split_layers`) starts
  each later stage one layer early, so each boundary layer runs on both of its stages.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

from .device import ensure_device, require_cupy

ENV = "APRCORE_GPU_FAULT"

FAULTS = {
    "rmsnorm_no_normalize": "RMSNorm kernel that multiplies by the weight but forgets 1/rms",
    "nan_matvec": "decode matvec kernel that leaves its last output row unwritten (NaN)",
    "attention_tiled_kv_heads": "GPU attention in which query head h reads KV head h % n_kv "
                                "instead of h // (n_heads/n_kv) (repeat for repeat_interleave; "
                                "decode and prefill)",
    "decoder_skips_last_layer": "the graph decode engine (GpuDecoder) runs every layer but the last",
    "pipeline_boundary_layer_runs_twice": "the pipeline's layer split starts each later stage "
                                          "one layer early: each boundary layer runs twice",
}


def active() -> str | None:
    """The GPU fault APRCORE_GPU_FAULT names, or None; an unknown name is a ValueError."""
    name = os.environ.get(ENV) or None
    if name is not None and name not in FAULTS:
        raise ValueError(f"unknown GPU fault {name!r} in {ENV}; known: {', '.join(FAULTS)}")
    return name

_SRC = r"""
extern "C" __global__ void rmsnorm_no_normalize(const float* x, const float* w, float* y, int n, int rows) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n * rows) y[i] = x[i] * w[i % n];          // the bug: no rsqrt(mean(x^2) + eps)
}
extern "C" __global__ void matvec_skip_last(const float* W, const float* x, float* y, int rows, int cols) {
    const int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows - 1) return;                          // the bug: an off-by-one row bound
    float a = 0.f;
    for (int c = 0; c < cols; ++c) a += W[(size_t)r * cols + c] * x[c];
    y[r] = a;
}
"""


def _module() -> Any:
    cp = require_cupy()
    return cp.RawModule(code=_SRC)


def _rmsnorm_no_normalize(x: Any, weight: Any, eps: float) -> Any:
    cp = require_cupy()
    ensure_device(x, weight, what="rms_norm (fault)")
    x = cp.ascontiguousarray(x, dtype=cp.float32)
    n = x.shape[-1]
    rows = x.size // n
    y = cp.empty_like(x)
    _module().get_function("rmsnorm_no_normalize")(((x.size + 255) // 256,), (256,), (x, weight, y, n, rows))
    return y


def _nan_matvec(x: Any, weight: Any, bias: Any = None) -> Any:
    cp = require_cupy()
    ensure_device(x, weight, bias, what="linear (fault)")
    rows, cols = weight.shape
    if x.size // x.shape[-1] != 1:
        y = x @ weight.T
    else:
        y = cp.full((rows,), cp.nan, cp.float32)
        _module().get_function("matvec_skip_last")(((rows + 127) // 128,), (128,), (
            weight, cp.ascontiguousarray(x).reshape(-1), y, rows, cols))
        y = y.reshape(*x.shape[:-1], rows)
    if bias is not None:
        y += bias
    return y


#: fault -> (the backend op it replaces, the broken implementation)
KERNEL_FAULTS: dict[str, tuple[str, Callable[..., Any]]] = {
    "rmsnorm_no_normalize": ("rms_norm", _rmsnorm_no_normalize),
    "nan_matvec": ("linear", _nan_matvec),
}


def kernel_for(op: str) -> Callable[..., Any] | None:
    """The broken implementation of backend op `op` under APRCORE_GPU_FAULT, else None."""
    name = active()
    if name is None or name not in KERNEL_FAULTS or KERNEL_FAULTS[name][0] != op:
        return None
    return KERNEL_FAULTS[name][1]


def backend_with_fault(backend: Any, name: str) -> Any:
    """A copy of the GPU `Backend` (same name) whose op is replaced by the broken kernel."""
    if name not in KERNEL_FAULTS:
        raise ValueError(f"unknown GPU kernel fault {name!r}; known: {', '.join(KERNEL_FAULTS)}")
    op, fn = KERNEL_FAULTS[name]
    return dataclasses.replace(backend, overrides={**backend.overrides, op: fn})
