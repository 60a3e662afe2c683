"""ggml block quantization in vectorized numpy: Q8_0, Q4_K and Q6_K (and decoding of the
legacy Q4_0, Q4_1, Q5_0, Q5_1, which published files still use).

One module per type (`q8_0`, `q4_k`, `q6_k`) holds its quantizer and dequantizer,
`legacy` the dequantizers of the legacy types (QUANT_TYPES quantize; DEQUANT_TYPES decode);
`layout.LAYOUTS` is the one table of block layouts they, the GPU code and the tests read.

The bytes match ggml's reference quantizers (`quantize_row_q8_0_ref`,
`quantize_row_q4_K_ref`, `quantize_row_q6_K_ref` in ggml-quants.c, which llama.cpp
uses when no importance matrix is given), so a file we write holds what
`llama-quantize` would have written from the same floats. Byte compatibility needs
ggml's float32 semantics reproduced step by step (`ggml_float`).

Python loops run over element positions inside a block (at most 32) and over the
scale-search steps (20 or 18), never over blocks: each numpy call handles every block
of a chunk at once. Chunks keep the working set in cache.

gguf's `quants` module dequantizes Q4_K and Q6_K but only quantizes Q8_0 (and some
other types), which is why the K-quant quantizers are written here; our Q8_0 is
checked against gguf's byte for byte.
"""

from __future__ import annotations

import numpy as np

from . import legacy, q4_k, q6_k, q8_0
from .layout import LAYOUTS, QK_K

__all__ = ["BLOCK_SIZES", "DEQUANT_TYPES", "LAYOUTS", "QK_K", "QUANT_TYPES", "QuantError", "block_sizes",
           "dequantize", "quantize"]

# type -> its codec module (quantize_blocks(blocks) -> bytes, dequantize_blocks(bytes, out))
_CODECS = {"Q8_0": q8_0, "Q4_K": q4_k, "Q6_K": q6_k}
# type -> dequantize_blocks(bytes, out): every type we read
_DECODERS = {**{t: m.dequantize_blocks for t, m in _CODECS.items()}, **legacy.DEQUANTIZERS}
QUANT_TYPES = tuple(_CODECS)
DEQUANT_TYPES = tuple(_DECODERS)
# type -> (block size in weights, block size in bytes), from the layout table; equal to
# gguf.GGML_QUANT_SIZES (a test checks)
BLOCK_SIZES: dict[str, tuple[int, int]] = {t: (LAYOUTS[t].weights, LAYOUTS[t].nbytes) for t in _DECODERS}
_F32 = np.float32
_CHUNK_WEIGHTS = 1 << 18  # weights per chunk: a few MB of temporaries stay in cache


class QuantError(ValueError):
    """An array that cannot be quantized or dequantized as asked."""


def block_sizes(qtype: str) -> tuple[int, int]:
    try:
        return BLOCK_SIZES[qtype]
    except KeyError:
        raise QuantError(f"unknown quant type {qtype!r}; known: {', '.join(DEQUANT_TYPES)}") from None


def _as_blocks(x: np.ndarray, qtype: str) -> tuple[np.ndarray, tuple[int, ...]]:
    x = np.asarray(x)
    if x.ndim == 0:
        raise QuantError("cannot quantize a scalar")
    bs, ts = block_sizes(qtype)
    if x.shape[-1] % bs:
        raise QuantError(
            f"{qtype} needs rows that are a multiple of {bs} weights; shape {x.shape} has "
            f"{x.shape[-1]} per row"
        )
    x = np.ascontiguousarray(x, dtype=_F32)
    if not np.isfinite(x).all():
        raise QuantError(f"cannot quantize non-finite values to {qtype}")
    rows = int(np.prod(x.shape[:-1], dtype=np.int64)) if x.ndim > 1 else 1
    return x.reshape(-1, bs), (rows, x.shape[-1] // bs * ts)


def quantize(x: np.ndarray, qtype: str) -> np.ndarray:
    """Quantize float weights to ggml blocks.

    `x` has rows along its last axis (an HF `[out, in]` weight quantizes along `in`, as
    ggml does). Returns uint8 `(rows, bytes_per_row)`, the bytes ggml stores.
    """
    if qtype not in _CODECS:
        raise QuantError(f"cannot quantize to {qtype!r}; quantize to one of {', '.join(QUANT_TYPES)}")
    blocks, out_shape = _as_blocks(x, qtype)
    quantizer = _CODECS[qtype].quantize_blocks
    bs, ts = BLOCK_SIZES[qtype]
    out = np.empty((blocks.shape[0], ts), np.uint8)
    step = max(1, _CHUNK_WEIGHTS // bs)
    for i in range(0, blocks.shape[0], step):
        out[i:i + step] = quantizer(blocks[i:i + step])
    return out.reshape(out_shape)


def dequantize(data: np.ndarray, qtype: str, shape: tuple[int, ...] | list[int],
               out: np.ndarray | None = None) -> np.ndarray:
    """Dequantize ggml blocks to float32 of `shape` (numpy order, rows along the last axis).

    `out`, if given, is a contiguous float32 buffer of at least prod(shape) elements to
    write into (a sweep reuses one per thread instead of faulting in fresh pages).
    """
    bs, ts = block_sizes(qtype)
    dequantizer = _DECODERS[qtype]
    shape = tuple(int(s) for s in shape)
    if not shape or any(s < 0 for s in shape):
        raise QuantError(f"bad shape {shape} for {qtype}")
    if shape[-1] % bs:
        raise QuantError(f"{qtype} rows must be a multiple of {bs} weights, shape {shape}")
    n = 1
    for s in shape:
        n *= s
    data = np.asarray(data)
    if data.dtype != np.uint8:
        raise QuantError(f"{qtype} data must be uint8 bytes, got {data.dtype}")
    nblocks = n // bs
    if data.size != nblocks * ts:
        raise QuantError(
            f"{qtype} data of shape {shape} needs {nblocks * ts} bytes, got {data.size}"
        )
    blk = np.ascontiguousarray(data).reshape(nblocks, ts)
    if out is None:
        out = np.empty(n, _F32)
    else:
        if out.dtype != _F32 or not out.flags.c_contiguous or out.size < n:
            raise QuantError(f"out must be a contiguous float32 buffer of at least {n} elements")
        out = out.reshape(-1)[:n]
    ob = out.reshape(nblocks, bs)
    step = max(1, _CHUNK_WEIGHTS // bs)
    with np.errstate(invalid="ignore", over="ignore"):  # inf/NaN scales in the bytes are data
        for i in range(0, nblocks, step):
            dequantizer(blk[i:i + step], ob[i:i + step])
    return out.reshape(shape)
