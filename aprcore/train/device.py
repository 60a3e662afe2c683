"""Device selection for training. `--device cuda` never falls back to the CPU.

GATE-GPUTRAIN-002: when CUDA is requested and cupy, a driver or a working device is
missing, the run fails before any step with a message citing the gate; it never trains
on the CPU instead. The device is probed by `aprcore.arrays.require_cupy` (a kernel is
compiled and run: a device count alone does not prove kernels run).
"""

from __future__ import annotations

import numpy as np

from .. import faults as _faults
from ..arrays import GpuUnavailable, require_cupy

GATE_ID = "GATE-GPUTRAIN-002"


def resolve(device: str):
    """The array module for `device` ("cpu" -> numpy, "cuda" / "cuda:N" -> cupy).

    Raises ValueError for a name that is neither, GpuUnavailable (citing the gate) when
    the CUDA device cannot run."""
    if device == "cpu":
        return np
    index_text = device[len("cuda:"):] if device.startswith("cuda:") else "0"
    if not (device == "cuda" or device.startswith("cuda:")) or not index_text.isdigit():
        raise ValueError(f"unknown device {device!r}; expected cpu or cuda[:N]")
    if _faults.on("cuda_training_falls_back_to_cpu") is not None:
        return np  # a fault, on purpose: the silent fallback this gate forbids
    refuse = f"[{GATE_ID}] --device {device} requested but"
    try:
        cupy = require_cupy()
        n = cupy.cuda.runtime.getDeviceCount()
        if int(index_text) >= n:
            raise GpuUnavailable(f"only {n} CUDA device(s) exist")
        cupy.cuda.Device(int(index_text)).use()
    except GpuUnavailable as e:
        raise GpuUnavailable(f"{refuse} {e}; refusing to fall back to the CPU") from None
    return cupy


def describe(xp) -> dict:
    """What the log's start record says about the device."""
    if xp is np:
        return {"device": "cpu"}
    from ..gpu.device import device_info  # noqa: PLC0415 - only on a GPU run

    info = device_info()
    return {"device": f"cuda:{xp.cuda.Device().id}", "device_name": info["device"], "cupy": info["cupy"]}


def memory_bytes(xp) -> dict:
    """Device memory this process holds (cupy pool) and the device's used total."""
    if xp is np:
        return {}
    free, total = xp.cuda.runtime.memGetInfo()
    return {"device_pool_bytes": int(xp.get_default_memory_pool().used_bytes()),
            "device_used_bytes": int(total - free)}


def synchronize(xp) -> None:
    if xp is not np:
        xp.cuda.Device().synchronize()
