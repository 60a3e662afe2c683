"""The decoder's ops, written once for numpy and CuPy.

Each op takes its array module from its input (`get_array_module`), computes in the
input's dtype (float32 throughout the model) and follows the HF transformers semantics
of Qwen2/Llama exactly: RMSNorm multiplies the weight after normalising, RoPE uses the
rotate-half convention with `inv_freq = 1 / theta**(2i/d)` in float32, attention scales
by `head_dim**-0.5` and query head `h` reads KV head `h // (n_heads // n_kv_heads)`
(HF's `repeat_kv`, i.e. repeat-interleave).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import faults as _faults
from .arrays import get_array_module, to_host

Array = Any  # numpy.ndarray or cupy.ndarray


def linear(x: Array, weight: Array, bias: Array | None = None) -> Array:
    """y = x @ W^T + b with W in HF `[out, in]` layout (a BLAS call on W's transpose view).

    A single row (decode) goes through the matrix-vector product W @ x: BLAS's gemv
    streams W once, while a 1-row gemm is slower on OpenBLAS. Several rows use
    (W @ x^T)^T, which OpenBLAS runs ~15% faster than x @ W^T for these shapes.
    """
    if x.ndim == 2 and x.shape[0] == 1:
        y = (weight @ x[0])[None, :]
    elif x.ndim == 2:
        y = (weight @ x.T).T
    else:
        y = x @ weight.T
    if bias is not None:
        y += bias
    return y


def rms_norm(x: Array, weight: Array, eps: float) -> Array:
    """weight * x / sqrt(mean(x^2) + eps) over the last axis (HF Qwen2RMSNorm/LlamaRMSNorm)."""
    xp = get_array_module(x)
    sq = x * x
    if _faults.on("rmsnorm_sum_order_varies") is not None:  # a fault, on purpose
        sq = sq[..., xp.asarray(np.random.default_rng().permutation(sq.shape[-1]))]
    var = xp.mean(sq, axis=-1, keepdims=True)
    return weight * (x / xp.sqrt(var + x.dtype.type(eps)))


def silu(x: Array) -> Array:
    """x * sigmoid(x). The exponent is clipped at 80 so exp never overflows float32
    (silu of anything below -80 is ~-1e-33 either way)."""
    xp = get_array_module(x)
    return x / (1 + xp.exp(-xp.maximum(x, x.dtype.type(-80.0))))


def swiglu(gate: Array, up: Array) -> Array:
    """The SwiGLU product silu(gate) * up."""
    return silu(gate) * up


def softmax(x: Array, axis: int = -1) -> Array:
    """Softmax with the row maximum subtracted first, so large logits never overflow."""
    xp = get_array_module(x)
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    e /= xp.sum(e, axis=axis, keepdims=True)
    return e


def rope_inv_freq(head_dim: int, theta: float, xp: Any = np) -> Array:
    """1 / theta**(2i/d) for i < d/2, in float32, as HF's default RoPE computes it:
    `1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))`
    (transformers' `_compute_default_rope_parameters`); the angles `positions * inv_freq`
    are float32 products too. The model, the trainer and the GPU decoder all use this."""
    exponent = xp.arange(0, head_dim, 2, dtype=xp.int64).astype(xp.float32) / xp.float32(head_dim)
    return (1.0 / (xp.float32(theta) ** exponent)).astype(xp.float32)


def rope_cos_sin(positions: Array, head_dim: int, theta: float, xp: Any = np) -> tuple[Array, Array]:
    """cos and sin tables `[T, head_dim]` for the given absolute positions (both halves equal)."""
    inv = rope_inv_freq(head_dim, theta, xp)
    if _faults._AMBIENT and "rope_table_too_short" in _faults._AMBIENT:  # a fault, on purpose
        positions = xp.asarray(positions) % int(_faults._AMBIENT["rope_table_too_short"].get("n", 32))
    freqs = xp.asarray(positions, dtype=xp.float32)[:, None] * inv[None, :]
    emb = xp.concatenate([freqs, freqs], axis=-1)
    return xp.cos(emb), xp.sin(emb)


def rotate_half(x: Array) -> Array:
    """[-x2, x1] for x = [x1, x2] split in halves along the last axis."""
    xp = get_array_module(x)
    half = x.shape[-1] // 2
    return xp.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def apply_rope(x: Array, cos: Array, sin: Array) -> Array:
    """Rotate `x` of shape `[T, heads, head_dim]` by the `[T, head_dim]` tables."""
    c, s = cos[:, None, :], sin[:, None, :]
    return x * c + rotate_half(x) * s


def attention(q: Array, k: Array, v: Array, q_start: int = 0, kv_index: Any = None) -> Array:
    """Causal grouped-query attention.

    q: `[T, n_heads, d]` for absolute positions q_start .. q_start+T-1.
    k, v: `[n_kv, S, d]`, positions 0 .. S-1 (a KV cache's filled part).
    kv_index: optional explicit query-head -> KV-head map (default: grouped, h // ratio).
    Returns `[T, n_heads * d]`. Query at position p attends keys 0..p.
    """
    xp = get_array_module(q)
    t, nh, d = q.shape
    nkv, s, _ = k.shape
    g = nh // nkv
    scale = q.dtype.type(1.0 / np.sqrt(d))
    if kv_index is None and _faults._AMBIENT and "gqa_head_mapping" in _faults._AMBIENT:
        kv_index = np.arange(nh) % nkv  # the fault, reaching direct callers of the op too
    if kv_index is None:
        # Heads h = j*g .. j*g+g-1 share KV head j: one batched matmul per KV head.
        qg = (q * scale).transpose(1, 0, 2).reshape(nkv, g * t, d)
        scores = (qg @ k.transpose(0, 2, 1)).reshape(nkv, g, t, s)
    else:
        # Explicit map (MHA-style gather of KV heads): the reference for any mapping.
        idx = xp.asarray(kv_index)
        kk, vv = k[idx], v[idx]
        scores = (q * scale).transpose(1, 0, 2) @ kk.transpose(0, 2, 1)  # [nh, t, s]
    if t > 1 or q_start + t < s:
        qpos = xp.arange(q_start, q_start + t)[:, None]
        kpos = xp.arange(s)[None, :]
        scores = xp.where(kpos <= qpos, scores, q.dtype.type(-np.inf))
    probs = softmax(scores, axis=-1)
    if kv_index is None:
        out = probs.reshape(nkv, g * t, s) @ v  # [nkv, g*t, d]
        out = out.reshape(nh, t, d)
    else:
        out = probs @ vv  # [nh, t, d]
    return out.transpose(1, 0, 2).reshape(t, nh * d)


def cosine(a: Array, b: Array) -> float:
    """Cosine similarity of two arrays taken as flat vectors, in float64 (NaN propagates)."""
    a64 = np.asarray(to_host(a), dtype=np.float64).ravel()
    b64 = np.asarray(to_host(b), dtype=np.float64).ravel()
    with np.errstate(invalid="ignore", over="ignore"):  # inf/NaN give NaN: callers fail closed
        denom = np.linalg.norm(a64) * np.linalg.norm(b64)
        if denom == 0.0:
            return 1.0 if not a64.any() and not b64.any() else 0.0
        return float(a64 @ b64 / denom)


def nmse(reference: Array, other: Array) -> float:
    """sum((ref - other)^2) / sum(ref^2), llama.cpp test-backend-ops' metric, in float64.

    A NaN or infinity in either array gives inf, so every `nmse < tolerance` check fails
    closed; two all-zero arrays give 0, a zero reference against anything else inf.
    """
    r = np.asarray(to_host(reference), dtype=np.float64).ravel()
    o = np.asarray(to_host(other), dtype=np.float64).ravel()
    if not (np.isfinite(r).all() and np.isfinite(o).all()):
        return float("inf")
    with np.errstate(over="ignore"):
        den = float(r @ r)
        num = float((r - o) @ (r - o))
    if den == 0.0:
        return 0.0 if num == 0.0 else float("inf")
    return num / den
