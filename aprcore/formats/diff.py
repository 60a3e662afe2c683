"""Per-tensor comparison of two model files: does the GGUF still hold the same weights?

`diff_files(a, b)` opens both files (GGUF, safetensors file or HF directory), maps
names to HF spelling (llama's q/k row permutation undone), and compares every common
tensor: cosine, max and mean absolute difference, RMSE, count of identical elements,
both shapes and stored types, and a status against the floor. Tensors present in one
file only are listed. The verdict is PASS when every common tensor passes and no
tensor is missing from either side.

It streams: each tensor pair is compared in row ranges (tasks) of about 256 K elements,
read (`os.preadv` of validated safetensors byte ranges) and dequantized (GGUF via mmap)
range by range into per-worker buffers, so memory stays at a few ranges per worker, far
under the two largest tensors. Sums are taken per ~64 K-element chunk (float32 dot
products) and combined in float64, over the same chunks whatever the task size or the
number of workers, so every way of running a sweep gives the same bits. Large sweeps
run their tasks on forked worker processes (threads lose most of their time to GIL
hand-overs, one per numpy call); small ones on a thread pool.

Status of a tensor:
- `identical`: every element equal (bitwise for finite values);
- `pass`: cosine >= floor (a floor of 1.0 demands `identical`);
- `transposed`: shapes (or, for square ones, values) match only after a transpose;
  with `transpose_aware` that passes, without it a transposed pair is `shape_mismatch`;
- `fail`: cosine under the floor, or NaN anywhere (fails closed);
- `shape_mismatch`: the shapes differ (and are not a transpose of each other).

cosine is computed as (|a|^2 + |b|^2 - |a-b|^2) / (2 |a| |b|): the difference is formed
exactly per element, and the first-order rounding of the two norms cancels, so values
near 1 are resolved to about 1e-7 even with float32 chunk dot products.
"""

from __future__ import annotations

import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import numpy as np

from ..progress import bar as progress_bar
from .sources import TensorMeta, open_source

_CHUNK = 1 << 16  # elements per statistics chunk
_TASK = 1 << 18  # elements per streamed task (whole statistics chunks): 1 MB per buffer

PASSING = ("identical", "pass", "transposed")


@dataclass
class TensorDiff:
    name: str
    shape_a: list[int]
    shape_b: list[int]
    dtype_a: str
    dtype_b: str
    status: str
    n: int = 0
    cosine: float | None = None
    max_abs_diff: float | None = None
    mean_abs_diff: float | None = None
    rmse: float | None = None
    identical: int = 0
    note: str = ""


@dataclass
class DiffReport:
    a: str
    b: str
    floor: float
    transpose_aware: bool
    tensors: list[TensorDiff] = field(default_factory=list)
    only_in_a: list[str] = field(default_factory=list)
    only_in_b: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failing(self) -> list[TensorDiff]:
        return [t for t in self.tensors if t.status not in PASSING]

    @property
    def verdict(self) -> str:
        return "PASS" if not self.failing and not self.only_in_a and not self.only_in_b else "FAIL"

    @property
    def parameters(self) -> int:
        return sum(t.n for t in self.tensors)

    def to_dict(self) -> dict:
        d = asdict(self)
        worst = min((t.cosine for t in self.tensors if t.cosine is not None and not math.isnan(t.cosine)),
                    default=None)
        d.update(verdict=self.verdict, parameters=self.parameters,
                 summary={"compared": len(self.tensors), "failing": len(self.failing),
                          "identical": sum(t.status == "identical" for t in self.tensors),
                          "only_in_a": len(self.only_in_a), "only_in_b": len(self.only_in_b),
                          "min_cosine": worst})
        return d


def _partial(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float, float, float, int, int]:
    """Sums of one chunk: |a|^2, |b|^2, |a-b|^2, sum|a-b|, max|a-b|, #differing, n."""
    x = np.ascontiguousarray(a, dtype=np.float32).reshape(-1)
    y = np.ascontiguousarray(b, dtype=np.float32).reshape(-1)
    if x.size == 0:
        return 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0
    with np.errstate(over="ignore", invalid="ignore"):  # inf/NaN are data: cosine fails closed
        d = np.subtract(x, y)
        aa = float(np.dot(x, x))
        bb = float(np.dot(y, y))
        dd = float(np.dot(d, d))
        np.abs(d, out=d)
        # float32 pairwise sum per chunk (error ~ eps * log n), accumulated in float64 across chunks
        sabs = float(np.add.reduce(d))
    # |a-b| has no sign bit, so its int32 view is zero exactly where a == b (and counts NaN)
    differ = int(np.count_nonzero(d.view(np.int32)))
    return aa, bb, dd, sabs, float(d.max()), differ, x.size


def _finish(parts: list[tuple]) -> dict:
    aa = sum(p[0] for p in parts)
    bb = sum(p[1] for p in parts)
    dd = sum(p[2] for p in parts)
    sabs = sum(p[3] for p in parts)
    maxes = [p[4] for p in parts if p[6]]
    mx = float("nan") if any(math.isnan(m) for m in maxes) else max(maxes, default=0.0)
    differ = sum(p[5] for p in parts)
    n = sum(p[6] for p in parts)
    if n == 0:
        return dict(n=0, cosine=1.0, max_abs_diff=0.0, mean_abs_diff=0.0, rmse=0.0, identical=0)
    if any(math.isnan(v) or math.isinf(v) for v in (aa, bb, dd)):
        cos = float("nan")
    elif differ == 0:
        cos = 1.0  # identical: report exactly 1, not 1 - (rounding of the norms)
    elif aa == 0.0 and bb == 0.0:
        cos = 1.0 if dd == 0.0 else float("nan")
    elif aa == 0.0 or bb == 0.0:
        cos = 0.0
    else:
        cos = max(-1.0, min(1.0, (aa + bb - dd) / (2.0 * math.sqrt(aa) * math.sqrt(bb))))
    rmse = math.sqrt(dd / n) if math.isfinite(dd) else float("nan")
    return dict(n=n, cosine=cos, max_abs_diff=mx, mean_abs_diff=sabs / n, rmse=rmse, identical=n - differ)


def tensor_stats(a: np.ndarray, b: np.ndarray) -> dict:
    """Statistics of two same-shape arrays, accumulated over chunks in float64."""
    x = np.ascontiguousarray(a, dtype=np.float32).reshape(-1)
    y = np.ascontiguousarray(b, dtype=np.float32).reshape(-1)
    return _finish([_partial(x[i:i + _CHUNK], y[i:i + _CHUNK]) for i in range(0, x.size, _CHUNK)] or [_partial(x, y)])


def _status(stats: dict, floor: float) -> str:
    if stats["n"] and stats["identical"] == stats["n"]:
        return "identical"
    cos = stats["cosine"]
    if cos is None or math.isnan(cos) or floor >= 1.0 or cos < floor:
        return "fail"
    return "pass"


_PROCESS_MIN = 1 << 24  # elements from which a sweep forks worker processes
_PROC_BATCH = 16  # tasks per message to a worker process (~4 M elements): fewer IPC wake-ups

_scratch = threading.local()  # per-thread decode buffers, reused across tasks


def _plan(sa, na: str, sb, nb: str, shape: tuple[int, ...]) -> tuple[list[tuple[int, int]], int, int]:
    """Row ranges of the tasks of one tensor pair, rows per statistics chunk, elements per row.

    A task spans about _TASK elements (numpy's per-call overhead in the Q4_K decode is
    amortized over 256 K weights), but its statistics are summed over sub-ranges of
    about _CHUNK elements, the same boundaries whatever _TASK is and however the tasks
    are spread: float32 dot products per sub-range stay short, and the result does not
    depend on the task size, the thread count or the process count."""
    rows = shape[0] if len(shape) > 1 else 1
    row_elems = 1
    for s in shape[1:]:
        row_elems *= s
    align = math.lcm(sa.row_align(na), sb.row_align(nb))
    sub = max(align, (_CHUNK // max(row_elems, 1)) // align * align)  # rows per statistics chunk
    step = sub * max(1, _TASK // max(sub * row_elems, 1))  # rows per task: whole sub-ranges
    return [(r, min(rows, r + step)) for r in range(0, rows, step)], sub, row_elems


def _task(sa, na: str, sb, nb: str, rg: tuple[int, int], sub: int, row_elems: int) -> list[tuple]:
    """Partial sums of rows [r0, r1): read and dequantize into this thread's buffers."""
    bufs = getattr(_scratch, "bufs", None)
    need = (rg[1] - rg[0]) * row_elems
    if bufs is None or bufs[0].size < need:
        bufs = _scratch.bufs = tuple(np.empty(max(need, _TASK), np.float32) for _ in range(3))
    x = sa.load_rows(na, *rg, out=bufs[0]).reshape(-1)
    y = sb.load_rows(nb, *rg, out=bufs[1]).reshape(-1)
    return _task_partials(x, y, sub * row_elems, bufs[2])


def _task_partials(x: np.ndarray, y: np.ndarray, k: int, scratch: np.ndarray) -> list[tuple]:
    """`_partial` of each k-element chunk of x, y, with the same sums, in fewer numpy calls:
    the element-wise |x-y|, its max and its count of non-zeros are done once for the
    whole task (they do not depend on chunking; the task's max and count ride on its
    first chunk), and only the sums that must stay per chunk are (3 dots, sum |x-y|)."""
    n = x.size
    if n == 0 or x.dtype != np.float32 or y.dtype != np.float32:
        return [_partial(x[i:i + k], y[i:i + k]) for i in range(0, max(n, 1), k)]
    d = scratch[:n]
    with np.errstate(over="ignore", invalid="ignore"):  # inf/NaN are data: cosine fails closed
        np.subtract(x, y, out=d)
        np.abs(d, out=d)  # (|x-y|)^2 == (x-y)^2 bit for bit: the dots below are unchanged
        mx = float(d.max())
        differ = int(np.count_nonzero(d.view(np.int32)))  # no sign bit: zero exactly where x == y
        out = []
        for i in range(0, n, k):
            xs, ys, ds = x[i:i + k], y[i:i + k], d[i:i + k]
            out.append((float(np.dot(xs, xs)), float(np.dot(ys, ys)), float(np.dot(ds, ds)),
                        float(np.add.reduce(ds)), mx if i == 0 else 0.0, differ if i == 0 else 0, xs.size))
    return out


def _streamed_stats(sa, na: str, sb, nb: str, shape: tuple[int, ...], pool: ThreadPoolExecutor | None) -> dict:
    """Compare row ranges of a tensor pair: each task reads and dequantizes only its rows,
    so memory stays at a few ranges per worker."""
    ranges, sub, row_elems = _plan(sa, na, sb, nb, shape)
    if pool is not None and len(ranges) > 1:
        parts = [p for ps in pool.map(lambda rg: _task(sa, na, sb, nb, rg, sub, row_elems), ranges) for p in ps]
    else:
        parts = [p for rg in ranges for p in _task(sa, na, sb, nb, rg, sub, row_elems)]
    return _finish(parts)


# -- worker processes -------------------------------------------------------------------
# Threads barely help this sweep: each 256 K-element task makes ~70 numpy calls, and the
# GIL changes hands at each one; on this 2-vCPU VM every hand-over is a cross-CPU wake-up,
# and two threads ran no faster than one (0.31 s either way). Forked processes that each
# open the two files themselves share nothing and send back a few floats per task.

_proc_sources: tuple = ()


def _proc_init(path_a: str, path_b: str) -> None:
    global _proc_sources
    _proc_sources = (open_source(path_a), open_source(path_b))


def _proc_task(job: tuple) -> list[tuple]:
    na, nb, rg, sub, row_elems = job
    sa, sb = _proc_sources
    return _task(sa, na, sb, nb, rg, sub, row_elems)


def _fork_context():
    import multiprocessing as mp

    if mp.current_process().daemon:  # a daemonic process may not have children: threads
        return None
    try:
        return mp.get_context("fork")
    except ValueError:  # no fork on this platform (Windows): threads only
        return None


def compare_pair(name: str, ma: TensorMeta, mb: TensorMeta, sa, sb, floor: float, transpose_aware: bool,
                 pool: ThreadPoolExecutor | None = None, stats: dict | None = None) -> TensorDiff:
    """Compare one tensor pair (HF names ma.name in sa, mb.name in sb); `stats`, when
    given, are the same-shape statistics already computed by worker processes."""
    td = TensorDiff(name, list(ma.shape), list(mb.shape), ma.dtype, mb.dtype, "shape_mismatch")
    transposed_shape = len(ma.shape) == 2 and tuple(reversed(ma.shape)) == tuple(mb.shape)
    if tuple(ma.shape) != tuple(mb.shape):
        if not (transposed_shape and transpose_aware):
            if transposed_shape:
                td.note = "shapes are transposed (use --transpose-aware)"
            return td
        stats = tensor_stats(sa.load(ma.name), sb.load(mb.name).T)
        td.__dict__.update(stats)
        td.status = "transposed" if _status(stats, floor) != "fail" else "fail"
        td.note = "compared after transposing b"
        return td
    if stats is None:
        stats = _streamed_stats(sa, ma.name, sb, mb.name, tuple(ma.shape), pool)
    td.__dict__.update(stats)
    td.status = _status(stats, floor)
    if td.status == "fail" and transpose_aware and transposed_shape and ma.shape[0] == ma.shape[1]:
        st = tensor_stats(sa.load(ma.name), sb.load(mb.name).T)
        if _status(st, floor) != "fail":
            td.__dict__.update(st)
            td.status = "transposed"
            td.note = "square tensor matches only after transposing b"
    return td


def diff_files(path_a: str | os.PathLike[str], path_b: str | os.PathLike[str], *, floor: float = 0.999,
               transpose_aware: bool = False, progress: bool = False, threads: int | None = None,
               processes: bool | None = None) -> DiffReport:
    """Compare every common tensor of two model files (see the module doc).

    `threads`: workers (default: CPUs, at most 4). `processes`: run them as forked
    processes instead of threads (default: when the same-shape tensors hold at least
    _PROCESS_MIN elements, where the ~10 ms of forking pays for itself); results are
    bit-identical either way."""
    t0 = time.perf_counter()
    sa, sb = open_source(path_a), open_source(path_b)
    ma = {m.name: m for m in sa.tensors()}
    mb = {m.name: m for m in sb.tensors()}
    pairs: list[tuple[str, str, str]] = [(n, n, n) for n in ma if n in mb]
    only_a = [n for n in ma if n not in mb]
    only_b = [n for n in mb if n not in ma]
    # A tied model may be written with or without lm_head: compare it with the embedding.
    emb = "model.embed_tokens.weight"
    if "lm_head.weight" in only_a and emb in mb:
        pairs.append(("lm_head.weight", "lm_head.weight", emb))
        only_a.remove("lm_head.weight")
    if "lm_head.weight" in only_b and emb in ma:
        pairs.append(("lm_head.weight", emb, "lm_head.weight"))
        only_b.remove("lm_head.weight")
    report = DiffReport(os.fspath(path_a), os.fspath(path_b), floor, transpose_aware,
                        only_in_a=only_a, only_in_b=only_b)
    bar = progress_bar(len(pairs), "tensor", enabled=progress)
    workers = threads if threads is not None else min(4, os.cpu_count() or 1)
    same = [i for i, (_, na, nb) in enumerate(pairs) if tuple(ma[na].shape) == tuple(mb[nb].shape)]
    big = sum(math.prod(ma[pairs[i][1]].shape) for i in same) >= _PROCESS_MIN
    ctx = _fork_context() if workers > 1 and (processes or (processes is None and big)) else None
    pool = ThreadPoolExecutor(workers) if workers > 1 and ctx is None else None
    try:
        if ctx is not None:
            results = _sweep_processes(ctx, workers, path_a, path_b, sa, sb, ma, mb, pairs, same, floor,
                                       transpose_aware)
        else:
            results = (compare_pair(label, ma[na], mb[nb], sa, sb, floor, transpose_aware, pool)
                       for label, na, nb in pairs)
        for (label, na, nb), td in zip(pairs, results, strict=True):
            if na != nb:
                td.note = (td.note + "; " if td.note else "") + f"tied: {na} vs {nb}"
            report.tensors.append(td)
            bar.set_postfix_str(label, refresh=False)
            bar.update()
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown()
    report.seconds = time.perf_counter() - t0
    return report


def _sweep_processes(ctx, workers: int, path_a, path_b, sa, sb, ma: dict, mb: dict, pairs: list, same: list,
                     floor: float, transpose_aware: bool):
    """Yield each pair's TensorDiff in order; the same-shape pairs' tasks of all tensors
    are queued at once on `workers` forked processes (no idle worker at tensor ends)."""
    jobs, owner = [], []
    for i in same:
        _, na, nb = pairs[i]
        ranges, sub, row_elems = _plan(sa, ma[na].name, sb, mb[nb].name, tuple(ma[na].shape))
        jobs += [(ma[na].name, mb[nb].name, rg, sub, row_elems) for rg in ranges]
        owner += [i] * len(ranges)
    remaining = {i: owner.count(i) for i in same}
    parts: dict[int, list] = {i: [] for i in same}
    with ctx.Pool(workers, _proc_init, (os.fspath(path_a), os.fspath(path_b))) as procs:
        it = zip(owner, procs.imap(_proc_task, jobs, chunksize=_PROC_BATCH), strict=True)
        for k, (label, na, nb) in enumerate(pairs):
            if k in parts:
                while remaining[k]:
                    i, ps = next(it)
                    parts[i].extend(ps)
                    remaining[i] -= 1
                yield compare_pair(label, ma[na], mb[nb], sa, sb, floor, transpose_aware,
                                   stats=_finish(parts.pop(k)))
            else:
                yield compare_pair(label, ma[na], mb[nb], sa, sb, floor, transpose_aware)


def format_report(r: DiffReport) -> str:
    """A table a person reads: one line per tensor, then the verdict."""
    lines = [f"a: {r.a}", f"b: {r.b}",
             f"floor: cosine >= {r.floor}" + (" (transpose-aware)" if r.transpose_aware else ""), ""]
    w = max([len(t.name) for t in r.tensors] + [6])
    lines.append(f"{'tensor':<{w}}  {'status':<14} {'cosine':>10} {'max_abs':>10} {'rmse':>10} "
                 f"{'identical':>10}  types / shapes")
    for t in r.tensors:
        cos = "-" if t.cosine is None else f"{t.cosine:.6f}"
        mx = "-" if t.max_abs_diff is None else f"{t.max_abs_diff:.3g}"
        rm = "-" if t.rmse is None else f"{t.rmse:.3g}"
        ident = f"{t.identical / t.n:.1%}" if t.n else "-"
        shapes = f"{t.dtype_a}/{t.dtype_b} {t.shape_a}" + ("" if t.shape_a == t.shape_b else f" vs {t.shape_b}")
        lines.append(f"{t.name:<{w}}  {t.status:<14} {cos:>10} {mx:>10} {rm:>10} {ident:>10}  {shapes}"
                     + (f"  ({t.note})" if t.note else ""))
    for n in r.only_in_a:
        lines.append(f"only in a: {n}")
    for n in r.only_in_b:
        lines.append(f"only in b: {n}")
    mps = r.parameters / r.seconds / 1e6 if r.seconds else 0.0
    lines.append("")
    lines.append(f"{r.verdict}: {len(r.tensors)} compared, {len(r.failing)} failing, "
                 f"{len(r.only_in_a)} only in a, {len(r.only_in_b)} only in b; "
                 f"{r.parameters:,} parameters in {r.seconds:.2f} s ({mps:.0f} M/s)")
    return "\n".join(lines)
