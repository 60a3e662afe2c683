"""Per-layer, per-sub-block activation traces and the first point where two runs part.

Pass a `Trace` to `Model.forward(..., trace=tr)`: for every forward call (a "step":
the prefill, then each decode) and every layer it records the stats of `attn_out`,
`ffn_gate`, `ffn_silu`, `ffn_swigl`, `ffn_out` and `residual` (the hidden state after
the layer), then `logits` under layer index `num_hidden_layers`. Stats are reduced in
float64 on the host, in a fixed order, so the same input gives bit-identical traces.

`first_divergence(a, b)` walks two traces in execution order and names the first
(step, layer, sub-block) whose stats disagree beyond a tolerance: a wrong layer is then
named ("layer 3, ffn_swigl") rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

SUB_BLOCKS = ("attn_out", "ffn_gate", "ffn_silu", "ffn_swigl", "ffn_out", "residual")
STAT_NAMES = ("mean", "rms", "min", "max", "sketch0", "sketch1", "sketch2", "sketch3")
_SKETCH = 4


def _sketch_vectors(n: int) -> np.ndarray:
    """Fixed pseudo-random directions: a cheap fingerprint that catches a change that
    leaves mean and rms alone (a permutation of heads, a swap of operands)."""
    return np.random.default_rng(n).standard_normal((_SKETCH, n))


def activation_stats(x: np.ndarray) -> dict[str, float]:
    """mean, rms, min, max and 4 projections of a flattened activation (float64)."""
    a = np.asarray(x, dtype=np.float64).ravel()
    if a.size == 0:
        return dict.fromkeys(STAT_NAMES, 0.0)
    sk = _sketch_vectors(a.size) @ a / np.sqrt(a.size)
    stats = {"mean": float(a.mean()), "rms": float(np.sqrt((a * a).mean())),
             "min": float(a.min()), "max": float(a.max())}
    stats.update({f"sketch{j}": float(sk[j]) for j in range(_SKETCH)})
    return stats


@dataclass(frozen=True)
class TraceEntry:
    step: int       # which forward call (0 = the first)
    layer: int      # decoder layer; num_hidden_layers for the final logits
    block: str      # one of SUB_BLOCKS, or "logits"
    stats: dict[str, float]


@dataclass
class Trace:
    """What one or more forward passes computed, sub-block by sub-block."""

    entries: list[TraceEntry] = field(default_factory=list)
    steps: list[tuple[int, int]] = field(default_factory=list)  # (tokens, start position)

    def begin(self, tokens: int, start: int) -> int:
        self.steps.append((tokens, start))
        return len(self.steps) - 1

    def record(self, step: int, layer: int, block: str, x: Any) -> None:
        self.entries.append(TraceEntry(step, layer, block, activation_stats(x)))

    def get(self, layer: int, block: str, step: int = 0) -> dict[str, float]:
        for e in self.entries:
            if (e.step, e.layer, e.block) == (step, layer, block):
                return e.stats
        raise KeyError((step, layer, block))


@dataclass(frozen=True)
class Divergence:
    step: int
    layer: int
    block: str
    stat: str
    a: float
    b: float

    def __str__(self) -> str:
        return (f"step {self.step}, layer {self.layer}, {self.block}: "
                f"{self.stat} {self.a:.6g} vs {self.b:.6g}")


def _close(x: float, y: float, rtol: float, atol: float) -> bool:
    if np.isnan(x) or np.isnan(y):
        return bool(np.isnan(x) and np.isnan(y))
    return abs(x - y) <= atol + rtol * max(abs(x), abs(y))


def first_divergence(a: Trace, b: Trace, rtol: float = 1e-4, atol: float = 1e-5) -> Divergence | None:
    """The first entry, in execution order, where `a` and `b` disagree; None if none.

    Traces of different structure (more steps, other layers) diverge at the first entry
    that has no counterpart, reported with stat "missing".
    """
    for ea, eb in zip(a.entries, b.entries, strict=False):
        if (ea.step, ea.layer, ea.block) != (eb.step, eb.layer, eb.block):
            return Divergence(ea.step, ea.layer, ea.block, "missing", 0.0, 0.0)
        scale = max(abs(ea.stats["rms"]), abs(eb.stats["rms"]), 1e-30)
        for s in STAT_NAMES:
            va, vb = ea.stats[s], eb.stats[s]
            # Relative to the activation's rms, so a mean that sits near 0 is no false alarm.
            if not _close(va, vb, 0.0, atol + rtol * scale):
                return Divergence(ea.step, ea.layer, ea.block, s, va, vb)
    if len(a.entries) != len(b.entries):
        longer = a if len(a.entries) > len(b.entries) else b
        e = longer.entries[min(len(a.entries), len(b.entries))]
        return Divergence(e.step, e.layer, e.block, "missing", 0.0, 0.0)
    return None
