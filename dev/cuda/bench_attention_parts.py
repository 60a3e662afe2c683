"""Where the fused decode attention's time goes, and its row order before/after, same run.

Builds the production aprcore/gpu/cuda/attention.cu with two benchmark-only switches
patched in (`variant_source`, so the kernel itself exists once): FUSED_SKIP_MERGE times
the partial pass alone; ATTN_CONTIG deals the cache rows to the blocks contiguously (the
order before STRIDE4). Also times the production register-variant partial pass without
its combine kernel.

    python dev/cuda/bench_attention_parts.py [T] [heads] [kv_heads] [head_dim]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE.parents[1] / "benchmarks"))

from bench_gpu import ATTN_VARIANTS, L2_ROTATE_BYTES, graph_time_ms  # noqa: E402

from aprcore.gpu import GpuUnavailable, require_cupy  # noqa: E402
from aprcore.gpu import kernels as K  # noqa: E402

ROW_ORDER = """#define ATTN_N(T, p0, CH) s4_count(T, (int)blockIdx.x, (int)gridDim.x, CH)
#define ATTN_P0(p0) 0
#define ATTN_ROW(p) (((((p) >> 2) * (int)gridDim.x + (int)blockIdx.x) << 2) + ((p) & 3))
#define ATTN_NC(T, CH) min((int)gridDim.x, ((T) + 3) / 4)
"""
CONTIG = """#ifdef ATTN_CONTIG                    // benchmark-only: contiguous rows per block
#define ATTN_N(T, p0, CH) min(CH, (T) - (p0))
#define ATTN_P0(p0) (p0)
#define ATTN_ROW(p) (p)
#define ATTN_NC(T, CH) (((T) + (CH) - 1) / (CH))
#else
""" + ROW_ORDER + "#endif\n"
MERGE = "    if (!last) return;\n"
SKIP_MERGE = """#ifdef FUSED_SKIP_MERGE                 // benchmark-only: time the partial pass alone
    if (last && threadIdx.x == 0) counter[kvh] = 0;
    return;
#endif
""" + MERGE


def variant_source() -> str:
    """common.cuh + attention.cu with the two switches patched in (each anchor found once)."""
    text = K.source("attention.cu")
    for anchor, patched in ((ROW_ORDER, CONTIG), (MERGE, SKIP_MERGE)):
        if text.count(anchor) != 1:
            raise SystemExit(f"bench_attention_parts: attention.cu changed; update the patch for {anchor!r}")
        text = text.replace(anchor, patched)
    return text


def main(argv: list[str]) -> int:
    try:
        cp = require_cupy()
    except GpuUnavailable as e:
        print(f"bench_attention_parts: skipped, no CUDA device ({e})")
        return 0
    t, nh, nkv, hd = (int(a) for a in (argv + ["4096", "28", "4", "128"][len(argv):]))
    rng = np.random.default_rng(0)
    copies = max(2, -(-L2_ROTATE_BYTES // (2 * nkv * t * hd * 4)))
    kcs = [cp.asarray(rng.standard_normal((nkv, t, hd), dtype=np.float32)) for _ in range(copies)]
    vcs = [cp.asarray(rng.standard_normal((nkv, t, hd), dtype=np.float32)) for _ in range(copies)]
    q = cp.asarray(rng.standard_normal((nh, hd), dtype=np.float32))
    out = cp.empty((nh, hd), cp.float32)
    tokpos = cp.asarray(np.array([0, t - 1, 0], np.int32))
    gqa, scale = nh // nkv, np.float32(1 / np.sqrt(hd))
    src = variant_source()
    res: dict = {}
    ws = K.attention_workspace(nh, hd, t, K.register_chunk(hd), nkv)
    reg = K._attn_fn("attn_decode_partial_reg", gqa, hd)
    nch = ws[0].shape[0]
    res["reg partial only"] = graph_time_ms(cp, lambda i: reg((nch, nkv), (K.ATTN_WARPS * 32,), (
        q, kcs[i % copies], vcs[i % copies], tokpos, ws[0], ws[1], np.int32(t), scale)), 4 * copies) * 1e3

    def fused(aw: int, rk: int, *flags: str) -> float:
        mod = cp.RawModule(code=src, options=K.defines(GQA=gqa, HD=hd, AW=aw, RKMAX=rk, **dict.fromkeys(flags, 1)))
        fn = mod.get_function("attn_decode_fused")
        ws = K.attention_workspace(nh, hd, t, K.fused_chunk(hd, aw, rk), nkv)
        nch = ws[0].shape[0]
        ms = graph_time_ms(cp, lambda i: fn((nch, nkv), (aw * 32,), (
            q, kcs[i % copies], vcs[i % copies], tokpos, ws[0], ws[1], ws[2], out, np.int32(t), scale)), 4 * copies)
        ws[2].fill(0)
        return ms * 1e3

    for name, variant, aw, rk in ATTN_VARIANTS:
        if variant == "fused":
            res[f"{name} partial only"] = fused(aw, rk, "FUSED_SKIP_MERGE")
    aw, rk = K.ATTN_FUSED_WARPS, K.ATTN_FUSED_RK
    for label, flags in [("contiguous", ("ATTN_CONTIG",)), ("contiguous partial", ("ATTN_CONTIG", "FUSED_SKIP_MERGE")),
                         ("stride4", ()), ("stride4 partial", ("FUSED_SKIP_MERGE",))]:
        res[f"row order {label}"] = fused(aw, rk, *flags)
    print(f"attention T={t} {nh}:{nkv} hd{hd} (us):", json.dumps({k: round(v, 2) for k, v in res.items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
