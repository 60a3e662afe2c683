"""Q8_0: blocks of 32 int8 quants with one fp16 scale (ggml's quantize_row_q8_0_ref)."""

from __future__ import annotations

import numpy as np

from .. import faults as _faults
from .ggml_float import F32, fp16_bytes, fp16_field
from .layout import LAYOUTS

LAYOUT = LAYOUTS["Q8_0"]
_D, _QS = LAYOUT.span("d"), LAYOUT.span("qs")


def quantize_blocks(b: np.ndarray) -> np.ndarray:
    amax = np.abs(b).max(axis=1)
    if _faults.on("q8_0_signed_max_scale") is not None:  # a fault, on purpose
        amax = b.max(axis=1)
    d = amax / F32(127)
    # For subnormal blocks (amax < ~4e-37) 1/d overflows to inf, as in ggml's C, where the
    # cast of the resulting inf/nan to int8 is undefined. Their fp16 scale rounds to 0, so
    # the quants do not matter: we write 0 instead of platform-dependent garbage.
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        idv = np.where(d != 0, F32(1) / d, F32(0)).astype(F32)
        v = b * idv[:, None]
    v[~np.isfinite(v)] = 0
    # roundf (half away from zero), exact in float32: floor(a) + floor(2 * (a - floor(a)))
    a = np.abs(v)
    fl = np.floor(a)
    q = np.copysign(fl + np.floor(F32(2) * (a - fl)), v)
    out = np.empty((b.shape[0], LAYOUT.nbytes), np.uint8)
    out[:, _D] = fp16_bytes(d)
    out[:, _QS] = q.astype(np.int8).view(np.uint8)
    return out


def dequantize_blocks(blk: np.ndarray, out: np.ndarray) -> None:
    d = fp16_field(blk, _D)[:, None]
    np.multiply(blk[:, _QS].view(np.int8), d, out=out, casting="unsafe")
