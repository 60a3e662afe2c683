"""Arrays on the host and on the device: the one door to CuPy.

The model, the trainer and the GPU code all take their array module from their input
(`get_array_module`), so the same code runs on numpy and on CuPy arrays, and move
results back with `to_host`. CuPy is imported only by `require_cupy()` (or when an array
already is a CuPy array), so CPU-only installs never pay for it, and every way a GPU can
be missing becomes one error, `GpuUnavailable`, with a sentence that says what is
missing and what to install.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

INSTALL_HINT = ("install the GPU extra: pip install 'pytest-falsify[gpu]' "
                "(cupy-cuda12x; cupy-cuda13x on CUDA 13)")


class GpuUnavailable(RuntimeError):
    """No GPU to run on here: no CuPy, no driver, no device, or kernels fail to run."""


def get_array_module(x: Any) -> ModuleType:
    """numpy or cupy, whichever owns `x`; imports cupy only for a cupy array."""
    if type(x).__module__.split(".")[0] == "cupy":
        import cupy  # noqa: PLC0415 - deliberately lazy

        return cupy
    return np


def to_host(x: Any) -> np.ndarray:
    """`x` as a numpy array (a device array is copied to the host; numpy passes through)."""
    if isinstance(x, np.ndarray):
        return x
    get = getattr(x, "get", None)  # cupy.ndarray.get() copies to the host
    return np.asarray(get() if callable(get) else x)


_CUPY: Any = None


def require_cupy() -> Any:
    """The cupy module, after proving once that a device runs a kernel; else GpuUnavailable.

    A device count does not prove that kernels compile, so a tiny probe kernel is
    compiled and run, and its output checked.
    """
    global _CUPY
    if _CUPY is not None:
        return _CUPY
    try:
        import cupy  # noqa: PLC0415
    except ImportError as e:
        raise GpuUnavailable(f"the GPU backend needs CuPy, which is not importable ({e}); "
                             f"{INSTALL_HINT}") from None
    except Exception as e:  # a broken CUDA install can raise anything at import
        raise GpuUnavailable(f"CuPy failed to import: {type(e).__name__}: {e}") from None
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDARuntimeError without a driver
        raise GpuUnavailable(f"CuPy is installed but no CUDA driver answers: {e}") from None
    if n < 1:
        raise GpuUnavailable("CuPy is installed but it sees no CUDA device")
    try:
        probe = cupy.RawKernel(
            r'extern "C" __global__ void probe(int* o) { o[threadIdx.x] = 40 + threadIdx.x; }',
            "probe")
        out = cupy.zeros(2, dtype=cupy.int32)
        probe((1,), (2,), (out,))
        got = out.get().tolist()
    except Exception as e:
        raise GpuUnavailable(f"a CUDA device exists but a probe kernel failed to compile or run: "
                             f"{e}") from None
    if got != [40, 41]:
        raise GpuUnavailable(f"the probe kernel ran but wrote {got}, expected [40, 41]")
    _CUPY = cupy
    return cupy


def gpu_available() -> bool:
    try:
        require_cupy()
    except GpuUnavailable:
        return False
    return True
