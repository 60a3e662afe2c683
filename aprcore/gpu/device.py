"""The device side of the GPU backend: keeping tensors there, and saying which device.

CuPy itself is reached through `aprcore.arrays.require_cupy`, the one door to it, which
raises `GpuUnavailable` when CuPy, a driver or a device is missing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..arrays import GpuUnavailable, gpu_available, require_cupy

__all__ = ["GpuUnavailable", "HostArrayError", "device_info", "ensure_device", "gpu_available",
           "require_cupy", "to_device"]


class HostArrayError(TypeError):
    """A host (numpy) array reached a device computation: moving it silently would hide a bug."""


def device_info() -> dict[str, str]:
    """Device name, driver and CuPy version: the provenance GPU evidence records."""
    cp = require_cupy()
    dev = cp.cuda.Device()
    props = cp.cuda.runtime.getDeviceProperties(dev.id)
    name = props["name"]
    name = name.decode() if isinstance(name, bytes) else str(name)
    drv = cp.cuda.runtime.driverGetVersion()
    info = {
        "device": name,
        "compute_capability": str(dev.compute_capability),
        "cuda_driver_api": f"{drv // 1000}.{drv % 1000 // 10}",
        "cupy": cp.__version__,
    }
    info["driver"] = _driver_version() or info["cuda_driver_api"]
    return info


def _driver_version() -> str | None:
    """The driver's own version string (e.g. 580.159.04) through NVML, when it is there."""
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        v = pynvml.nvmlSystemGetDriverVersion()
        return v.decode() if isinstance(v, bytes) else str(v)
    except Exception:
        return None


def ensure_device(*arrays: Any, what: str = "a GPU kernel") -> None:
    """Raise HostArrayError if any argument is not a cupy array (None is allowed)."""
    cp = require_cupy()
    for a in arrays:
        if a is not None and not isinstance(a, cp.ndarray):
            raise HostArrayError(
                f"{what} got a {type(a).__module__}.{type(a).__name__}; the GPU path keeps every "
                "tensor on the device, so a host array here means something fell off the device path"
            )


def to_device(a: Any, dtype: Any = None) -> Any:
    """Copy a host array to the device once (C-contiguous, optionally cast)."""
    cp = require_cupy()
    host = np.ascontiguousarray(a if dtype is None else np.asarray(a, dtype=dtype))
    return cp.asarray(host)
