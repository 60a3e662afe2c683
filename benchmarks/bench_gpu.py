"""GPU benchmarks of aprcore's kernels and decode engine (run on a CUDA host).

Prints, for each kernel, the bytes it must move (each input read once, each output
written once), its median time and the fraction of the device-to-device copy bandwidth
measured in the same run; then whole-model greedy decode tokens/s of a 0.5B-shaped
random model against HF transformers (torch CUDA, eager, same weights, same dtype),
and the fraction of the weight-bandwidth floor the decode reaches.

Timing: CUDA events around CUDA-graph replays of many launches (Python launch overhead
stays out), after warm-up, median of several repeats; kernel inputs rotate across
buffers that together exceed the L2 cache, so the figures are DRAM figures.

    python benchmarks/bench_gpu.py [--json OUT.json] [--quick] [--skip-hf]

Kernel variants that left production (the first Q4_K kernel, the attention's
benchmark-only builds) are timed beside their sources in dev/cuda/.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aprcore.config import preset  # noqa: E402
from aprcore.gpu import GpuUnavailable, device_info, require_cupy  # noqa: E402
from aprcore.gpu import kernels as K  # noqa: E402
from aprcore.gpu.reference import random_q4k, random_q4k_bytes, random_weights  # noqa: E402
from aprcore.quant.layout import Q4_K  # noqa: E402

L2_ROTATE_BYTES = 512 * 2**20   # rotate inputs over at least this many bytes (> L2)


def graph_time_ms(cp, launches, n_launch: int, repeats: int = 9) -> float:
    """Median ms per launch of `launches(i)` for i in range(n_launch), captured as one graph."""
    s = cp.cuda.Stream(non_blocking=True)
    with s:
        for i in range(n_launch):   # warm-up, compile, load
            launches(i)
        s.synchronize()
        s.begin_capture()
        for i in range(n_launch):
            launches(i)
        g = s.end_capture()
        g.launch(s)
        s.synchronize()
        e0, e1 = cp.cuda.Event(), cp.cuda.Event()
        times = []
        for _ in range(repeats):
            e0.record(s)
            g.launch(s)
            e1.record(s)
            e1.synchronize()
            times.append(cp.cuda.get_elapsed_time(e0, e1) / n_launch)
    return statistics.median(times)


def copy_bandwidth(cp) -> dict:
    n = 1 << 30
    src = cp.ones(n // 4, cp.float32)
    dst = cp.empty_like(src)

    def memcpy(_i):
        cp.cuda.runtime.memcpyAsync(dst.data.ptr, src.data.ptr, n, 3, cp.cuda.get_current_stream().ptr)

    def kcopy(_i):
        cp.copyto(dst, src)

    t_mem = graph_time_ms(cp, memcpy, 10)
    t_ker = graph_time_ms(cp, kcopy, 10)
    bw_mem, bw_ker = 2 * n / t_mem / 1e6, 2 * n / t_ker / 1e6   # read + write, GB/s (t in ms)
    res = {"bytes": 2 * n, "memcpy_GBps": bw_mem, "kernel_copy_GBps": bw_ker}
    try:  # the same copy through torch, as a cross-check of the ceiling
        import torch

        a, b = torch.ones(n // 4, device="cuda"), torch.empty(n // 4, device="cuda")
        for _ in range(3):
            b.copy_(a)
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        ts = []
        for _ in range(9):
            e0.record()
            for _ in range(5):
                b.copy_(a)
            e1.record()
            e1.synchronize()
            ts.append(e0.elapsed_time(e1) / 5)
        res["torch_copy_GBps"] = 2 * n / statistics.median(ts) / 1e6
        del a, b
        torch.cuda.empty_cache()
    except Exception as e:
        print("torch copy cross-check failed:", e, flush=True)
    res["copy_GBps"] = max(v for k, v in res.items() if k.endswith("GBps"))
    return res


READ_SRC = r"""
extern "C" __global__ void stream_read(const uint4* __restrict__ src, size_t n16, unsigned int* out) {
    unsigned int acc = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n16; i += (size_t)gridDim.x * blockDim.x) {
        const uint4 v = __ldg(src + i);
        acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    if (acc == 0x9e3779b9u) out[0] = acc;   // never true in practice: keeps the loads alive
}
extern "C" __global__ void empty_kernel() {}
"""


def launch_floor(cp, nbytes: int, rng) -> dict:
    """What any kernel of this size pays on this device with this timing method: an empty
    kernel's graph-replay time, and a plain streaming read of the same number of bytes."""
    mod = cp.RawModule(code=READ_SRC)
    read, empty = mod.get_function("stream_read"), mod.get_function("empty_kernel")
    copies = max(2, -(-L2_ROTATE_BYTES // nbytes))
    base = cp.asarray(rng.integers(0, 2**31, nbytes // 4, dtype=np.int32))
    bufs = [base] + [base.copy() for _ in range(copies - 1)]
    sink = cp.zeros(1, cp.uint32)
    n16 = np.uint64(nbytes // 16)
    sms = cp.cuda.Device().attributes["MultiProcessorCount"]
    t_empty = graph_time_ms(cp, lambda i: empty((sms,), (256,), ()), 64)
    best = float("inf")
    for blocks in (sms * 4, sms * 8, sms * 16):
        t = graph_time_ms(cp, lambda i, b=blocks: read((b,), (256,), (bufs[i % copies], n16, sink)), 4 * copies)
        best = min(best, t)
    return {"empty_us": t_empty * 1e3, "read_us": best * 1e3}


def bench_q4k(cp, rows: int, cols: int, bw: float, rng) -> dict:
    nb = cols // 256
    wbytes = rows * Q4_K.row_bytes(cols)
    copies = max(2, -(-L2_ROTATE_BYTES // wbytes))
    base = random_q4k(rows, cols, rng)
    ws = [cp.asarray(base) for _ in range(copies)]
    x = cp.asarray(rng.standard_normal(cols).astype(np.float32))
    y = cp.empty(rows, cp.float32)
    xq, xs = K.quantize_q8(x)
    n_launch = 4 * copies
    moved = wbytes + 2 * cols + cols // 32 * 8 + rows * 4      # weights + 2 int8 x + scales + y
    moved_q = moved + cols * 4 + 2 * cols + cols // 32 * 8     # + the quantize pass

    def timed(plan):
        def kernel_only(i):
            K._q4k_launch(ws[i % copies], xq, xs, None, None, y, rows, nb, False, plan, x)
        return graph_time_ms(cp, kernel_only, n_launch)

    sweep = {}
    for r in (2, 4):
        for ks in (1, 2, 4):
            for nw in (4, 8):
                if nw % ks == 0:
                    sweep[f"r{r}-ks{ks}-w{nw}"] = timed((r, ks, nw)) * 1e3
    t_k = timed(None)

    def with_quant(i):
        K.q4k_matvec(ws[i % copies], x, rows, cols, out=y, scratch=(xq, xs))

    t_q = graph_time_ms(cp, with_quant, n_launch)
    floor = launch_floor(cp, wbytes, rng)
    return {
        "shape": f"{rows}x{cols}", "bytes": moved, "plan": list(K.q4k_plan(-(-rows // K.Q4K2_ROWS), nb)),
        "us_by_plan": sweep,
        "us": t_k * 1e3, "GBps": moved / t_k / 1e6,
        "frac_copy_bw": moved / t_k / 1e6 / bw, "us_with_quantize": t_q * 1e3,
        "frac_copy_bw_with_quantize": moved_q / t_q / 1e6 / bw,
        "empty_kernel_us": floor["empty_us"], "stream_read_same_bytes_us": floor["read_us"],
        "frac_copy_bw_stream_read": wbytes / floor["read_us"] / 1e3 / bw,
    }


def bench_matvec_f32(cp, rows: int, cols: int, bw: float, rng, swiglu: bool = False) -> dict:
    """One decode-step projection of the 0.5B shape: bytes over time."""
    wbytes = rows * cols * 4
    copies = max(2, -(-L2_ROTATE_BYTES // wbytes))
    base = cp.asarray(rng.standard_normal((rows, cols), dtype=np.float32))
    ws = [base] + [base.copy() for _ in range(copies - 1)]
    x = cp.asarray(rng.standard_normal(cols, dtype=np.float32))
    y = cp.empty(rows // 2 if swiglu else rows, cp.float32)
    if swiglu:
        tm = graph_time_ms(cp, lambda i: K.matvec_swiglu(ws[i % copies], x, out=y), 4 * copies)
    else:
        tm = graph_time_ms(cp, lambda i: K.matvec(ws[i % copies], x, out=y), 4 * copies)
    moved = wbytes + cols * 4 + y.nbytes
    return {"shape": f"{rows}x{cols}{' swiglu' if swiglu else ''}", "us": tm * 1e3,
            "frac_copy_bw": moved / tm / 1e6 / bw}


# (name, variant, warps per block, K-step cap): the first is the previous default
ATTN_VARIANTS = [("reg+combine", "reg", 8, 8), ("fused-aw8-rk8", "fused", 8, 8), ("fused-aw16-rk2", "fused", 16, 2),
                 ("fused-aw8-rk2", "fused", 8, 2), ("fused-aw4-rk8", "fused", 4, 8)]


def bench_attention(cp, t: int, nh: int, nkv: int, hd: int, bw: float, rng) -> dict:
    kv_bytes = 2 * nkv * t * hd * 4
    copies = max(2, -(-L2_ROTATE_BYTES // kv_bytes))
    kcs = [cp.asarray(rng.standard_normal((nkv, t, hd), dtype=np.float32)) for _ in range(copies)]
    vcs = [cp.asarray(rng.standard_normal((nkv, t, hd), dtype=np.float32)) for _ in range(copies)]
    q = cp.asarray(rng.standard_normal((nh, hd), dtype=np.float32))
    out = cp.empty((nh, hd), cp.float32)
    tokpos = cp.asarray(np.array([0, t - 1, 0], np.int32))
    moved = kv_bytes + 2 * nh * hd * 4
    res = {"T": t, "heads": f"{nh}:{nkv}", "head_dim": hd, "bytes": moved}
    # before: the register partial pass + a combine kernel; after: one fused kernel
    for name, variant, aw, rk in ATTN_VARIANTS:
        chunk = K.register_chunk(hd) if variant == "reg" else K.fused_chunk(hd, aw, rk)
        ws = K.attention_workspace(nh, hd, t, chunk, nkv)

        def run(i, ws=ws, variant=variant, aw=aw, chunk=chunk, rk=rk):
            K.decode_attention(q, kcs[i % copies], vcs[i % copies], tokpos, out, workspace=ws, chunk=chunk,
                               variant=variant, aw=aw, rk=rk)
        tm = graph_time_ms(cp, run, 4 * copies)
        res[name] = {"chunk": chunk, "us": tm * 1e3, "GBps": moved / tm / 1e6, "frac_copy_bw": moved / tm / 1e6 / bw}
    floor = launch_floor(cp, kv_bytes, rng)
    res.update(empty_kernel_us=floor["empty_us"], stream_read_same_bytes_us=floor["read_us"],
               frac_copy_bw_stream_read=kv_bytes / floor["read_us"] / 1e3 / bw)
    return res


def bench_decode(cp, bw: float, n_new: int, skip_hf: bool, rng) -> dict:
    from aprcore.gpu.decoder import GpuDecoder

    cfg = preset("qwen2-0.5b")
    t0 = time.perf_counter()
    w = random_weights(cfg, rng, scale=0.02)
    prompt = [int(v) for v in rng.integers(0, cfg.vocab_size, 8)]
    dec = GpuDecoder(cfg, w, max_seq=1024)
    res: dict = {"model": "qwen2-0.5b shape, random float32 weights", "graph": dec.graph is not None,
                 "graph_error": dec.graph_error, "weight_bytes": dec.weight_bytes,
                 "setup_s": time.perf_counter() - t0}
    dec.generate(prompt, 16)   # warm
    times = []
    for _ in range(3):
        dec.synchronize()
        t1 = time.perf_counter()
        ours = dec.generate(prompt, n_new)
        times.append(time.perf_counter() - t1)
    tps = n_new / statistics.median(times)
    res.update(ours_tok_s=tps, floor_tok_s=bw * 1e9 / dec.weight_bytes,
               frac_bandwidth_floor=tps * dec.weight_bytes / (bw * 1e9))
    first_logits = dec.forward(prompt)[-1]
    if skip_hf:
        return res
    try:
        import torch
        import transformers  # noqa: F401
        assert torch.cuda.is_available()
    except Exception as e:  # the comparison needs torch with CUDA and transformers
        res["hf_error"] = f"HF comparison not run: {type(e).__name__}: {e}"
        return res
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    hf_cfg = Qwen2Config(**{k: v for k, v in cfg.to_hf_dict().items() if k not in ("architectures", "model_type")})
    with torch.device("cuda"):
        model = Qwen2ForCausalLM(hf_cfg).to(torch.float32)
    sd = {k: torch.from_numpy(v) for k, v in w.items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}, (missing, unexpected)
    model.tie_weights()
    model.eval()
    ids = torch.tensor([prompt], device="cuda")
    with torch.no_grad():
        hf_first = model(ids).logits[0, -1].float().cpu().numpy()
        gen = dict(max_new_tokens=n_new // 4, do_sample=False, pad_token_id=0, eos_token_id=None)
        model.generate(ids, **dict(gen, max_new_tokens=4))
        torch.cuda.synchronize()
        t2 = time.perf_counter()
        hf_out = model.generate(ids, **gen)
        torch.cuda.synchronize()
        hf_s = time.perf_counter() - t2
    hf_tps = (n_new // 4) / hf_s
    hf_tokens = hf_out[0, len(prompt):].tolist()
    ours = dec.generate(prompt, n_new // 4)
    agree = next((i for i, (a, b) in enumerate(zip(ours, hf_tokens, strict=False)) if a != b), len(hf_tokens))
    cos = float(np.dot(first_logits, hf_first) / (np.linalg.norm(first_logits) * np.linalg.norm(hf_first)))
    res.update(hf_tok_s=hf_tps, speedup_vs_hf=tps / hf_tps, first_logits_cosine_vs_hf=cos,
               greedy_tokens_agreeing_with_hf=agree, hf_tokens_compared=len(hf_tokens),
               torch=torch.__version__)
    return res


def bench_decode_q4k_7b(cp, bw: float, n_new: int, rng) -> dict:
    """Greedy decode of a Qwen2.5-Coder-7B-shaped model with every projection and the LM
    head in Q4_K, packed on the device (random valid blocks; embeddings and norms float32)."""
    from aprcore.gpu.decoder import GpuDecoder
    from aprcore.weights import expected_shapes

    cfg = preset("qwen2.5-coder-7b")
    t0 = time.perf_counter()
    dense, packed = {}, {}
    for name, shape in expected_shapes(cfg).items():
        if len(shape) == 2 and name != "model.embed_tokens.weight" and shape[1] % 256 == 0:
            packed[name] = random_q4k_bytes(shape[0], shape[1], rng)
        elif name.endswith("norm.weight"):
            dense[name] = np.ones(shape, np.float32)
        else:
            dense[name] = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)
    dec = GpuDecoder(cfg, dense, packed, max_seq=512)
    del dense, packed
    res = {"model": "qwen2.5-coder-7b shape, Q4_K projections and head (random blocks)",
           "graph": dec.graph is not None, "weight_bytes": dec.weight_bytes,
           "setup_s": time.perf_counter() - t0}
    prompt = [1, 2, 3, 4]
    dec.generate(prompt, 8)
    times = []
    for _ in range(3):
        t1 = time.perf_counter()
        dec.generate(prompt, n_new)
        times.append(time.perf_counter() - t1)
    tps = n_new / statistics.median(times)
    res.update(ours_tok_s=tps, floor_tok_s=bw * 1e9 / dec.weight_bytes,
               frac_bandwidth_floor=tps * dec.weight_bytes / (bw * 1e9))
    return res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", type=Path)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-hf", action="store_true")
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--q4k-7b", action="store_true", help="also decode a 7B-shaped Q4_K model")
    ap.add_argument("--kernels-only", action="store_true", help="kernel figures only, no whole-model decode")
    a = ap.parse_args()
    try:
        cp = require_cupy()
    except GpuUnavailable as e:   # run_all.py runs every bench: without a GPU, skip cleanly
        print(f"bench_gpu: skipped, no CUDA device ({e})")
        return 0
    rng = np.random.default_rng()
    info = device_info()
    out: dict = {"device": info}
    print("device:", info, flush=True)
    out["copy"] = c = copy_bandwidth(cp)
    bw = c["copy_GBps"]
    print(f"copy bandwidth: memcpy {c['memcpy_GBps']:.0f} GB/s, kernel {c['kernel_copy_GBps']:.0f} GB/s, "
          f"torch {c.get('torch_copy_GBps', float('nan')):.0f} GB/s", flush=True)
    out["q4k"] = []
    for rows, cols in [(4096, 4096), (18944, 3584), (3584, 18944)]:
        r = bench_q4k(cp, rows, cols, bw, rng)
        out["q4k"].append(r)
        print(f"q4k {r['shape']}: us by plan {json.dumps({k: round(v, 2) for k, v in r['us_by_plan'].items()})}",
              flush=True)
        print(f"q4k {r['shape']}: plan {r['plan']} {r['us']:.1f} us, "
              f"{r['GBps']:.0f} GB/s = {r['frac_copy_bw']:.0%} of copy (with quantize "
              f"{r['frac_copy_bw_with_quantize']:.0%}); empty kernel {r['empty_kernel_us']:.2f} us, streaming read of "
              f"the same bytes {r['stream_read_same_bytes_us']:.2f} us = {r['frac_copy_bw_stream_read']:.0%}", flush=True)
    out["matvec_f32"] = []
    for rows, cols, sw in ([] if a.kernels_only else [(1152, 896, False), (896, 896, False), (9728, 896, True),
                                                     (896, 4864, False), (151936, 896, False)]):
        r = bench_matvec_f32(cp, rows, cols, bw, rng, sw)
        out["matvec_f32"].append(r)
        print(f"f32 matvec {r['shape']}: {r['us']:.1f} us, {r['frac_copy_bw']:.0%} of copy", flush=True)
    out["attention"] = r = bench_attention(cp, 4096, 28, 4, 128, bw, rng)
    for name, *_ in ATTN_VARIANTS:
        v = r[name]
        print(f"attention T=4096 28:4 hd128 {name} chunk {v['chunk']}: {v['us']:.1f} us, {v['GBps']:.0f} GB/s = "
              f"{v['frac_copy_bw']:.0%} of copy", flush=True)
    print(f"attention: empty kernel {r['empty_kernel_us']:.2f} us, streaming read of the KV bytes "
          f"{r['stream_read_same_bytes_us']:.2f} us = {r['frac_copy_bw_stream_read']:.0%}", flush=True)
    if a.kernels_only:
        if a.json:
            a.json.write_text(json.dumps(out, indent=1))
        return 0
    out["decode"] = d = bench_decode(cp, bw, a.tokens, a.skip_hf, rng)
    print("decode:", json.dumps(d, indent=1), flush=True)
    if a.q4k_7b:
        out["decode_q4k_7b"] = d7 = bench_decode_q4k_7b(cp, bw, 128, rng)
        print("decode 7B Q4_K:", json.dumps(d7), flush=True)
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))
    print("\n| what | figure | goal |\n|---|---|---|")
    print(f"| copy bandwidth (D2D, read+write) | {bw:.0f} GB/s | |")
    for r in out["q4k"]:
        print(f"| Q4_K matvec {r['shape']} | {r['us']:.1f} us, "
              f"{r['frac_copy_bw']:.0%} of copy bw | >= 60% |")
    at = out["attention"]
    dflt = f"fused-aw{K.ATTN_FUSED_WARPS}-rk{K.ATTN_FUSED_RK}"
    print(f"| decode attention T=4096 28:4 hd128 | {dflt} {at[dflt]['us']:.1f} us, "
          f"{at[dflt]['frac_copy_bw']:.0%} of copy bw | >= 50% |")
    print(f"| 0.5B f32 greedy decode | {d['ours_tok_s']:.0f} tok/s, {d['frac_bandwidth_floor']:.0%} of the "
          f"weight-bandwidth floor ({d['floor_tok_s']:.0f} tok/s) | |")
    if "decode_q4k_7b" in out:
        d7 = out["decode_q4k_7b"]
        print(f"| 7B-shaped Q4_K greedy decode | {d7['ours_tok_s']:.0f} tok/s, {d7['frac_bandwidth_floor']:.0%} of "
              f"the weight-bandwidth floor ({d7['floor_tok_s']:.0f} tok/s) | |")
    if "hf_tok_s" in d:
        print(f"| HF transformers eager f32, same weights | {d['hf_tok_s']:.1f} tok/s; ours = "
              f"{d['speedup_vs_hf']:.1f}x | >= 10x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
