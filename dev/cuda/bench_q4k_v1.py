"""The first Q4_K matvec kernel (q4k_matvec_v1.cu) against the production one, same run.

Both read the same packed weights and int8 activations; the outputs are compared (NMSE)
before anything is timed, then each is timed as CUDA-graph replays over weight copies
that exceed the L2 cache (benchmarks/bench_gpu.py's method).

    python dev/cuda/bench_q4k_v1.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE.parents[1] / "benchmarks"))

from bench_gpu import L2_ROTATE_BYTES, copy_bandwidth, graph_time_ms  # noqa: E402

from aprcore.gpu import GpuUnavailable, require_cupy  # noqa: E402
from aprcore.gpu import kernels as K  # noqa: E402
from aprcore.gpu.reference import random_q4k  # noqa: E402
from aprcore.ops import nmse  # noqa: E402
from aprcore.quant.layout import Q4_K  # noqa: E402

V1_WARPS = 8  # warps per block of the v1 kernel (Q4K_WARPS in its source)


def v1_matvec(cp, fn, wq, xq, xs, y, rows: int, nb: int) -> None:
    groups = -(-rows // 4)
    ks = K._split_k(groups, nb // 4, K.Q4K_MAX_KS)
    grid = -(-groups // (V1_WARPS // ks))
    fn((grid,), (V1_WARPS * 32,), (wq, xq, xs, y, y, y, np.int32(rows), np.int32(nb),
                                   np.int32(0), np.int32(0), np.int32(ks)))


def bench_shape(cp, fn, rows: int, cols: int, bw: float, rng) -> None:
    nb = cols // Q4_K.weights
    wbytes = rows * Q4_K.row_bytes(cols)
    copies = max(2, -(-L2_ROTATE_BYTES // wbytes))
    base = random_q4k(rows, cols, rng)
    ws = [cp.asarray(base) for _ in range(copies)]
    x = cp.asarray(rng.standard_normal(cols).astype(np.float32))
    xq, xs = K.quantize_q8(x)
    y1, y2 = cp.empty(rows, cp.float32), cp.empty(rows, cp.float32)
    v1_matvec(cp, fn, ws[0], xq, xs, y1, rows, nb)
    K._q4k_launch(ws[0], xq, xs, None, None, y2, rows, nb, False, None, x)
    err = nmse(y2.get(), y1.get())
    moved = wbytes + 2 * cols + cols // 32 * 8 + rows * 4
    t1 = graph_time_ms(cp, lambda i: v1_matvec(cp, fn, ws[i % copies], xq, xs, y1, rows, nb), 4 * copies)
    t2 = graph_time_ms(cp, lambda i: K._q4k_launch(ws[i % copies], xq, xs, None, None, y2, rows, nb, False,
                                                  None, x), 4 * copies)
    print(f"q4k {rows}x{cols}: v1 {t1 * 1e3:.1f} us = {moved / t1 / 1e6 / bw:.0%} of copy bw; "
          f"production {t2 * 1e3:.1f} us = {moved / t2 / 1e6 / bw:.0%}; v1/production {t1 / t2:.2f}x; "
          f"outputs agree to NMSE {err:.2e}", flush=True)


def main() -> int:
    try:
        cp = require_cupy()
    except GpuUnavailable as e:
        print(f"bench_q4k_v1: skipped, no CUDA device ({e})")
        return 0
    src = (Path(K.__file__).parent / "cuda" / K.COMMON).read_text() + (HERE / "q4k_matvec_v1.cu").read_text()
    fn = cp.RawModule(code=src, options=K.defines()).get_function("q4k_matvec")
    bw = copy_bandwidth(cp)["copy_GBps"]
    rng = np.random.default_rng(0)
    for rows, cols in [(4096, 4096), (18944, 3584), (3584, 18944)]:
        bench_shape(cp, fn, rows, cols, bw, rng)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
