"""ggml's float32 semantics, reproduced step by step so our bytes equal ggml's.

- every expression is evaluated in float32, in the C order of operations, with no
  fused multiply-add (ggml-quants.c lives in ggml-base, built without -march flags);
- sums are sequential left-to-right float32 accumulations (numpy's own `sum` is
  pairwise, so `seqsum` adds element rows one at a time, vectorized over blocks);
- `nearest_int` is the C bit trick (add 1.5 * 2**23 and read the mantissa), copied
  exactly, so even out-of-range arguments round the way ggml's do.
"""

from __future__ import annotations

import numpy as np

F32 = np.float32
_MAGIC = F32(12582912.0)  # 1.5 * 2**23, ggml's nearest_int constant
GROUP_MAX_EPS = F32(1e-15)


def nearest_int(x: np.ndarray) -> np.ndarray:
    """ggml's nearest_int: round half to even via the float trick, as int32."""
    with np.errstate(invalid="ignore", over="ignore"):
        v = (x.astype(F32, copy=False) + _MAGIC).view(np.int32)
    return (v & np.int32(0x007FFFFF)) - np.int32(0x00400000)


def seqsum(a: np.ndarray) -> np.ndarray:
    """Sum over axis 0, strictly left to right in float32 (C's `for (...) s += a[i]`)."""
    acc = a[0].copy()
    for i in range(1, a.shape[0]):
        acc += a[i]
    return acc


def fp16_bytes(v: np.ndarray) -> np.ndarray:
    """GGML_FP32_TO_FP16 (round to nearest even) as two little-endian bytes per value."""
    with np.errstate(over="ignore"):
        return v.astype("<f2").view(np.uint8).reshape(*v.shape, 2)


def fp16_roundtrip(v: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return v.astype(np.float16).astype(F32)


def fp16_field(blk: np.ndarray, span: slice) -> np.ndarray:
    """The fp16 field at byte range `span` of every block, as float32 (n,)."""
    return np.ascontiguousarray(blk[:, span]).view("<f2").astype(F32).reshape(-1)
