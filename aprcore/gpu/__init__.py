"""aprcore's CUDA backend: hand-written CuPy kernels and a GPU decode engine.

Importing this package never imports cupy; `aprcore.arrays.require_cupy()` does, on
first use, and raises `GpuUnavailable` with a clear sentence when CuPy, a driver or a
device is missing. Modules: `device` (keeping tensors on the device), `kernels` (launch
wrappers of `cuda/*.cu`, one file per op), `backend` (the ops the model calls on the
GPU), `decoder` (the CUDA-graph decode engine), `faults` (deliberately broken kernels),
`reference` (numpy specifications of the kernels, for the tests; runs anywhere).
"""

from .device import (
    GpuUnavailable,
    HostArrayError,
    device_info,
    ensure_device,
    gpu_available,
    require_cupy,
    to_device,
)

__all__ = [
    "GpuUnavailable",
    "HostArrayError",
    "device_info",
    "ensure_device",
    "gpu_available",
    "require_cupy",
    "to_device",
]
