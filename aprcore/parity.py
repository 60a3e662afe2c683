"""The CPU-vs-GPU output parity gate and the backend chain (apr-cpu-vs-gpu-output-parity-v1).

Before a candidate backend serves a request, the first token is probed: the prompt's
last-position logits from the candidate are compared with the CPU reference. The
candidate is rejected, fail closed, when any logit is NaN or infinite, when the argmax
differs, or when the cosine is below the floor (0.99). A rejected candidate is logged on
stderr with the tagged line

    [apr-cpu-vs-gpu-output-parity-v1] backend gpu rejected, attempting fallback: <why>

and the chain moves on, ending at the CPU. Candidates are names ("gpu") or `Backend`
objects, so tests inject a deliberately broken backend on a CPU-only machine. Asking
for the CPU alone runs no probe and prints nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, TextIO

import numpy as np

from . import faults as _faults
from .arrays import GpuUnavailable
from .backend import Backend, resolve_backend
from .ops import cosine, nmse

TAG = "[apr-cpu-vs-gpu-output-parity-v1]"
COSINE_FLOOR = 0.99


@dataclass(frozen=True)
class ParityReport:
    """The figures of one probe and the gate's decision."""

    backend: str
    accepted: bool
    reason: str           # "ok", or why it was rejected
    cosine: float
    nmse: float
    max_abs_diff: float
    argmax_cpu: int
    argmax_candidate: int
    finite: bool
    floor: float = COSINE_FLOOR

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_parity(cpu_logits: np.ndarray, candidate_logits: np.ndarray, backend: str = "candidate",
                 floor: float = COSINE_FLOOR) -> ParityReport:
    """Judge candidate logits against the CPU reference (pure: no model, no I/O)."""
    ref = np.asarray(cpu_logits, dtype=np.float64).ravel()
    got = np.asarray(candidate_logits, dtype=np.float64).ravel()
    if ref.shape != got.shape:
        return ParityReport(backend, False, f"shape {got.shape} != cpu {ref.shape}",
                            float("nan"), float("nan"), float("nan"), -1, -1, False, floor)
    finite = bool(np.isfinite(got).all() and np.isfinite(ref).all())
    am_ref = int(np.argmax(ref)) if np.isfinite(ref).all() else -1
    am_got = int(np.argmax(got)) if np.isfinite(got).all() else -1
    cos = cosine(ref, got)
    err = nmse(ref, got)
    mad = float(np.max(np.abs(ref - got))) if ref.size else 0.0
    if not finite:
        bad = int((~np.isfinite(got)).sum()) + int((~np.isfinite(ref)).sum())
        reason = f"{bad} non-finite logit(s) (NaN/inf fails closed)"
    elif am_ref != am_got and _faults.on("parity_argmax_unchecked") is None:
        reason = f"argmax {am_got} != cpu argmax {am_ref} (cosine={cos:.6f})"
    elif not cos >= floor and _faults.on("parity_cosine_floor_unchecked") is None:
        # written so that a NaN cosine is rejected too
        reason = f"cosine={cos:.6f} < {floor}"
    else:
        reason = "ok"
    return ParityReport(backend, reason == "ok", reason, cos, err, mad, am_ref, am_got, finite, floor)


def probe(model: Any, token_ids: Sequence[int], backend: str | Backend,
          reference: np.ndarray | None = None, floor: float = COSINE_FLOOR) -> ParityReport:
    """Run the first-token probe: last-position logits on `backend` vs the CPU."""
    be = resolve_backend(backend)
    if reference is None:
        reference = model.forward(token_ids, backend="cpu", last_only=True)[-1]
    try:
        got = model.forward(token_ids, backend=be, last_only=True)[-1]
    except Exception as e:  # a crashing backend fails closed like a wrong one
        nan = float("nan")
        return ParityReport(be.name, False, f"probe raised {type(e).__name__}: {e}",
                            nan, nan, nan, int(np.argmax(reference)), -1, False, floor)
    return check_parity(reference, got, be.name, floor)


@dataclass(frozen=True)
class BackendChoice:
    backend: Backend
    reports: tuple[ParityReport, ...]   # one per candidate probed, in order
    fell_back: bool


def select_backend(model: Any, token_ids: Sequence[int],
                   candidates: Sequence[str | Backend] = ("gpu",), *,
                   floor: float = COSINE_FLOOR, stream: TextIO | None = None) -> BackendChoice:
    """The first candidate that passes the probe, else the CPU (with a tagged line each).

    `candidates` that are "cpu" are taken as is, with no probe and no message.
    """
    stream = sys.stderr if stream is None else stream
    reports: list[ParityReport] = []
    reference: np.ndarray | None = None
    for cand in candidates:
        label = cand.name if isinstance(cand, Backend) else str(cand)
        if label == "cpu":
            return BackendChoice(resolve_backend("cpu"), tuple(reports), bool(reports))
        try:
            be = resolve_backend(cand)
        except GpuUnavailable as e:
            print(f"{TAG} backend {label} rejected, attempting fallback: unavailable: {e}",
                  file=stream, flush=True)
            continue
        if reference is None:
            reference = model.forward(token_ids, backend="cpu", last_only=True)[-1]
        rep = probe(model, token_ids, be, reference, floor)
        reports.append(rep)
        if rep.accepted or _faults.on("parity_verdict_ignored") is not None:
            return BackendChoice(be, tuple(reports), False)
        print(f"{TAG} backend {be.name} rejected, attempting fallback: {rep.reason} "
              f"(cosine={rep.cosine:.6f} nmse={rep.nmse:.3g} argmax cpu={rep.argmax_cpu} "
              f"{be.name}={rep.argmax_candidate})", file=stream, flush=True)
    return BackendChoice(resolve_backend("cpu"), tuple(reports), True)
