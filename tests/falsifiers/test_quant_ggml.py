"""aprcore.quant against ggml: reference bytes, gguf's Q8_0 quantizer and dequantizers, bounds.

The golden blocks (tests/data/ggml_ref_quants.npz) were produced by ggml's own
reference quantizers (quantize_row_{q8_0,q4_K,q6_K}_ref of ggml-quants.c, llama.cpp
commit 01243c58, built with gcc -O2, as ggml-base is: no FMA contraction) on 99 blocks:
six weight distributions over ten decades of scale, all zeros, a constant block and a
sub-block holding a single non-zero value.
"""

from pathlib import Path

import gguf
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from aprcore import quant

GOLDEN = Path(__file__).parent.parent / "data" / "ggml_ref_quants.npz"
GGML = {name: gguf.GGMLQuantizationType[name] for name in quant.DEQUANT_TYPES}


@pytest.mark.falsifier("FALSIFY-QUANT-GGML-001")
@pytest.mark.parametrize("qtype", ["Q8_0", "Q4_K", "Q6_K"])
def test_quantize_reproduces_ggml_reference_bytes(qtype, record_property):
    ref = np.load(GOLDEN)
    ours = quant.quantize(ref["x"], qtype)
    bs, ts = quant.BLOCK_SIZES[qtype]
    bad = int((ours.reshape(-1, ts) != ref[qtype].reshape(-1, ts)).any(axis=1).sum())
    record_property("blocks_differing", bad)
    assert ours.shape == ref[qtype].shape
    assert bad == 0, f"{bad} {qtype} blocks differ from ggml's reference quantizer"


finite_rows = st.integers(1, 4).flatmap(lambda rows: st.integers(1, 4).flatmap(
    lambda blocks: arrays(np.float32, (rows, 32 * blocks),
                          elements=st.floats(-1e4, 1e4, width=32, allow_subnormal=False))))


@pytest.mark.falsifier("FALSIFY-QUANT-GGML-002")
# Blocks of tiny normal floats have a subnormal scale whose inverse overflows; gguf's
# quantizer then casts inf/nan to int8 (numpy on x86 yields 0 there, as ours writes) and warns.
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@given(x=finite_rows)
def test_q8_0_equals_gguf_quantizer(x):
    ours = quant.quantize(x, "Q8_0")
    theirs = gguf.quants.quantize(x, gguf.GGMLQuantizationType.Q8_0)
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.falsifier("FALSIFY-QUANT-GGML-003")
def test_block_sizes_are_ggmls():
    for name, t in GGML.items():
        assert quant.BLOCK_SIZES[name] == gguf.GGML_QUANT_SIZES[t]


@pytest.mark.falsifier("FALSIFY-QUANT-GGML-003")
# Arbitrary bytes hold inf/nan fp16 scales; gguf's own dequantizer warns on them.
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@given(qtype=st.sampled_from(sorted(GGML)), rows=st.integers(1, 3), blocks=st.integers(1, 3),
       seed=st.integers(0, 2**32 - 1))
def test_dequantize_equals_gguf_on_arbitrary_bytes(qtype, rows, blocks, seed):
    bs, ts = quant.BLOCK_SIZES[qtype]
    data = np.random.default_rng(seed).integers(0, 256, (rows, blocks * ts), dtype=np.uint8)
    ours = quant.dequantize(data, qtype, (rows, blocks * bs))
    theirs = gguf.quants.dequantize(data, GGML[qtype])
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)  # NaN matches NaN, everything else bit for bit


@pytest.mark.falsifier("FALSIFY-QUANT-GGML-003")
@pytest.mark.parametrize("qtype", ["Q8_0", "Q4_K", "Q6_K"])
def test_dequantize_of_our_bytes_equals_gguf(qtype):
    x = (np.random.default_rng(3).standard_normal((8, 512)) * 0.03).astype(np.float32)
    data = quant.quantize(x, qtype)
    np.testing.assert_array_equal(quant.dequantize(data, qtype, x.shape),
                                  gguf.quants.dequantize(data, GGML[qtype]))


@pytest.mark.falsifier("FALSIFY-QUANT-BOUND-004")
@given(x=finite_rows)
def test_q8_0_error_within_rounding_and_fp16_scale_bound(x):
    y = quant.dequantize(quant.quantize(x, "Q8_0"), "Q8_0", x.shape)
    b = x.reshape(-1, 32).astype(np.float64)
    amax = np.abs(b).max(axis=1, keepdims=True)
    normal = (amax / 127 >= 2.0**-14).ravel()  # the scale d = amax/127 is a normal fp16
    err = np.abs(y.reshape(-1, 32) - b)
    bound = amax * (1 / 254 + 1 / 2048) * (1 + 1e-6)
    assert (err[normal] <= bound[normal]).all()


@pytest.mark.falsifier("FALSIFY-QUANT-BOUND-004")
@given(seed=st.integers(0, 2**32 - 1), scale=st.floats(1e-3, 1e2), heavy=st.booleans())
@pytest.mark.parametrize("qtype,floor", [("Q4_K", 0.99), ("Q6_K", 0.999)])
def test_k_quant_cosine_on_gaussian_like_weights(qtype, floor, seed, scale, heavy):
    rng = np.random.default_rng(seed)
    x = rng.standard_t(5, (4, 512)) if heavy else rng.standard_normal((4, 512))
    x = (x * scale).astype(np.float32)
    y = quant.dequantize(quant.quantize(x, qtype), qtype, x.shape).astype(np.float64)
    cos = float(np.dot(x.ravel(), y.ravel()) / np.linalg.norm(x) / np.linalg.norm(y))
    assert cos >= floor
