"""Backends: which array module runs the ops, and which ops a backend replaces.

The ops in `aprcore.ops` are written once against an array module `xp` taken from their
input (`get_array_module`), so the same model code runs on numpy and on CuPy arrays.
A `Backend` adds what differs per device: moving arrays there and back, and optional
kernel overrides (hand-written CUDA kernels, or, in tests, a deliberately broken op).

CuPy is never imported here: the "gpu" backend is built by `aprcore.gpu.backend` when it
is asked for, and raises `aprcore.arrays.GpuUnavailable` where no GPU can run it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from .arrays import to_host


def _identity(x: Any) -> Any:
    return x


@dataclass(frozen=True, eq=False)
class Backend:
    """A device to run the model on.

    name: how logs and reports call it ("cpu", "gpu", or a test's name).
    xp: the array module of its arrays (numpy, cupy).
    to_device / to_host: move one array there and back (float32 numpy on the host side).
    overrides: op name -> replacement for `aprcore.ops.<name>` with the same signature.
        The model calls these ops through the backend: rms_norm, linear, attention,
        silu, apply_rope (softmax is called inside attention, so override attention).
    """

    name: str
    xp: ModuleType = np
    to_device: Callable[[np.ndarray], Any] = _identity
    to_host: Callable[[Any], np.ndarray] = to_host
    overrides: dict[str, Callable[..., Any]] = field(default_factory=dict)

    def op(self, name: str) -> Callable[..., Any]:
        """The implementation of op `name` on this backend (override or the generic op)."""
        fn = self.overrides.get(name)
        if fn is not None:
            return fn
        from . import ops  # noqa: PLC0415 - ops imports this module

        return getattr(ops, name)


CPU = Backend(name="cpu")


def resolve_backend(name: str | Backend) -> Backend:
    """A `Backend` for "cpu" (numpy) or "gpu" (CuPy via aprcore.gpu); Backends pass through.

    Raises GpuUnavailable for "gpu" where no GPU runs, ValueError for an unknown name."""
    if isinstance(name, Backend):
        return name
    if name in ("cpu", "numpy"):
        return CPU
    if name in ("gpu", "cuda", "cupy"):
        from .gpu.backend import get_backend  # noqa: PLC0415 - only when a GPU is asked for

        return get_backend()
    raise ValueError(f"unknown backend {name!r}; expected 'cpu' or 'gpu'")
