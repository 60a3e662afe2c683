"""Greedy decode that keeps every step's logits, for comparing two backends step by step
(`Model.generate` keeps only the tokens)."""

from __future__ import annotations

import numpy as np


def decode_logits(model, backend, prompt, n_new: int) -> np.ndarray:
    """Prefill, then n_new greedy steps through the KV cache (the t=1 kernels): the last
    position's logits of each, stacked."""
    cache = model.new_cache(backend, capacity=len(prompt) + n_new + 1)
    rows = [model.forward(prompt, cache=cache)[-1]]
    for _ in range(n_new):
        rows.append(model.forward([int(np.argmax(rows[-1]))], cache=cache)[-1])
    return np.stack(rows)
