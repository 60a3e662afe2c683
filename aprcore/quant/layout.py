"""The one table of ggml block layouts: what each field of a block is, in byte order.

A block of `weights` weights is stored as its fields one after the other; its size is
the sum of the field sizes, written out the way gguf-py's `GGML_QUANT_SIZES` writes
them (Q4_K: `2 + 2 + QK_K // 2 + 12`) and checked against that table in the tests.
Quantizers, dequantizers, the GPU kernels' wrappers and the tests all read offsets and
sizes from here. A new type (Q4_0, Q5_1, ...) is a new row, plus its codec module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

QK_K = 256  # weights per K-quant super-block
QK8_0 = 32  # weights per Q8_0 block
QK4 = 32  # weights per Q4_0 / Q4_1 / Q5_0 / Q5_1 block (QK4_0 ... QK5_1 in ggml-common.h)


@dataclass(frozen=True)
class Field:
    name: str
    dtype: str  # numpy dtype of one element, little-endian: "<f2", "u1", "i1"
    count: int

    @property
    def nbytes(self) -> int:
        return np.dtype(self.dtype).itemsize * self.count


@dataclass(frozen=True)
class BlockLayout:
    name: str
    weights: int  # weights per block
    fields: tuple[Field, ...]

    @property
    def nbytes(self) -> int:
        """Bytes per block: the sum of its fields."""
        return sum(f.nbytes for f in self.fields)

    def span(self, field: str) -> slice:
        """The byte range of `field` inside one block."""
        start = 0
        for f in self.fields:
            if f.name == field:
                return slice(start, start + f.nbytes)
            start += f.nbytes
        raise KeyError(f"{self.name} has no field {field!r}")

    def row_bytes(self, n_per_row: int) -> int:
        """Bytes of a row of `n_per_row` weights (a whole number of blocks)."""
        if n_per_row % self.weights:
            raise ValueError(f"{self.name} needs rows that are a multiple of {self.weights} "
                             f"weights, got {n_per_row}")
        return n_per_row // self.weights * self.nbytes


def _layout(name: str, weights: int, *fields: tuple[str, str, int]) -> BlockLayout:
    return BlockLayout(name, weights, tuple(Field(*f) for f in fields))


LAYOUTS: dict[str, BlockLayout] = {b.name: b for b in (
    # ggml-common.h block_q8_0: fp16 scale, 32 int8 quants
    _layout("Q8_0", QK8_0, ("d", "<f2", 1), ("qs", "i1", QK8_0)),
    # block_q4_0 / q4_1: fp16 d (and fp16 m), 4-bit quants: byte j holds weight j in its low
    # nibble and weight j+16 in its high nibble
    _layout("Q4_0", QK4, ("d", "<f2", 1), ("qs", "u1", QK4 // 2)),
    _layout("Q4_1", QK4, ("d", "<f2", 1), ("m", "<f2", 1), ("qs", "u1", QK4 // 2)),
    # block_q5_0 / q5_1: as Q4_0 / Q4_1 plus `qh`, a little-endian uint32 whose bit i is the
    # fifth bit of weight i
    _layout("Q5_0", QK4, ("d", "<f2", 1), ("qh", "u1", 4), ("qs", "u1", QK4 // 2)),
    _layout("Q5_1", QK4, ("d", "<f2", 1), ("m", "<f2", 1), ("qh", "u1", 4), ("qs", "u1", QK4 // 2)),
    # block_q4_K: fp16 d, fp16 dmin, 6-bit scales and mins of 8 sub-blocks of 32 packed in
    # 12 bytes (get_scale_min_k4), then 4-bit quants: byte 32j+l holds the low nibble of
    # weight 64j+l and the high nibble of weight 64j+32+l
    _layout("Q4_K", QK_K, ("d", "<f2", 1), ("dmin", "<f2", 1), ("scales", "u1", 12),
            ("qs", "u1", QK_K // 2)),
    # block_q6_K: low 4 bits, high 2 bits, 16 int8 sub-block scales, fp16 d
    _layout("Q6_K", QK_K, ("ql", "u1", QK_K // 2), ("qh", "u1", QK_K // 4),
            ("scales", "i1", QK_K // 16), ("d", "<f2", 1)),
)}

Q4_K = LAYOUTS["Q4_K"]
