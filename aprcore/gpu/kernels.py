"""Launch wrappers of the hand-written kernels in `cuda/*.cu` (CuPy RawModule).

Each op's kernels live in one `.cu` file, shipped as package data and prepended with
`cuda/common.cuh` (warp reductions, fp16 bits). `KERNELS` names the file of every
kernel; a file is compiled on first use, once per set of defines it takes: only
attention.cu is specialised (per GQA ratio, head dim and tile), so a new ratio
recompiles attention alone.

Each wrapper takes device arrays only (a numpy array raises HostArrayError), writes into
a caller-given `out` when one is passed (so a decode step allocates nothing and can be
captured in a CUDA graph), and documents the layout it expects. The numpy reference of
each lives in `aprcore.gpu.reference`.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

import numpy as np

from ..quant.layout import Q4_K, QK_K
from .device import ensure_device, require_cupy

MATVEC_WARPS = 8          # per block; ks of them share one output row (split-K)
Q4K_MAX_KS = 4            # measured on an H200: 4-way split-K beats 8 at 4096 and 18944 columns
TARGET_WARPS = 8192       # split K until about this many warps are in flight
Q4K2_ROWS = 4             # rows per warp of the Q4_K kernel (2 or 4)
Q4K2_WARPS = 4            # warps per block of the Q4_K kernel
Q4K2_TARGET_WARPS = 1536  # split K only while fewer warps than this (about 12 per SM) are in flight
ATTN_WARPS = 4
ATTN_FUSED_WARPS = 8      # warps per block of the fused decode attention kernel
ATTN_FUSED_RK = 8         # cap on its K steps per warp (RKMAX in the source; 4 positions a step)
COMBINE_THREADS = 1024   # 32 chunk groups of 32 float4 columns at head_dim 128

# kernel -> the file under cuda/ that defines it
KERNELS: dict[str, str] = {
    "rmsnorm_f32": "rmsnorm.cu",
    **dict.fromkeys(("matvec_f32", "matvec_f32_swiglu", "matvec_f32_norm", "matvec_f32_swiglu_norm"),
                    "matvec.cu"),
    "quantize_q8_32": "quantize_q8.cu",
    **dict.fromkeys(("q4k2_matvec_r2", "q4k2_matvec_r4", "q4k2_matvec_swiglu_r2",
                     "q4k2_matvec_swiglu_r4"), "q4k_matvec.cu"),
    "embed_f32": "embed.cu",
    "rope_append": "rope_append.cu",
    "argmax_advance": "argmax.cu",
    **dict.fromkeys(("attn_decode_partial_reg", "attn_decode_partial", "attn_decode_combine",
                     "attn_decode_fused"), "attention.cu"),
}
COMMON = "common.cuh"
OPTIONS = ("-std=c++14",)


def source(file: str) -> str:
    """The CUDA source NVRTC compiles for `file`: common.cuh, then the file."""
    cuda = files(__package__) / "cuda"
    return (cuda / COMMON).read_text(encoding="utf-8") + (cuda / file).read_text(encoding="utf-8")


def defines(**values: int) -> tuple[str, ...]:
    """NVRTC options: the common ones plus -DNAME=value for each define."""
    return OPTIONS + tuple(f"-D{k}={v}" for k, v in sorted(values.items()))


@cache
def _module(file: str, defs: tuple[tuple[str, int], ...]) -> Any:
    return require_cupy().RawModule(code=source(file), options=defines(**dict(defs)))


@cache
def _fn(name: str, **defs: int) -> Any:
    """Kernel `name`, compiled from its file with `defs` (GQA, HD, AW, RKMAX for attention)."""
    return _module(KERNELS[name], tuple(sorted(defs.items()))).get_function(name)


def _attn_fn(name: str, gqa: int, hd: int, aw: int = ATTN_FUSED_WARPS, rk: int = ATTN_FUSED_RK) -> Any:
    return _fn(name, GQA=gqa, HD=hd, AW=aw, RKMAX=rk)


def _i(v: int) -> np.int32:
    return np.int32(v)


def _empty(shape: Any, dtype: Any = np.float32) -> Any:
    return require_cupy().empty(shape, dtype=dtype)


def _check_contig(*arrays: Any) -> None:
    for a in arrays:
        if a is not None and not a.flags.c_contiguous:
            raise ValueError("GPU kernels need C-contiguous arrays")


def _check_f32(*arrays: Any) -> None:
    for a in arrays:
        if a is not None and a.dtype != np.float32:
            raise TypeError(f"GPU kernels take float32 activations and weights, got {a.dtype}")


def _split_k(units: int, slots: int, max_ks: int) -> int:
    """Warps per output unit: double while the grid is small and each warp keeps work."""
    ks = 1
    while ks < max_ks and units * ks < TARGET_WARPS and slots >= 2 * ks:
        ks *= 2
    return ks


# ------------------------------------------------------------------ RMSNorm


def rmsnorm(x: Any, w: Any, eps: float, out: Any = None) -> Any:
    """y = x * rsqrt(mean(x^2, -1) + eps) * w over the last axis; x [..., n] float32."""
    ensure_device(x, w, out, what="rmsnorm")
    _check_f32(x, w, out)
    n = x.shape[-1]
    rows = x.size // n
    out = _empty(x.shape) if out is None else out
    _check_contig(x, w, out)
    threads = 256 if n >= 256 else 32 * ((n + 31) // 32)
    _fn("rmsnorm_f32")((rows,), (threads,), (x, w, out, _i(n), np.float32(eps)))
    return out


# ------------------------------------------------------------------ float32 matvec


def matvec(w: Any, x: Any, bias: Any = None, resid: Any = None, out: Any = None,
           norm: Any = None, eps: float = 0.0) -> Any:
    """y = w @ x (+ bias) (+ resid); w [rows, cols] float32. `out` may be `resid` (in place).

    With `norm` (an RMSNorm weight), x is normalized first, inside the same kernel:
    y = w @ rmsnorm(x, norm, eps).
    """
    ensure_device(w, x, bias, resid, out, norm, what="matvec")
    rows, cols = w.shape
    out = _empty((rows,)) if out is None else out
    _check_contig(w, x, bias, resid, out, norm)
    _check_f32(w, x, bias, resid, out, norm)
    ks = _split_k(rows, (cols // 4 if cols % 4 == 0 else cols) // 32, MATVEC_WARPS)
    grid = -(-rows // (MATVEC_WARPS // ks))
    args = (w, x, bias if bias is not None else x, resid if resid is not None else x, out,
            _i(rows), _i(cols), _i(bias is not None), _i(resid is not None), _i(ks))
    if norm is None:
        _fn("matvec_f32")((grid,), (MATVEC_WARPS * 32,), args)
    else:
        _fn("matvec_f32_norm")((grid,), (MATVEC_WARPS * 32,), (*args, norm, np.float32(eps)))
    return out


def matvec_swiglu(w: Any, x: Any, out: Any = None, norm: Any = None, eps: float = 0.0) -> Any:
    """silu(w[:F] @ x) * (w[F:] @ x) for a stacked gate-over-up w [2F, cols] (x normalized
    first, in the kernel, when `norm` is given)."""
    ensure_device(w, x, out, norm, what="matvec_swiglu")
    rows2, cols = w.shape
    f = rows2 // 2
    out = _empty((f,)) if out is None else out
    _check_contig(w, x, out, norm)
    _check_f32(w, x, out, norm)
    ks = _split_k(f, (cols // 4 if cols % 4 == 0 else cols) // 32, MATVEC_WARPS)
    grid = -(-f // (MATVEC_WARPS // ks))
    args = (w, x, out, _i(f), _i(cols), _i(ks))
    if norm is None:
        _fn("matvec_f32_swiglu")((grid,), (MATVEC_WARPS * 32,), args)
    else:
        _fn("matvec_f32_swiglu_norm")((grid,), (MATVEC_WARPS * 32,), (*args, norm, np.float32(eps)))
    return out


# ------------------------------------------------------------------ Q4_K


def quantize_q8(x: Any, xq: Any = None, xs: Any = None, norm: Any = None, eps: float = 0.0) -> tuple[Any, Any]:
    """Activations as two int8 vectors per 32-block (value and residual; see the kernel)
    plus (scale, float sum): the operand of the Q4_K dp4a kernel."""
    ensure_device(x, xq, xs, norm, what="quantize_q8")
    n = x.size
    if n % 32:
        raise ValueError(f"quantize_q8 needs a multiple of 32 elements, got {n}")
    xq = _empty((2 * n,), np.int8) if xq is None else xq
    if xq.size < 2 * n:
        raise ValueError(f"quantize_q8 scratch holds {xq.size} bytes, needs {2 * n}")
    xs = _empty((n // 32, 2), np.float32) if xs is None else xs
    grid = (n + 127) // 128
    _fn("quantize_q8_32")((grid,), (128,), (x, xq, xs, _i(n), norm if norm is not None else x,
                                            np.float32(eps), _i(norm is not None)))
    return xq, xs


def _q4k_check(wq: Any, rows: int, cols: int) -> int:
    if cols % QK_K:
        raise ValueError(f"Q4_K rows must hold a multiple of {QK_K} weights, got {cols}")
    if wq.dtype != np.uint8 or wq.size != rows * Q4_K.row_bytes(cols):
        raise ValueError(f"packed Q4_K data {wq.shape} {wq.dtype} does not hold [{rows}, {cols}]")
    return cols // QK_K


def q4k_plan(units: int, nb: int, rows_per_warp: int = Q4K2_ROWS) -> tuple[int, int, int]:
    """(rows per warp, warps per row group (split-K), warps per block) of the Q4_K kernel.

    A warp covers 8 super-blocks per step; split K while the grid is small and each warp
    keeps at least one full step. Measured on an H200 (R, ks, warps swept, benchmarks/README.md):
    4 rows per warp wins at every shape; 4096x4096 and 3584x18944 take ks=2, 18944x3584 ks=1."""
    ks = 1
    while ks < Q4K_MAX_KS and units * ks < Q4K2_TARGET_WARPS and 16 * ks <= nb + 8:
        ks *= 2
    return rows_per_warp, ks, Q4K2_WARPS


def _q4k_launch(wq: Any, xq: Any, xs: Any, bias: Any, resid: Any, out: Any, rows: int, nb: int,
                swiglu: bool, plan: tuple[int, int, int] | None, dummy: Any) -> None:
    r = plan[0] if plan is not None else Q4K2_ROWS
    nout = r // 2 if swiglu else r
    groups = -(-rows // nout)
    r, ks, nw = plan if plan is not None else q4k_plan(groups, nb, r)
    if r not in (2, 4) or nw % ks or nw > 8:
        raise ValueError(f"bad Q4_K launch plan {plan}")
    grid = -(-groups // (nw // ks))
    if swiglu:
        _fn(f"q4k2_matvec_swiglu_r{r}")((grid,), (nw * 32,), (wq, xq, xs, out, _i(rows), _i(nb), _i(ks)))
    else:
        _fn(f"q4k2_matvec_r{r}")((grid,), (nw * 32,), (
            wq, xq, xs, bias if bias is not None else dummy, resid if resid is not None else dummy, out,
            _i(rows), _i(nb), _i(bias is not None), _i(resid is not None), _i(ks)))


def q4k_matvec(wq: Any, x: Any, rows: int, cols: int, bias: Any = None, resid: Any = None,
               out: Any = None, scratch: tuple[Any, Any] | None = None, norm: Any = None,
               eps: float = 0.0, plan: Any = None) -> Any:
    """y = dequant(wq) @ x (+ bias) (+ resid), reading ggml Q4_K blocks [rows, cols/256*144]
    (x RMS-normalized by `norm` first, in the quantize pass, when given). `plan`: None (the
    default launch) or (rows per warp, split-K, warps per block)."""
    ensure_device(wq, x, bias, resid, out, what="q4k_matvec")
    nb = _q4k_check(wq, rows, cols)
    xq, xs = quantize_q8(x, *(scratch or (None, None)), norm=norm, eps=eps)
    out = _empty((rows,)) if out is None else out
    _check_contig(wq, x, bias, resid, out)
    _check_f32(x, bias, resid, out)
    _q4k_launch(wq, xq, xs, bias, resid, out, rows, nb, False, plan, x)
    return out


def q4k_matvec_swiglu(wq: Any, x: Any, rows: int, cols: int, out: Any = None,
                      scratch: tuple[Any, Any] | None = None, norm: Any = None, eps: float = 0.0,
                      plan: Any = None) -> Any:
    """silu(gate @ x) * (up @ x) for packed Q4_K gate rows stacked over up rows ([2*rows] rows)."""
    ensure_device(wq, x, out, what="q4k_matvec_swiglu")
    nb = _q4k_check(wq, 2 * rows, cols)
    xq, xs = quantize_q8(x, *(scratch or (None, None)), norm=norm, eps=eps)
    out = _empty((rows,)) if out is None else out
    _check_f32(x, out)
    _q4k_launch(wq, xq, xs, None, None, out, rows, nb, True, plan, x)
    return out


# ------------------------------------------------------------------ embedding, RoPE, KV cache


def embed(table: Any, tokpos: Any, out: Any) -> Any:
    """out = table[tokpos[0]] (the token id read from device memory)."""
    ensure_device(table, tokpos, out, what="embed")
    h = table.shape[1]
    _fn("embed_f32")(((h + 255) // 256,), (256,), (table, tokpos, out, _i(h)))
    return out


def rope_append(qkv: Any, kc: Any, vc: Any, inv_freq: Any, tokpos: Any,
                nh: int, nkv: int, hd: int) -> None:
    """Rotate q (in place) and k at position tokpos[1]; write k, v into caches [nkv, max_t, hd]."""
    ensure_device(qkv, kc, vc, inv_freq, tokpos, what="rope_append")
    max_t = kc.shape[1]
    total = (nh + nkv) * (hd // 2) + nkv * hd
    _fn("rope_append")(((total + 255) // 256,), (256,), (
        qkv, kc, vc, inv_freq, tokpos, _i(nh), _i(nkv), _i(hd), _i(max_t)))


def argmax_advance(logits: Any, tokpos: Any, out_tokens: Any) -> None:
    """On the device: tokpos[0] = argmax(logits); out_tokens[tokpos[2]++] = it; tokpos[1]++."""
    ensure_device(logits, tokpos, out_tokens, what="argmax_advance")
    _fn("argmax_advance")((1,), (1024,), (logits, _i(logits.size), tokpos, out_tokens))


def register_chunk(hd: int) -> int:
    """The chunk the register variant of the split decode attention kernel covers."""
    lpp = min(32, hd // 4)
    return ATTN_WARPS * (32 // lpp) * 8


def fused_chunk(hd: int, aw: int = ATTN_FUSED_WARPS, rkmax: int = ATTN_FUSED_RK) -> int:
    """Positions per block of the fused decode attention kernel (AW * PW in the source)."""
    v4 = hd // 4
    lpk = min(v4, 8)
    ppk = 32 // lpk
    f4k = v4 // lpk
    rk = min(16 // f4k, rkmax)
    if rk * ppk > 64:
        rk = 64 // ppk
    return aw * ppk * rk


def attention_workspace(nh: int, hd: int, max_t: int, chunk: int | None = None,
                        nkv: int | None = None) -> tuple[Any, Any, Any]:
    """(partial outputs, (max, sum) pairs, per-KV-head arrival counters) for max_t positions."""
    chunk = fused_chunk(hd) if chunk is None else chunk
    nchunks = (max_t + chunk - 1) // chunk
    counter = require_cupy().zeros(nh if nkv is None else nkv, dtype=np.int32)
    return _empty((nchunks, nh, hd)), _empty((nchunks, nh, 2)), counter


def _fused_fits(gqa: int, hd: int, aw: int, rk: int) -> bool:
    """Static shared memory of the fused kernel: scores [GQA][chunk] + sums [AW/2][GQA][HD]."""
    return (gqa * fused_chunk(hd, aw, rk) + aw // 2 * gqa * hd) * 4 + 64 <= 48 * 1024


def decode_attention(q: Any, kc: Any, vc: Any, tokpos: Any, out: Any,
                     workspace: tuple[Any, ...] | None = None, chunk: int | None = None,
                     variant: str = "auto", aw: int = ATTN_FUSED_WARPS, rk: int = ATTN_FUSED_RK) -> Any:
    """Grouped-query attention of one query position over cache positions 0..tokpos[1].

    q [nh, hd] (already rotated); kc, vc [nkv, max_t, hd]; query head h reads KV head
    h // (nh // nkv). Any ratio nh:nkv works (the kernel is compiled per ratio), head_dim
    a power of two from 4 to 256.

    variant "fused" (the default when chunk is None or equals fused_chunk(hd)): one launch,
    the chunks merged by the last block of each KV head; "reg" / "split": a partial pass
    (K and V rows in registers, or looped through shared memory at any chunk) and a
    separate combine kernel.
    """
    ensure_device(q, kc, vc, tokpos, out, what="decode_attention")
    nkv, max_t, hd = kc.shape
    nh = q.size // hd
    if nh % nkv:
        raise ValueError(f"{nh} query heads do not group over {nkv} KV heads")
    if hd < 4 or hd > 256 or hd & (hd - 1):
        raise ValueError(f"decode_attention supports power-of-two head_dim 4..256, got {hd}")
    gqa = nh // nkv
    if variant == "auto":
        if (chunk is None or chunk == fused_chunk(hd, aw, rk)) and _fused_fits(gqa, hd, aw, rk):
            variant = "fused"
        else:
            chunk = register_chunk(hd) if chunk is None else chunk
            variant = "reg" if chunk == register_chunk(hd) else "split"
    if variant == "fused":
        chunk = fused_chunk(hd, aw, rk)
    elif variant == "reg":
        chunk = register_chunk(hd)
    elif chunk is None:
        raise ValueError("the split variant needs a chunk")
    if chunk % 4:
        raise ValueError("chunk must be a multiple of 4")
    ws = workspace if workspace is not None else attention_workspace(nh, hd, max_t, chunk, nkv)
    opart, ml = ws[0], ws[1]
    nchunks = -(-max_t // chunk)
    if opart.shape[0] < nchunks or opart.shape[1:] != (nh, hd):
        raise ValueError("attention workspace too small for the cache")
    _check_f32(q, kc, vc, out)
    scale = np.float32(1.0 / np.sqrt(hd))
    if variant == "fused":
        counter = ws[2]
        if counter.size < nkv:
            raise ValueError("attention workspace has too few counters")
        _attn_fn("attn_decode_fused", gqa, hd, aw, rk)((nchunks, nkv), (aw * 32,), (
            q, kc, vc, tokpos, opart, ml, counter, out, _i(max_t), scale))
        return out
    smem = (gqa * chunk + ATTN_WARPS * gqa * hd) * 4
    if smem > 48 * 1024:
        raise ValueError(f"decode_attention needs {smem} bytes of shared memory for ratio {gqa}, "
                         f"head_dim {hd}, chunk {chunk}; use a smaller chunk")
    if variant == "reg":   # K and V rows held in registers: one DRAM round trip
        _attn_fn("attn_decode_partial_reg", gqa, hd)((nchunks, nkv), (ATTN_WARPS * 32,), (
            q, kc, vc, tokpos, opart, ml, _i(max_t), scale))
    else:
        _attn_fn("attn_decode_partial", gqa, hd)((nchunks, nkv), (ATTN_WARPS * 32,), (
            q, kc, vc, tokpos, opart, ml, _i(max_t), _i(chunk), scale), shared_mem=smem)
    maxc = -(-nchunks // 4) * 4
    _attn_fn("attn_decode_combine", gqa, hd)((nh,), (COMBINE_THREADS,), (
        opart, ml, tokpos, out, _i(nh), _i(chunk), _i(maxc)), shared_mem=(maxc + 4 * COMBINE_THREADS) * 4)
    return out
