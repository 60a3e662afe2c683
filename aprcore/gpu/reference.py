"""numpy references of the GPU kernels, and honest Q4_K test data.

Each function here is the specification its CUDA kernel is parity-tested against
(float64 arithmetic where the kernel accumulates, so the reference error is negligible
next to the kernel's). Nothing here imports cupy: these run and are tested on the CPU,
and no production module imports this one. The Q4_K layout is `aprcore.quant.layout`'s;
Q4_K weights decode with `aprcore.quant.dequantize` (bit-exact with ggml).
"""

from __future__ import annotations

import numpy as np

from ..quant import q4_k
from ..quant.layout import Q4_K, QK_K


def random_q4k(rows: int, cols: int, rng: np.random.Generator, scale: float = 0.02) -> np.ndarray:
    """Valid Q4_K bytes [rows, cols/256*144] with every field drawn at random.

    Weights land roughly in [-4*scale, 4*scale]; all 6-bit scales/mins and nibbles take
    their full ranges, so the high bits of the packed scale bytes are exercised.
    """
    n = Q4_K.row_bytes(cols) // Q4_K.nbytes * rows
    d = (rng.uniform(0.5, 1.5, n) * scale / 63 / 15 * 8).astype(np.float16)
    dmin = (rng.uniform(0.5, 1.5, n) * scale / 63 * 4).astype(np.float16)
    sc = rng.integers(0, 64, (n, 8))
    mn = rng.integers(0, 64, (n, 8))
    q = rng.integers(0, 16, (n, QK_K))
    return q4_k.pack(d, dmin, sc, mn, q).reshape(rows, -1)


def random_q4k_bytes(rows: int, cols: int, rng: np.random.Generator, scale: float = 0.02) -> np.ndarray:
    """Valid Q4_K bytes for large matrices, cheaply: every byte random, then d and dmin set.

    Any byte pattern is a valid set of 6-bit scales/mins and nibbles, so only the two fp16
    fields need values (finite, small). One byte of randomness per byte of output.
    """
    n = Q4_K.row_bytes(cols) // Q4_K.nbytes * rows
    out = rng.integers(0, 256, size=(n, Q4_K.nbytes), dtype=np.uint8)
    out[:, Q4_K.span("d")] = np.float16(scale / 63 / 15 * 8).reshape(1).view(np.uint8)
    out[:, Q4_K.span("dmin")] = np.float16(scale / 63 * 4).reshape(1).view(np.uint8)
    return out.reshape(rows, -1)


# ------------------------------------------------------------------ op references


def rmsnorm_ref(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    x64 = x.astype(np.float64)
    return x64 / np.sqrt(np.mean(x64 * x64, axis=-1, keepdims=True) + eps) * w.astype(np.float64)


def matvec_ref(w: np.ndarray, x: np.ndarray, bias: np.ndarray | None = None,
               resid: np.ndarray | None = None) -> np.ndarray:
    y = w.astype(np.float64) @ x.astype(np.float64)
    if bias is not None:
        y = y + bias
    if resid is not None:
        y = y + resid
    return y


def swiglu_matvec_ref(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """w stacks gate rows over up rows ([2F, H]): silu(gate @ x) * (up @ x)."""
    y = w.astype(np.float64) @ x.astype(np.float64)
    g, u = np.split(y, 2)
    return g / (1.0 + np.exp(-g)) * u


def rope_ref(x: np.ndarray, pos: int, theta: float) -> np.ndarray:
    """HF rotate-half RoPE of [heads, hd] at one position."""
    hd = x.shape[-1]
    # the angle in float32, as HF computes it (inv_freq and pos * inv_freq in float32)
    inv = (1.0 / (theta ** (np.arange(0, hd, 2, dtype=np.float32) / np.float32(hd)))).astype(np.float32)
    ang = (np.float32(pos) * inv).astype(np.float64)
    c, s = np.cos(ang), np.sin(ang)
    x1, x2 = x[..., : hd // 2].astype(np.float64), x[..., hd // 2:].astype(np.float64)
    return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], axis=-1)


def decode_attention_ref(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """One query position against T cached ones, grouped-query.

    q [nh, hd]; k, v [nkv, T, hd]; query head h reads KV head h // (nh // nkv)
    (HF's repeat_kv order). Returns [nh, hd].
    """
    nh, hd = q.shape
    nkv = k.shape[0]
    kv_of = np.arange(nh) // (nh // nkv)
    s = np.einsum("hd,htd->ht", q.astype(np.float64), k[kv_of].astype(np.float64)) / np.sqrt(hd)
    s -= s.max(axis=-1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(axis=-1, keepdims=True)
    return np.einsum("ht,htd->hd", p, v[kv_of].astype(np.float64))


def random_weights(cfg, rng: np.random.Generator, scale: float = 0.02) -> dict[str, np.ndarray]:
    """HF-named float32 weights drawn at random (norm gains near 1) for a config."""
    from ..weights import expected_shapes

    out = {}
    for name, shape in expected_shapes(cfg).items():
        x = rng.standard_normal(shape, dtype=np.float32)
        out[name] = (1.0 + 0.1 * x) if name.endswith("norm.weight") else x * np.float32(scale)
    return out
