"""Diff sweep throughput: an F32 HF checkpoint (~100 M parameters) vs its Q4_K GGUF.

Prints parameters compared per second (dequantization included) and the ratio to the
figure of aprender's `apr diff` (7.6 B parameters in 192 s, about 40 M/s). The pair is
generated once into --dir (default: a temp dir) and reused with --keep. The first pass
after writing runs from the page cache; pass --cold to drop nothing but report both a
first and a repeated sweep.

    python benchmarks/bench_diff.py [--layers 4] [--dir DIR] [--keep] [--profile]

--profile adds one single-threaded sweep timed by stage (F32 read, dequantization,
statistics), in ns per parameter on one core.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from aprcore.config import preset
from aprcore.formats import gguf_io
from aprcore.formats.diff import diff_files
from aprcore.weights import expected_shapes

APR_DIFF_MPS = 7.6e9 / 192 / 1e6


def make_pair(d: Path, layers: int) -> tuple[Path, Path, int]:
    cfg = preset("llama-370m").replace(num_hidden_layers=layers)
    hf, gg = d / "hf", d / "model-q4_k.gguf"
    if not (hf / "model.safetensors").exists() or not gg.exists():
        rng = np.random.default_rng(0)
        w = {k: (rng.standard_normal(s, dtype=np.float32) * 0.02) for k, s in expected_shapes(cfg).items()}
        hf.mkdir(parents=True, exist_ok=True)
        save_file(w, str(hf / "model.safetensors"))
        (hf / "config.json").write_text(json.dumps(cfg.to_hf_dict()))
        t = time.perf_counter()
        gguf_io.write_model(gg, cfg, w, quant="Q4_K")
        print(f"wrote the Q4_K GGUF in {time.perf_counter() - t:.1f} s")
    return hf, gg, cfg.num_parameters()


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the sweep's workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def profile(hf: Path, gg: Path) -> None:
    """One single-threaded sweep with each stage timed: what bounds a core."""
    from aprcore.formats import diff, sources

    spent = {"read F32 (safetensors)": 0.0, "read+dequantize Q4_K (GGUF)": 0.0, "statistics": 0.0}

    def timed(fn, key):
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[key] += time.perf_counter() - t
        return wrapper

    saved = sources.SafetensorsSource.load_rows, sources.GGUFSource.load_rows, diff._task_partials
    sources.SafetensorsSource.load_rows = timed(saved[0], "read F32 (safetensors)")
    sources.GGUFSource.load_rows = timed(saved[1], "read+dequantize Q4_K (GGUF)")
    diff._task_partials = timed(saved[2], "statistics")
    try:
        r = diff_files(hf, gg, floor=0.99, threads=1)
    finally:
        sources.SafetensorsSource.load_rows, sources.GGUFSource.load_rows, diff._task_partials = saved
    n = r.parameters
    for k, v in spent.items():
        print(f"  {k:28s} {v / n * 1e9:5.2f} ns/param")
    rest = r.seconds - sum(spent.values())
    print(f"  {'other (glue, setup)':28s} {rest / n * 1e9:5.2f} ns/param")
    print(f"  {'one core, total':28s} {r.seconds / n * 1e9:5.2f} ns/param = {n / r.seconds / 1e6:.0f} M params/s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--dir")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="sweep threads (default: min(4, CPUs))")
    ap.add_argument("--processes", choices=("auto", "yes", "no"), default="auto",
                    help="workers as forked processes (auto: for large pairs) or threads")
    ap.add_argument("--profile", action="store_true", help="also time the stages of a single-threaded sweep")
    args = ap.parse_args()
    args.processes = {"auto": None, "yes": True, "no": False}[args.processes]
    d = Path(args.dir or tempfile.mkdtemp(prefix="bench_diff_"))
    hf, gg, n = make_pair(d, args.layers)
    best = None
    for i in range(args.repeat):
        c0 = _cpu()
        r = diff_files(hf, gg, floor=0.99, threads=args.threads, processes=args.processes)
        cpu = _cpu() - c0
        mps = r.parameters / r.seconds / 1e6
        best = mps if best is None else max(best, mps)
        print(f"sweep {i + 1}: {r.parameters / 1e6:.1f} M parameters, {len(r.tensors)} tensors, "
              f"{r.seconds:.2f} s wall, {cpu:.2f} s CPU: {mps:.0f} M params/s "
              f"({r.parameters / cpu / 1e6:.0f} M per CPU-second), verdict {r.verdict}")
    print(f"best: {best:.0f} M params/s = {best / APR_DIFF_MPS:.1f}x apr diff's {APR_DIFF_MPS:.0f} M/s "
          f"(goal 400 M/s = 10x); {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    if args.profile:
        print("single-threaded sweep by stage:")
        profile(hf, gg)
    if not args.keep and not args.dir:
        for p in sorted(d.rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
        d.rmdir()


if __name__ == "__main__":
    main()
