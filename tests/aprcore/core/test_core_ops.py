"""The ops of aprcore: each one's defining property, on numpy."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from aprcore import Model, ops, preset
from aprcore.arrays import GpuUnavailable, get_array_module
from aprcore.backend import CPU, Backend, resolve_backend

f32 = st.floats(-100, 100, width=32, allow_subnormal=False)
BIG = float(np.float32(1e30))  # far beyond any logit: the max-shift must keep exp finite
rows = arrays(np.float32, st.tuples(st.integers(1, 4), st.integers(2, 64)), elements=f32)


@settings(max_examples=50)
@given(x=rows, scale=st.floats(0.01, 100))
def test_rms_norm_is_scale_invariant(x, scale):
    # eps=0 is the exact invariance; rows of ~zero magnitude are left out (eps dominates there).
    x = x[np.sqrt((x * x).mean(-1)) > 1e-2]
    w = np.linspace(0.5, 1.5, x.shape[-1], dtype=np.float32)
    a = ops.rms_norm(x, w, 0.0)
    b = ops.rms_norm(x * np.float32(scale), w, 0.0)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_rms_norm_matches_its_definition():
    x = np.array([[3.0, 4.0]], dtype=np.float32)
    w = np.array([2.0, 0.5], dtype=np.float32)
    ms = (9 + 16) / 2
    expected = w * x / np.sqrt(ms + 1e-6)
    np.testing.assert_allclose(ops.rms_norm(x, w, 1e-6), expected, rtol=1e-6)


@settings(max_examples=50)
@given(x=arrays(np.float32, st.tuples(st.integers(1, 5), st.integers(1, 50)),
                elements=st.floats(-BIG, BIG, width=32, allow_subnormal=False)))
def test_softmax_rows_sum_to_one_and_never_overflow(x):
    p = ops.softmax(x, axis=-1)
    assert np.isfinite(p).all() and (p >= 0).all()
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-5)


def test_silu_matches_x_times_sigmoid_without_overflow():
    x = np.array([-1000, -80, -5, 0, 1, 5, 80, 1000], dtype=np.float32)
    with np.errstate(over="raise"):
        y = ops.silu(x)
    ref = x.astype(np.float64) / (1 + np.exp(-np.clip(x.astype(np.float64), -700, 700)))
    np.testing.assert_allclose(y, ref, rtol=1e-6, atol=1e-30)


def test_swiglu_is_silu_of_gate_times_up():
    g = np.array([1.0, -2.0], dtype=np.float32)
    u = np.array([3.0, 0.5], dtype=np.float32)
    np.testing.assert_allclose(ops.swiglu(g, u), ops.silu(g) * u)
    assert not np.allclose(ops.swiglu(g, u), ops.swiglu(u, g))


@pytest.mark.parametrize("rows_", [1, 3])
def test_linear_is_x_times_w_transposed_plus_bias(rows_):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows_, 5)).astype(np.float32)
    w = rng.standard_normal((7, 5)).astype(np.float32)
    b = rng.standard_normal(7).astype(np.float32)
    np.testing.assert_allclose(ops.linear(x, w, b), x @ w.T + b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ops.linear(x, w), x @ w.T, rtol=1e-5, atol=1e-6)


def test_rope_at_position_zero_is_identity_and_uses_rotate_half_pairs():
    d = 8
    x = np.arange(1, d + 1, dtype=np.float32).reshape(1, 1, d)
    cos, sin = ops.rope_cos_sin(np.array([0]), d, 10_000.0)
    np.testing.assert_array_equal(ops.apply_rope(x, cos, sin), x)
    # Position 1, pair (0, d/2) rotates by angle 1 rad (inv_freq[0] = 1).
    cos, sin = ops.rope_cos_sin(np.array([1]), d, 10_000.0)
    y = ops.apply_rope(x, cos, sin)[0, 0]
    np.testing.assert_allclose(y[0], 1 * np.cos(1) - 5 * np.sin(1), rtol=1e-6)
    np.testing.assert_allclose(y[4], 5 * np.cos(1) + 1 * np.sin(1), rtol=1e-6)


def test_attention_is_causal():
    rng = np.random.default_rng(1)
    q = rng.standard_normal((3, 2, 4)).astype(np.float32)
    k = rng.standard_normal((1, 3, 4)).astype(np.float32)
    v = rng.standard_normal((1, 3, 4)).astype(np.float32)
    out = ops.attention(q, k, v)
    v2 = v.copy()
    v2[:, 2] += 100  # changing the last key/value must not affect earlier positions
    out2 = ops.attention(q, k, v2)
    np.testing.assert_array_equal(out[:2], out2[:2])
    assert not np.allclose(out[2], out2[2])


def test_cosine_and_nmse_reference_values():
    a = np.array([1.0, 0.0], dtype=np.float32)
    assert ops.cosine(a, a) == pytest.approx(1.0)
    assert ops.cosine(a, np.array([0.0, 1.0])) == pytest.approx(0.0)
    assert ops.cosine(a, -a) == pytest.approx(-1.0)
    assert np.isnan(ops.cosine(a, np.array([np.nan, 0.0])))
    assert ops.nmse(a, a) == 0.0
    assert ops.nmse(a, np.full_like(a, np.nan)) == float("inf")  # fails closed, never NaN
    assert ops.nmse(np.full_like(a, np.inf), a) == float("inf")
    assert ops.nmse(np.array([2.0, 0.0]), np.array([1.0, 0.0])) == pytest.approx(0.25)


def test_get_array_module_is_numpy_for_numpy_and_imports_no_cupy():
    had = "cupy" in sys.modules
    assert get_array_module(np.zeros(2)) is np
    assert ("cupy" in sys.modules) == had


def test_resolve_backend_cpu_and_unavailable_gpu(monkeypatch):
    assert resolve_backend("cpu") is CPU
    be = Backend(name="custom")
    assert resolve_backend(be) is be
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy -> ImportError
    monkeypatch.setattr("aprcore.arrays._CUPY", None)
    with pytest.raises(GpuUnavailable, match="needs CuPy"):
        resolve_backend("gpu")
    with pytest.raises(ValueError, match="unknown backend"):
        resolve_backend("tpu")


def test_rope_frequencies_are_hf_float32_not_float64_rounded():
    """HF computes inv_freq and the angles in float32; rounding a float64 computation
    gives different bits for Qwen2's theta, so the convention is pinned, not incidental."""
    hd, theta = 64, 1_000_000.0
    inv = ops.rope_inv_freq(hd, theta)
    exponent = np.arange(0, hd, 2, dtype=np.int64).astype(np.float32) / np.float32(hd)
    assert inv.dtype == np.float32
    np.testing.assert_array_equal(inv, np.float32(1.0) / np.float32(theta) ** exponent)
    pos = np.arange(4096)
    cos, _ = ops.rope_cos_sin(pos, hd, theta)
    f64 = np.cos(np.outer(pos, 1.0 / theta ** (np.arange(0, hd, 2) / hd))).astype(np.float32)
    assert not np.array_equal(cos[:, : hd // 2], f64)


def test_rope_tables_equal_transformers_qwen2_rotary_embedding():
    torch = pytest.importorskip("torch")
    qwen2 = pytest.importorskip("transformers.models.qwen2.modeling_qwen2")
    from transformers import Qwen2Config

    cfg = Qwen2Config(hidden_size=256, num_attention_heads=4, rope_theta=1_000_000.0,
                      max_position_embeddings=4096)
    rot = qwen2.Qwen2RotaryEmbedding(config=cfg)
    pos = torch.arange(4096)[None, :]
    cos_hf, sin_hf = rot(torch.zeros(1, 4096, 64), pos)
    cos, sin = ops.rope_cos_sin(np.arange(4096), 64, 1_000_000.0)
    np.testing.assert_allclose(cos, cos_hf[0].numpy(), rtol=0, atol=2e-6)
    np.testing.assert_allclose(sin, sin_hf[0].numpy(), rtol=0, atol=2e-6)
    np.testing.assert_array_equal(ops.rope_inv_freq(64, 1_000_000.0), rot.inv_freq.numpy())


def test_training_forward_uses_the_models_rope_tables():
    from aprcore.train import graph

    cfg = preset("tiny-qwen2")
    w = {k: v.astype(np.float64) for k, v in Model.random(cfg, seed=2).weights.items()}
    _, cache = graph.forward(cfg, w, np.arange(300)[None, :] % cfg.vocab_size)
    cos, sin = ops.rope_cos_sin(np.arange(300), cfg.head_dim, cfg.rope_theta)
    assert np.array_equal(np.asarray(cache["cos"]).reshape(300, -1), cos)
    assert np.array_equal(np.asarray(cache["sin"]).reshape(300, -1), sin)
