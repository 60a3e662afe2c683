"""Q6_K: super-blocks of 256 weights in 16 sub-blocks of 16, 6-bit quants (4 low bits in
`ql`, 2 high bits in `qh`), int8 sub-block scales and one fp16 d (ggml's
quantize_row_q6_K_ref / dequantize_row_q6_K)."""

from __future__ import annotations

import numpy as np

from .ggml_float import (
    F32,
    GROUP_MAX_EPS,
    fp16_bytes,
    fp16_field,
    fp16_roundtrip,
    nearest_int,
    seqsum,
)
from .layout import LAYOUTS

LAYOUT = LAYOUTS["Q6_K"]
_QL, _QH, _SC, _D = (LAYOUT.span(f) for f in ("ql", "qh", "scales", "d"))


def _first_absmax(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Over axis 0: (value with the largest |value|, first one on ties; that |value|)."""
    ax = np.abs(x)
    idx = np.argmax(ax, axis=0)
    cols = np.arange(x.shape[1])
    return x[idx, cols], ax[idx, cols]


def _make_qx_quants_rmse1(x: np.ndarray, nmax: int) -> tuple[np.ndarray, np.ndarray]:
    """make_qx_quants(n, nmax, x, L, rmse_type=1, qw=NULL) over columns of x (n, groups)."""
    mx, amax = _first_absmax(x)
    zero = amax < GROUP_MAX_EPS
    fnmax = F32(nmax)
    w = x * x
    wx = w * x
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        iscale = -fnmax / mx
        lq = np.clip(nearest_int(iscale * x), -nmax, nmax - 1)
        lf = lq.astype(F32)
        sumlx = seqsum(wx * lf)
        suml2 = seqsum((w * lf) * lf)
        scale = np.where(suml2 != 0, sumlx / suml2, F32(0)).astype(F32)
        best = scale * sumlx
        L = lq
        for step in range(-9, 10):
            if step == 0:
                continue
            iscale = -(fnmax + F32(0.1) * F32(step)) / mx
            lq = np.clip(nearest_int(iscale * x), -nmax, nmax - 1)
            lf = lq.astype(F32)
            sumlx = seqsum(wx * lf)
            suml2 = seqsum((w * lf) * lf)
            upd = (suml2 > 0) & (sumlx * sumlx > best * suml2)
            L = np.where(upd, lq, L)
            scale = np.where(upd, sumlx / suml2, scale)
            best = np.where(upd, scale * sumlx, best)
    L = np.where(zero, 0, L + nmax)
    scale = np.where(zero, F32(0), scale).astype(F32)
    return scale, L


def quantize_blocks(b: np.ndarray) -> np.ndarray:
    nb = b.shape[0]
    xs = b.reshape(nb * 16, 16).T.copy()  # (16, sub-blocks)
    scales, L = _make_qx_quants_rmse1(xs, 32)
    scales = scales.reshape(nb, 16)
    max_scale, max_abs = _first_absmax(scales.T)
    zero = max_abs < GROUP_MAX_EPS
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        iscale = F32(-128) / max_scale
        dh = np.where(zero, F32(0), F32(1) / iscale).astype(F32)
        sc = np.minimum(nearest_int(iscale[:, None] * scales), 127)
    sc = np.where(zero[:, None], 0, sc).astype(np.int64)
    sc8 = (sc & 0xFF).astype(np.uint8).view(np.int8)
    d = fp16_roundtrip(dh)[:, None] * sc8.astype(F32)  # (nb, 16)
    xb = b.reshape(nb, 16, 16)
    with np.errstate(divide="ignore", invalid="ignore"):
        lq = np.clip(nearest_int(xb / d[:, :, None]), -32, 31) + 32
    L = L.T.reshape(nb, 16, 16)
    L = np.where((d != 0)[:, :, None], lq, L)
    L = np.where(zero[:, None, None], 0, L).astype(np.uint8).reshape(nb, 2, 4, 32)
    out = np.empty((nb, LAYOUT.nbytes), np.uint8)
    ql = out[:, _QL].reshape(nb, 2, 2, 32)
    ql[:, :, 0, :] = (L[:, :, 0] & 0xF) | ((L[:, :, 2] & 0xF) << 4)
    ql[:, :, 1, :] = (L[:, :, 1] & 0xF) | ((L[:, :, 3] & 0xF) << 4)
    out[:, _QH] = ((L[:, :, 0] >> 4) | ((L[:, :, 1] >> 4) << 2) | ((L[:, :, 2] >> 4) << 4)
                       | ((L[:, :, 3] >> 4) << 6)).reshape(nb, 64)
    out[:, _SC] = sc8.view(np.uint8)
    out[:, _D] = fp16_bytes(dh)
    out[zero] = 0
    return out


def dequantize_blocks(blk: np.ndarray, out: np.ndarray) -> None:
    nb = blk.shape[0]
    ql = blk[:, _QL].reshape(nb, 2, 2, 32)
    qh = blk[:, _QH].reshape(nb, 2, 1, 32)
    sc = blk[:, _SC].view(np.int8).astype(F32)
    d = fp16_field(blk, _D)[:, None]
    ds = d * sc  # (nb, 16), as ggml: d * sc[is]
    q = np.empty((nb, 2, 4, 32), np.uint8)
    np.bitwise_and(ql, 15, out=q[:, :, 0:2])
    np.right_shift(ql, 4, out=q[:, :, 2:4])
    q |= ((qh >> _QH_SHIFT) & 3) << 4
    q -= 32  # wraps in uint8; viewed as int8 it is q - 32
    np.multiply(q.reshape(nb, 16, 16).view(np.int8), ds[:, :, None], out=out.reshape(nb, 16, 16))


_QH_SHIFT = np.array([0, 2, 4, 6], np.uint8)[None, None, :, None]
