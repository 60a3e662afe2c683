"""AdamW with decoupled weight decay, global-norm gradient clipping, and LR schedules.

Written out rather than borrowed because it must run on numpy and cupy arrays alike and
keep its state in plain arrays that a checkpoint can save and restore bit-exactly.
The update follows torch.optim.AdamW (decay first, then the bias-corrected step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .. import faults as _faults
from ..arrays import get_array_module as get_xp

_FUSED: dict[str, Any] = {}


def _fused_adamw():
    """One CuPy kernel per tensor for the whole AdamW update (instead of ~12 passes).

    The same arithmetic, in the same order, as the numpy path below.
    """
    if "k" not in _FUSED:
        import cupy

        _FUSED["k"] = cupy.ElementwiseKernel(
            "T g, T b1, T b2, T decay, T step_size, T sqrt_bc2, T eps",
            "T p, T m, T v",
            """
            m = b1 * m + (1 - b1) * g;
            v = b2 * v + (1 - b2) * (g * g);
            p = p * decay;
            p = p - step_size * (m / (sqrt(v) / sqrt_bc2 + eps));
            """,
            "aprcore_adamw_step")
    return _FUSED["k"]


def no_decay(name: str, shape: tuple[int, ...]) -> bool:
    """Norm weights and biases are not decayed (the usual convention)."""
    return len(shape) < 2


@dataclass
class AdamW:
    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    weight_decay: float = 0.1
    t: int = 0
    m: dict[str, Any] = field(default_factory=dict)
    v: dict[str, Any] = field(default_factory=dict)

    def step(self, params: dict[str, Any], grads: dict[str, Any], lr: float | None = None) -> None:
        """Update `params` in place."""
        lr = self.lr if lr is None else lr
        self.t += 1
        bc1 = 1.0 - self.beta1 ** self.t
        bc2 = 1.0 - self.beta2 ** self.t
        step_size = lr / bc1
        if _faults.on("adamw_ascends") is not None:  # a fault, on purpose
            step_size = -step_size
        for name, p in params.items():
            gr = grads[name]
            xp = get_xp(p)
            if name not in self.m:
                self.m[name] = xp.zeros_like(p)
                self.v[name] = xp.zeros_like(p)
            m, v = self.m[name], self.v[name]
            decays = self.weight_decay and not no_decay(name, p.shape)
            if xp.__name__ == "cupy":
                dt = p.dtype.type
                _fused_adamw()(gr, dt(self.beta1), dt(self.beta2),
                               dt(1.0 - lr * self.weight_decay if decays else 1.0),
                               dt(step_size), dt(math.sqrt(bc2)), dt(self.eps), p, m, v)
                continue
            m *= self.beta1
            m += (1.0 - self.beta1) * gr
            v *= self.beta2
            v += (1.0 - self.beta2) * (gr * gr)
            if decays:
                p *= 1.0 - lr * self.weight_decay
            denom = xp.sqrt(v) / math.sqrt(bc2)
            denom += self.eps
            p -= step_size * (m / denom)


def global_norm(grads: dict[str, Any]) -> float:
    first = next(iter(grads.values()))
    xp = get_xp(first)
    if xp.__name__ == "cupy":  # one reduction kernel per tensor, one device sync in all
        if "sumsq" not in _FUSED:
            _FUSED["sumsq"] = xp.ReductionKernel("T x", "float64 y", "(double)x * (double)x",
                                                 "a + b", "y = a", "0", "aprcore_sumsq")
        sq = xp.stack([_FUSED["sumsq"](g) for g in grads.values()])
        return math.sqrt(float(sq.sum()))
    total = 0.0
    for gr in grads.values():
        total += float((gr * gr).sum())
    return math.sqrt(total)


def clip_grad_norm(grads: dict[str, Any], max_norm: float) -> float:
    """Scale all gradients in place so their global L2 norm is at most max_norm.

    Returns the norm before clipping (what torch's clip_grad_norm_ returns).
    """
    norm = global_norm(grads)
    if max_norm > 0 and norm > max_norm:
        s = max_norm / (norm + 1e-6)
        for gr in grads.values():
            gr *= s
    return norm


def lr_at(step: int, *, base_lr: float, total_steps: int, warmup: int = 0,
          schedule: str = "cosine", min_ratio: float = 0.1) -> float:
    """Learning rate for 0-based `step`: linear warmup, then cosine or linear decay to
    base_lr * min_ratio at total_steps (constant after)."""
    if warmup > 0 and step < warmup:
        return base_lr * (step + 1) / warmup
    if schedule == "constant" or total_steps <= warmup:
        return base_lr
    frac = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    if schedule == "cosine":
        k = 0.5 * (1.0 + math.cos(math.pi * frac))
    elif schedule == "linear":
        k = 1.0 - frac
    else:
        raise ValueError(f"unknown schedule {schedule!r}; expected cosine, linear or constant")
    return base_lr * (min_ratio + (1.0 - min_ratio) * k)
