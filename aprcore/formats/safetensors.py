"""The one safetensors reader and writer: validated headers, mapped tensors, atomic writes.

Every file is first opened with safetensors' own `safe_open`, whose Rust parser
validates the header (offsets that overlap, run past the file or disagree with
dtype x shape, oversized headers); only then is the header read for the byte offsets
that the mapped and row-range reads use. BF16, which numpy cannot represent and
safetensors' numpy API therefore refuses, is read from the mapped bytes and widened to
float32. Writing goes to a temporary name and is renamed over the target, so a crash
never leaves half a file under the real name.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import atomic
from .errors import FormatError

FLOAT_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2"}
_INT_DTYPES = {"I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str  # safetensors' name: F32, BF16, I64, ...
    shape: tuple[int, ...]
    offset: int  # absolute byte offset of the data in the file
    nbytes: int


def read_header(path: str | os.PathLike[str]) -> dict[str, TensorInfo]:
    """name -> TensorInfo of one safetensors file, after safetensors validated it."""
    from safetensors import SafetensorError, safe_open  # noqa: PLC0415 - core extra

    path = str(path)
    try:
        with safe_open(path, framework="numpy"):
            pass
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
    except (SafetensorError, OSError, ValueError, OverflowError, struct.error) as e:
        raise FormatError(path, f"not a readable safetensors file: {e}") from None
    out = {}
    for name, v in header.items():
        if name == "__metadata__":
            continue
        start, end = (int(x) for x in v["data_offsets"])
        out[name] = TensorInfo(name, str(v["dtype"]), tuple(int(s) for s in v["shape"]), 8 + n + start,
                               end - start)
    return out


def read_tensor(path: str | os.PathLike[str], info: TensorInfo) -> np.ndarray:
    """One tensor, float types widened to float32 (a copy), integer types as stored."""
    dtype = FLOAT_DTYPES.get(info.dtype) or _INT_DTYPES.get(info.dtype)
    if dtype is None:
        raise FormatError(path, f"tensor {info.name!r} has dtype {info.dtype}, which aprcore does not read")
    count = info.nbytes // np.dtype(dtype).itemsize
    raw = np.memmap(path, dtype=dtype, mode="r", offset=info.offset, shape=(count,)) if count else \
        np.empty(0, dtype)
    if info.dtype == "BF16":
        return (raw.astype(np.uint32) << 16).view(np.float32).reshape(info.shape)
    if info.dtype in FLOAT_DTYPES:
        return raw.astype(np.float32).reshape(info.shape)
    return np.array(raw).reshape(info.shape)


def read_rows(fd: int, path: str, info: TensorInfo, r0: int, r1: int,
              out: np.ndarray | None = None) -> np.ndarray:
    """Rows [r0, r1) of an F32 or F16 tensor as float32, read with `os.preadv` from `fd`
    (into `out` when given: a sweep reuses one buffer instead of faulting in fresh pages)."""
    row_elems = 1
    for s in info.shape[1:]:
        row_elems *= s
    width = 4 if info.dtype == "F32" else 2
    n = (r1 - r0) * row_elems
    shape = (r1 - r0, *info.shape[1:])
    if info.dtype == "F32":
        dst = np.empty(n, np.float32) if out is None else out.reshape(-1)[:n]
        raw = dst.view(np.uint8)
    else:
        raw = np.empty(n * width, np.uint8)
    got = os.preadv(fd, [raw], info.offset + r0 * row_elems * width)
    if got != raw.size:
        raise FormatError(path, f"tensor {info.name!r} is truncated: read {got} of {raw.size} bytes")
    if info.dtype == "F32":
        return dst.reshape(shape)
    return raw.view("<f2").astype(np.float32).reshape(shape)


def read_headers(files: list[Path]) -> dict[str, tuple[Path, TensorInfo]]:
    """name -> (file, TensorInfo) over the files of one model; a name twice is an error."""
    out: dict[str, tuple[Path, TensorInfo]] = {}
    for f in files:
        for name, info in read_header(f).items():
            if name in out:
                raise FormatError(f, f"tensor {name!r} is also in another file of this model")
            out[name] = (f, info)
    return out


def read_files(files: list[Path]) -> dict[str, np.ndarray]:
    """Every tensor of the files (float32 where they were floats); a name twice is an error."""
    return {name: read_tensor(f, info) for name, (f, info) in read_headers(files).items()}


def write_file(path: str | os.PathLike[str], tensors: Mapping[str, np.ndarray],
               metadata: Mapping[str, str] | None = None) -> Path:
    """Write `tensors` (C-contiguous copies) to `path` atomically (`atomic.replacing`)."""
    from safetensors.numpy import save_file  # noqa: PLC0415

    path = Path(path)
    with atomic.replacing(path) as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp),
                  metadata=dict(metadata) if metadata else None)
    return path
