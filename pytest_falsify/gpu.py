"""CUDA detection and GPU pinning for GPU gating, in a module of its own so tests can
monkeypatch it.

`cupy.cuda.is_available()` swallows errors and a device count does not prove kernels
compile, so the probe counts devices *and* runs a tiny kernel. CuPy is imported lazily:
the plugin must load on machines without it. `nvidia-smi -L` names the physical GPUs
without initialising CUDA, so the controller can plan which worker uses which GPU.
"""

from __future__ import annotations

import functools
import os
import subprocess

import pytest

from . import gpu_pinning as P


@functools.lru_cache(maxsize=1)
def smi_list() -> tuple[dict[str, str], ...]:
    """The physical GPUs as `nvidia-smi -L` lists them; empty where it is absent."""
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20,
                             check=False)
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(P.parse_smi_list(out.stdout)) if out.returncode == 0 else ()


def pin(config: pytest.Config) -> None:
    """Set this process's CUDA_VISIBLE_DEVICES from `--falsify-gpus` (ini `falsify_gpus`).

    The controller of an xdist run resolves the GPU list and leaves it in the environment,
    which its workers inherit; each worker then sees its own GPU first. A run without
    workers pins itself like worker 0. Nothing happens when no GPU list is asked for.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    plan = P.decode(os.environ.get(P.ENV_PLAN), os.getppid())
    if worker and plan is not None:
        _set_view(P.worker_view(plan, P.worker_index(worker)))
        return
    ns = config.known_args_namespace
    spec = getattr(ns, "falsify_gpus", None) or config.getini("falsify_gpus")
    if not spec:
        return
    available = P.visible_from_env(os.environ.get("CUDA_VISIBLE_DEVICES"))
    if available is None:
        available = [g["index"] for g in smi_list()]
    try:
        gpus = P.resolve(str(spec), available)
    except P.GpuSpecError as exc:
        raise pytest.UsageError(str(exc)) from None
    os.environ[P.ENV_PLAN] = P.encode(gpus, os.getpid())
    if not getattr(ns, "numprocesses", None) and not getattr(ns, "tx", None):
        _set_view(P.worker_view(gpus, 0))  # no workers: this process runs the tests


def _set_view(view: list[str]) -> None:
    if view:
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(view)


@functools.lru_cache(maxsize=1)
def probe() -> tuple[bool, dict | str]:
    """(True, device info) when a CUDA device runs a kernel, else (False, reason).

    The info names the device this process runs on (its CUDA device 0): name, driver,
    runtime, CuPy, the physical index and UUID as nvidia-smi names them, and `count`, the
    number of GPUs this process can see.
    """
    try:
        import cupy  # noqa: PLC0415 - lazy on purpose
    except Exception as exc:  # ImportError, or a broken CUDA install raising on import
        return False, f"no CUDA device (cupy not importable: {type(exc).__name__})"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
        if count < 1:
            return False, "no CUDA device"
        kernel = cupy.ElementwiseKernel("float32 x", "float32 y", "y = x * 2", "falsify_probe")
        out = kernel(cupy.arange(4, dtype=cupy.float32))
        if float(out.sum().get()) != 12.0:
            return False, "no CUDA device (probe kernel gave a wrong result)"
        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props.get("name", b"")
        view = P.visible_from_env(os.environ.get("CUDA_VISIBLE_DEVICES")) or []
        return True, {
            "device": name.decode() if isinstance(name, bytes) else str(name),
            "driver": cupy.cuda.runtime.driverGetVersion(),
            "runtime": cupy.cuda.runtime.runtimeGetVersion(),
            "cupy": cupy.__version__,
            **P.physical(view, smi_list()),
            "count": count,
        }
    except Exception as exc:  # CUDARuntimeError without a driver, compile errors, ...
        return False, f"no CUDA device ({type(exc).__name__}: {str(exc)[:200]})"
