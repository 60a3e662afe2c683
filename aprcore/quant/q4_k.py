"""Q4_K: super-blocks of 256 weights in 8 sub-blocks of 32, each with a 6-bit scale and
min under two fp16 super-scales (ggml's quantize_row_q4_K_ref / dequantize_row_q4_K).

weight = d * sc[i] * q - dmin * m[i]. The byte layout is `LAYOUT` (`layout.LAYOUTS`);
`pack` writes the fields into it, for the quantizer and for test data alike.
"""

from __future__ import annotations

import numpy as np

from .. import faults as _faults
from .ggml_float import F32, fp16_bytes, fp16_roundtrip, nearest_int, seqsum
from .layout import LAYOUTS, QK_K

LAYOUT = LAYOUTS["Q4_K"]
_D, _DMIN, _SCALES, _QS = (LAYOUT.span(f) for f in ("d", "dmin", "scales", "qs"))
_HEADER = slice(_D.start, _SCALES.stop)  # d, dmin and the scale bytes: four 32-bit words


def pack(d: np.ndarray, dmin: np.ndarray, sc: np.ndarray, mn: np.ndarray, q: np.ndarray) -> np.ndarray:
    """ggml blocks from their fields: d, dmin (n,) float (stored as fp16); sc, mn (n, 8) in
    0..63 (6-bit scales and mins); q (n, 256) in 0..15, in weight order."""
    n = d.shape[0]
    sc = np.asarray(sc).astype(np.uint8)
    mn = np.asarray(mn).astype(np.uint8)
    out = np.empty((n, LAYOUT.nbytes), np.uint8)
    out[:, _D] = fp16_bytes(np.asarray(d).reshape(n))
    out[:, _DMIN] = fp16_bytes(np.asarray(dmin).reshape(n))
    s = out[:, _SCALES]
    s[:, 0:4] = (sc[:, :4] & 63) | ((sc[:, 4:] >> 4) << 6)
    s[:, 4:8] = (mn[:, :4] & 63) | ((mn[:, 4:] >> 4) << 6)
    s[:, 8:12] = (sc[:, 4:] & 0xF) | ((mn[:, 4:] & 0xF) << 4)
    qq = np.asarray(q).astype(np.uint8).reshape(n, 4, 2, 32)
    out[:, _QS] = (qq[:, :, 0, :] | (qq[:, :, 1, :] << 4)).reshape(n, QK_K // 2)
    return out


def _make_qkx2_quants(x: np.ndarray, w: np.ndarray, nmax: int, rmin: float, rdelta: float,
                      nstep: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """make_qkx2_quants over columns: x, w are (n, groups). Returns scale, the_min, L (n, groups)."""
    mn = x.min(axis=0)
    mx = x.max(axis=0)
    sum_w = seqsum(w)
    sum_x = seqsum(w * x)
    mn = np.where(mn > 0, F32(0), mn).astype(F32)
    flat = mx == mn
    fnmax = F32(nmax)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        iscale = fnmax / (mx - mn)
        scale = F32(1) / iscale
        L = np.clip(nearest_int(iscale * (x - mn)), 0, nmax)
        diff = (scale * L.astype(F32) + mn) - x  # int32 * float32 would promote to float64
        best = seqsum(w * (diff * diff))
        for step in range(nstep + 1):
            iscale = ((F32(rmin) + F32(rdelta) * F32(step)) + fnmax) / (mx - mn)
            laux = np.clip(nearest_int(iscale * (x - mn)), 0, nmax)
            lf = laux.astype(F32)
            wl = w * lf
            sum_l = seqsum(wl)
            sum_l2 = seqsum(wl * lf)
            sum_xl = seqsum(wl * x)
            D = sum_w * sum_l2 - sum_l * sum_l
            this_scale = (sum_w * sum_xl - sum_x * sum_l) / D
            this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D
            pos = this_min > 0
            this_min = np.where(pos, F32(0), this_min)
            this_scale = np.where(pos, sum_xl / sum_l2, this_scale)
            diff = (this_scale * lf + this_min) - x
            cur = seqsum(w * (diff * diff))
            upd = (D > 0) & (cur < best) & ~flat
            L = np.where(upd, laux, L)
            best = np.where(upd, cur, best)
            scale = np.where(upd, this_scale, scale)
            mn = np.where(upd, this_min, mn)
    L = np.where(flat, 0, L)
    scale = np.where(flat, F32(0), scale).astype(F32)
    return scale, (-mn).astype(F32), L


def scales_mins(blk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """d * sc and dmin * m of all 8 sub-blocks (get_scale_min_k4), as float32 (n, 8) views.

    Works on the 16 header bytes transposed to (4, n) uint32 words, so that every numpy
    call runs one long row instead of n short ones (per-row overhead dominated the
    column-wise version), with ggml's kmask trick: four 6-bit fields per operation.
    d * sc is exact (11-bit by 6-bit mantissas), in either order.
    """
    nb = blk.shape[0]
    h = np.ascontiguousarray(blk[:, _HEADER].view("<u4").T)  # (4, n): d|dmin, then 12 scale bytes
    dm = h[0].view("<f2").astype(F32)  # d, dmin interleaved
    u0, u1, u2 = h[1], h[2], h[3]
    s = np.empty((4, nb), "<u4")  # bytes of: scales 0-3, scales 4-7, mins 0-3, mins 4-7
    np.bitwise_and(u0, _K3F, out=s[0])
    np.bitwise_and(u1, _K3F, out=s[2])
    t = np.right_shift(u0, 6)
    t &= _K03
    t <<= 4
    np.bitwise_and(u2, _K0F, out=s[1])
    s[1] |= t
    np.right_shift(u1, 6, out=t)
    t &= _K03
    t <<= 4
    np.right_shift(u2, 4, out=s[3])
    s[3] &= _K0F
    s[3] |= t
    f = np.empty((4, 4, nb), F32)  # [word, byte, block]: long rows again
    np.copyto(f, s.view(np.uint8).reshape(4, nb, 4).transpose(0, 2, 1))
    f[0:2] *= dm[0::2]
    f[2:4] *= dm[1::2]
    if _faults._AMBIENT and "q4k_mins_ignored" in _faults._AMBIENT:  # a fault, on purpose
        f[2:4] = 0
    return f[0:2].reshape(8, nb).T, f[2:4].reshape(8, nb).T


_K3F, _K0F, _K03 = np.uint32(0x3F3F3F3F), np.uint32(0x0F0F0F0F), np.uint32(0x03030303)


def quantize_blocks(b: np.ndarray) -> np.ndarray:
    nb = b.shape[0]
    xs = b.reshape(nb * 8, 32).T.copy()  # (32, sub-blocks): element position first
    sum_x2 = seqsum(xs * xs)
    av_x = np.sqrt(sum_x2 / F32(32))
    w = av_x + np.abs(xs)
    scales, mins, L = _make_qkx2_quants(xs, w, 15, -1.0, 0.1, 20)
    scales = scales.reshape(nb, 8)
    mins = mins.reshape(nb, 8)
    max_scale = np.maximum(scales.max(axis=1), F32(0))
    max_min = np.maximum(mins.max(axis=1), F32(0))
    with np.errstate(divide="ignore"):
        inv_scale = np.where(max_scale > 0, F32(63) / max_scale, F32(0)).astype(F32)
        inv_min = np.where(max_min > 0, F32(63) / max_min, F32(0)).astype(F32)
    ls = np.minimum(nearest_int(inv_scale[:, None] * scales) & 0xFF, 63).astype(np.uint8)
    lm = np.minimum(nearest_int(inv_min[:, None] * mins) & 0xFF, 63).astype(np.uint8)
    dh = (max_scale / F32(63)).astype(F32)
    mh = (max_min / F32(63)).astype(F32)
    # Requantize against the stored (fp16, 6-bit) scales, as the reference does.
    d = fp16_roundtrip(dh)[:, None] * ls.astype(F32)  # (nb, 8)
    dm = fp16_roundtrip(mh)[:, None] * lm.astype(F32)
    xb = b.reshape(nb, 8, 32)
    with np.errstate(divide="ignore", invalid="ignore"):
        lq = np.clip(nearest_int((xb + dm[:, :, None]) / d[:, :, None]), 0, 15)
    L = L.T.reshape(nb, 8, 32)
    L = np.where((d != 0)[:, :, None], lq, L)
    return pack(dh, mh, ls, lm, L.reshape(nb, QK_K))


def dequantize_blocks(blk: np.ndarray, out: np.ndarray) -> None:
    # Bit-exact with gguf/ggml: (d * sc) * q - dmin * m in float32 (d * sc and its product
    # with a 4-bit q are exact, so only the subtraction rounds). Cost is in numpy's
    # per-row overhead of ops broadcast over 32-weight sub-blocks, so as few as possible
    # are: nibbles are split with flat uint64 ops (8 bytes at a time), cast to float32
    # straight into their interleaved places in `out`, then one multiply and one
    # subtract broadcast in place (no float temporaries).
    nb = blk.shape[0]
    d1, m1 = scales_mins(blk)
    w = np.ascontiguousarray(blk[:, _QS]).view(np.uint64)  # (nb, 16): 128 bytes of nibbles
    lo = np.bitwise_and(w, _NIB)
    hi = np.right_shift(w, _U64_4)
    hi &= _NIB
    o = out.reshape(nb, 4, 2, 32)  # 4 groups of 64 weights: 32 low nibbles, then 32 high
    np.copyto(o[:, :, 0], lo.view(np.uint8).reshape(nb, 4, 32), casting="unsafe")
    np.copyto(o[:, :, 1], hi.view(np.uint8).reshape(nb, 4, 32), casting="unsafe")
    o8 = out.reshape(nb, 8, 32)
    o8 *= d1[:, :, None]
    o8 -= m1[:, :, None]


_NIB = np.uint64(0x0F0F0F0F0F0F0F0F)
_U64_4 = np.uint64(4)
