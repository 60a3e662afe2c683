"""Per-tensor readers for any model file we support, under HF tensor names.

`open_source(path)` accepts a GGUF file, a `.safetensors` file, or an HF directory
(config.json plus one or more `*.safetensors` shards). Each source lists its tensors
(HF name, HF-order shape, stored type) and loads one tensor at a time as float32, so a
sweep over two files holds only the tensors being compared. Safetensors files go
through `formats.safetensors` (headers validated by safetensors' own parser); GGUF
through `gguf_io.GGUFModelFile`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import safetensors
from .errors import FormatError
from .hf import shard_files


@dataclass(frozen=True)
class TensorMeta:
    name: str  # HF name
    shape: tuple[int, ...]  # HF order
    dtype: str  # stored type: F32, BF16, Q4_K, ...
    nbytes: int  # bytes stored


class SafetensorsSource:
    """Safetensors shards read tensor by tensor, or row range by row range.

    A directory is read as an HF model directory (`hf.shard_files`: its model shards,
    never other safetensors files beside them). Headers are validated and tensors read
    by `formats.safetensors`; row ranges of F32/F16 tensors are read with `os.preadv`
    into a buffer the sweep reuses (`get_slice` would allocate a fresh array per call,
    and faulting those pages in cost as much system time as the comparison itself).
    """

    kind = "safetensors"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        p = Path(path)
        self.path = str(p)
        self._fds: dict[str, int] = {}  # first: __del__ runs even when the rest raises
        files = shard_files(p) if p.is_dir() else [p]
        self._where: dict[str, tuple[str, safetensors.TensorInfo]] = {}
        for f in files:
            for name, info in safetensors.read_header(f).items():
                if name in self._where:
                    raise FormatError(str(f), f"tensor {name!r} also in {self._where[name][0]}")
                self._where[name] = (str(f), info)

    def tensors(self) -> list[TensorMeta]:
        return [TensorMeta(i.name, i.shape, i.dtype, i.nbytes) for _, i in self._where.values()]

    def rows(self, name: str) -> int:
        shape = self._where[name][1].shape
        return shape[0] if len(shape) > 1 else 1

    def row_align(self, name: str) -> int:
        return 1

    def load_rows(self, name: str, r0: int, r1: int, out: np.ndarray | None = None) -> np.ndarray:
        """Rows [r0, r1) as float32 (the whole tensor when 1-D); into `out` if given."""
        fname, info = self._where[name]
        if info.dtype not in ("F32", "F16") or len(info.shape) < 2:
            full = self.load(name)
            return full if len(info.shape) < 2 else full[r0:r1]
        fd = self._fds.get(fname)
        if fd is None:
            fd = self._fds[fname] = os.open(fname, os.O_RDONLY)
        return safetensors.read_rows(fd, fname, info, r0, r1, out)

    def load(self, name: str) -> np.ndarray:
        fname, info = self._where[name]
        if info.dtype not in safetensors.FLOAT_DTYPES:
            raise FormatError(fname, f"tensor {name!r} has dtype {info.dtype}, not a float type")
        try:
            return safetensors.read_tensor(fname, info)
        except (OSError, ValueError) as e:
            raise FormatError(fname, f"tensor {name!r} is unreadable: {e}") from None

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def __del__(self) -> None:
        self.close()


class GGUFSource:
    kind = "gguf"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        from .gguf_io import GGUFModelFile

        self.file = GGUFModelFile(path)
        self.path = self.file.path

    def tensors(self) -> list[TensorMeta]:
        return [TensorMeta(t.hf_name, t.shape, t.type_name, t.nbytes) for t in self.file.tensors()]

    def rows(self, name: str) -> int:
        return self.file.rows(name)

    def row_align(self, name: str) -> int:
        return self.file.row_align(name)

    def load_rows(self, name: str, r0: int, r1: int, out: np.ndarray | None = None) -> np.ndarray:
        return self.file.load_rows(name, r0, r1, out)

    def load(self, name: str) -> np.ndarray:
        return self.file.load(name)


def open_source(path: str | os.PathLike[str]) -> SafetensorsSource | GGUFSource:
    """A per-tensor reader for a GGUF file, a safetensors file or an HF directory."""
    p = Path(path)
    if not p.exists():
        raise FormatError(str(p), "no such file or directory")
    if p.is_dir():
        return SafetensorsSource(p)
    if not p.is_file():  # a FIFO would block the open below for ever
        raise FormatError(str(p), "not a regular file")
    try:
        with open(p, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise FormatError(str(p), f"cannot read: {e.strerror or e}") from None
    if head[:4] == b"GGUF" or p.suffix == ".gguf":
        return GGUFSource(p)
    if p.suffix == ".safetensors":
        return SafetensorsSource(p)
    raise FormatError(str(p), "not a model file this tool reads (GGUF, .safetensors, or an HF directory)")
