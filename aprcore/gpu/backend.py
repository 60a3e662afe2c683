"""The "gpu" backend that `aprcore.backend.resolve_backend("gpu")` builds.

`get_backend()` returns an `aprcore.backend.Backend` whose array module is cupy, whose
`to_device` copies a weight to the device once (the model caches the moved weights per
backend), and whose overrides put the hand-written kernels on the decode path:

- rms_norm: the fused RMSNorm kernel (any number of rows);
- linear: the warp-per-row matvec kernel when one token is decoded, cuBLAS otherwise;
- attention: the split-K grouped-query decode kernel when one query reads the cache,
  the generic cupy op otherwise (prefill).

Every override refuses host arrays (HostArrayError): a forward that reaches numpy
mid-way is a bug to see, not a slow path to take silently. The model's other ops (RoPE,
SiLU, residual adds) run as cupy array expressions on the device.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..backend import Backend
from . import kernels as K
from .device import ensure_device, require_cupy
from .faults import active, kernel_for

_BACKEND: Any = None


def to_device(a: Any) -> Any:
    """Host array -> device array (float32 stays float32, ints stay ints), C-contiguous."""
    cp = require_cupy()
    if isinstance(a, cp.ndarray):
        return a
    return cp.asarray(np.ascontiguousarray(a))


def rms_norm(x: Any, weight: Any, eps: float) -> Any:
    cp = require_cupy()
    ensure_device(x, weight, what="rms_norm")
    if x.dtype != cp.float32 or weight.dtype != cp.float32:
        return ops.rms_norm(x, weight, eps)
    return K.rmsnorm(cp.ascontiguousarray(x), cp.ascontiguousarray(weight), eps)


def linear(x: Any, weight: Any, bias: Any = None) -> Any:
    cp = require_cupy()
    ensure_device(x, weight, bias, what="linear")
    rows = x.size // x.shape[-1] if x.ndim else 0
    if (rows == 1 and weight.ndim == 2 and weight.dtype == cp.float32 and x.dtype == cp.float32
            and weight.flags.c_contiguous):
        y = K.matvec(weight, cp.ascontiguousarray(x).reshape(-1),
                     bias=None if bias is None else cp.ascontiguousarray(bias))
        return y.reshape(*x.shape[:-1], weight.shape[0])
    y = x @ weight.T
    if bias is not None:
        y += bias
    return y


def _cache_view(k: Any, d: int) -> Any:
    """A [n_kv, max_t, d] view over the memory of k [n_kv, S, d] (a slice of a KV cache)."""
    cp = require_cupy()
    st = k.strides
    if not (st[2] == 4 and st[1] == 4 * d and st[0] % (4 * d) == 0 and st[0] >= 4 * d * k.shape[1]):
        k = cp.ascontiguousarray(k)
        st = k.strides
    max_t = st[0] // (4 * d)
    return cp.lib.stride_tricks.as_strided(k, shape=(k.shape[0], max_t, d), strides=st)


def attention(q: Any, k: Any, v: Any, q_start: int = 0, kv_index: Any = None) -> Any:
    cp = require_cupy()
    ensure_device(q, k, v, what="attention")
    t, nh, d = q.shape
    nkv, s, _ = k.shape
    if kv_index is None and active() == "attention_tiled_kv_heads":  # a fault, on purpose
        kv_index = np.arange(nh) % nkv  # the generic op below runs it on the device
    fits = (t == 1 and kv_index is None and q_start + 1 == s and 4 <= d <= 256 and not d & (d - 1)
            and q.dtype == k.dtype == v.dtype == cp.float32 and nh % nkv == 0)
    if not fits:
        return ops.attention(q, k, v, q_start, kv_index)
    kc, vc = _cache_view(k, d), _cache_view(v, d)
    tokpos = cp.asarray(np.array([0, s - 1, 0], np.int32))
    out = cp.empty((nh, d), cp.float32)
    K.decode_attention(cp.ascontiguousarray(q).reshape(nh, d), kc, vc, tokpos, out)
    return out.reshape(1, nh * d)


OVERRIDES = {"rms_norm": rms_norm, "linear": linear, "attention": attention}


class _Kernels(dict):
    """The GPU backend's op table. While APRCORE_GPU_FAULT names a broken kernel, a lookup
    of the op it replaces returns the broken one (`aprcore.gpu.faults.kernel_for`): read at
    every lookup, so a backend (or a model, or a test's session fixture) made before the
    fault was set meets it too. One environment read per op call."""

    def get(self, op: str, default: Any = None) -> Any:
        return kernel_for(op) or super().get(op, default)


def get_backend() -> Any:
    """The GPU `Backend` (built once); raises GpuUnavailable without CuPy or a device.

    With APRCORE_GPU_FAULT=<name> set, the backend runs that broken kernel
    (`aprcore.gpu.faults`): the way an end-to-end run meets a broken GPU on purpose.
    An unknown name is a ValueError here.
    """
    global _BACKEND
    active()  # an unknown APRCORE_GPU_FAULT fails here, not silently at some op
    if _BACKEND is None:
        cp = require_cupy()
        _BACKEND = Backend(name="gpu", xp=cp, to_device=to_device, overrides=_Kernels(OVERRIDES))
    return _BACKEND
