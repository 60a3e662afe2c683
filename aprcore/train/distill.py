"""Knowledge distillation loss: temperature-scaled KL to a frozen teacher, plus CE.

loss = alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, targets)

The T^2 factor (Hinton et al. 2015) keeps the soft-target gradient's magnitude
independent of T: d/ds of KL at temperature T is (p_s - p_t) / T, so T^2 * KL has
gradient T * (p_s - p_t), which matches the CE gradient's scale as T grows.
KL is averaged over tokens, like CE.
"""

from __future__ import annotations

from .. import faults as _faults
from ..arrays import get_array_module as get_xp
from .graph import cross_entropy


def _log_softmax(xp, z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - xp.log(xp.exp(z).sum(axis=-1, keepdims=True))


def kl_divergence(teacher_logits, student_logits, temperature: float = 1.0):
    """Mean over tokens of KL(p_t || p_s) at temperature T, and d/d(student_logits).

    Not multiplied by T^2 (distill_loss does that).
    """
    xp = get_xp(student_logits)
    V = student_logits.shape[-1]
    s = student_logits.reshape(-1, V) / temperature
    t = teacher_logits.reshape(-1, V) / temperature
    lps, lpt = _log_softmax(xp, s), _log_softmax(xp, t)
    pt = xp.exp(lpt)
    n = s.shape[0]
    kl = (pt * (lpt - lps)).sum(axis=-1).mean()
    if _faults.on("kl_without_teacher_entropy") is not None:  # a fault, on purpose
        kl = (-pt * lps).sum(axis=-1).mean()
    grad = (xp.exp(lps) - pt) / (temperature * n)
    if _faults.on("kl_gradient_sign_flipped") is not None:  # a fault, on purpose
        grad = -grad
    return kl, grad.reshape(student_logits.shape)


def distill_loss(student_logits, teacher_logits, targets, temperature: float, alpha: float):
    """(loss, d loss / d student_logits, parts) with parts = {"kl", "ce"} as floats."""
    kl, dkl = kl_divergence(teacher_logits, student_logits, temperature)
    ce, dce = cross_entropy(student_logits, targets)
    t2 = temperature * temperature
    if _faults.on("soft_loss_without_t_squared") is not None:  # a fault, on purpose
        t2 = 1.0
    loss = alpha * t2 * kl + (1.0 - alpha) * ce
    grad = (alpha * t2) * dkl + (1.0 - alpha) * dce
    return loss, grad, {"kl": float(kl), "ce": float(ce)}
