"""Which GPUs each pytest-xdist worker sees: pure functions, no CUDA, no pytest.

`--falsify-gpus=auto|N|0,1,...` (ini `falsify_gpus`) names the GPUs a run may use. The
controller resolves it once (from `CUDA_VISIBLE_DEVICES`, else `nvidia-smi -L`, which
does not initialise CUDA) and hands the list to its workers in an environment variable;
each worker sets its own `CUDA_VISIBLE_DEVICES` before anything in it touches CUDA.

Worker k (`gw<k>`) sees the list rotated so that GPU `k mod n` comes first: CUDA's device
0 in that worker is its own GPU, and workers beyond the GPU count share round-robin. The
other GPUs stay visible after it, so a test marked `gpu(count=2)` runs on whichever
worker draws it, under `--dist load`, `loadscope` and `loadgroup` alike; its second device
is a neighbour's GPU, shared for the duration of that test.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: The resolved GPU list, from the controller to its workers (comma-separated entries).
ENV_PLAN = "PYTEST_FALSIFY_GPUS"
_SMI_LINE = re.compile(r"^GPU (\d+): (.*?) \(UUID: ([^)]+)\)\s*$")
_WORKER = re.compile(r"^gw(\d+)$")


class GpuSpecError(ValueError):
    """A `--falsify-gpus` value that names no usable GPU list."""


def parse_smi_list(text: str) -> list[dict[str, str]]:
    """`nvidia-smi -L` output as [{index, name, uuid}], in the order listed.

    A line looks like `GPU 0: NVIDIA H200 (UUID: GPU-3e1c...)`; MIG lines beneath a GPU
    (indented, `MIG ...`) are not GPUs of their own here and are skipped.
    """
    out = []
    for line in text.splitlines():
        m = _SMI_LINE.match(line.strip()) if line[:1] != " " else None
        if m:
            out.append({"index": m.group(1), "name": m.group(2), "uuid": m.group(3)})
    return out


def visible_from_env(value: str | None) -> list[str] | None:
    """The entries of a `CUDA_VISIBLE_DEVICES` value, or None when it is unset.

    CUDA stops at the first invalid entry; an empty value hides every GPU.
    """
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def resolve(spec: str, available: Sequence[str]) -> list[str]:
    """The GPUs a run uses: `auto` (all available), `N` (the first N), or a list.

    `available` are the entries the process may use (CUDA_VISIBLE_DEVICES' entries, or
    the indices nvidia-smi lists). `0` or `none` turns pinning off (an empty list).
    """
    s = spec.strip().lower()
    if s in ("", "auto"):
        return list(available)
    if s in ("none", "off"):
        return []
    if s.isdigit():
        n = int(s)
        if n > len(available):
            raise GpuSpecError(f"--falsify-gpus={spec}: this host has {len(available)} GPU(s)"
                               + (f" ({', '.join(available)})" if available else ""))
        return list(available[:n])
    entries = [e.strip() for e in spec.split(",")]
    if any(not e for e in entries):
        raise GpuSpecError(f"--falsify-gpus={spec}: use auto, a count, or GPU ids like 0,1")
    if len(set(entries)) != len(entries):
        raise GpuSpecError(f"--falsify-gpus={spec}: a GPU is named twice")
    unknown = [e for e in entries if available and e not in available]
    if unknown:
        raise GpuSpecError(f"--falsify-gpus={spec}: no GPU {', '.join(unknown)} here "
                           f"(visible: {', '.join(available) or 'none'})")
    return entries


def worker_index(worker_id: str | None) -> int:
    """0 for the controller or a run without xdist, k for `gw<k>`."""
    m = _WORKER.match(worker_id or "")
    return int(m.group(1)) if m else 0


def worker_view(gpus: Sequence[str], index: int) -> list[str]:
    """The GPUs worker `index` sees, its own first (round-robin beyond the GPU count)."""
    if not gpus:
        return []
    k = index % len(gpus)
    return list(gpus[k:]) + list(gpus[:k])


def encode(gpus: Sequence[str], controller_pid: int) -> str:
    """The plan as an environment value: `<controller pid>:<gpu>,<gpu>,...`."""
    return f"{controller_pid}:" + ",".join(gpus)


def decode(value: str | None, parent_pid: int) -> list[str] | None:
    """The GPU list, when `value` was set by this process's parent (the xdist controller).

    The pid check keeps a plan from leaking into unrelated pytest runs started below a
    worker (e.g. pytester subprocesses), which inherit the environment too.
    """
    if not value or ":" not in value:
        return None
    pid, _, gpus = value.partition(":")
    if pid != str(parent_pid):
        return None
    return [v for v in gpus.split(",") if v]


def count_skip_reason(needed: int, visible: int) -> str | None:
    """The skip reason of a `gpu(count=needed)` test where `visible` GPUs are seen."""
    if needed <= visible:
        return None
    return f"needs {needed} GPUs, this host has {visible}"


def physical(view: Sequence[str], smi: Sequence[dict[str, str]]) -> dict[str, str]:
    """Index and UUID of the GPU a worker runs on (its device 0), as nvidia-smi names it.

    `view` is the worker's CUDA_VISIBLE_DEVICES entries (an index or a UUID); without
    any, CUDA's device 0 is nvidia-smi's first GPU.
    """
    first = view[0] if view else (smi[0]["index"] if smi else "0")
    for g in smi:
        if first in (g["index"], g["uuid"]):
            return {"gpu_index": g["index"], "gpu_uuid": g["uuid"]}
    return {"gpu_index": first}
