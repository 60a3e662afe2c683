"""GPU kernels against their numpy references, in the style of llama.cpp's test-backend-ops.

Every case draws fresh random inputs, poisons the output with NaN before the launch (an
element the kernel forgot to write stays NaN and fails), and compares by
NMSE = sum((out-ref)^2) / sum(ref^2): below 1e-7 for elementwise/norm ops, 5e-4 for
matmul-like ops (matvec, Q4_K matvec, attention), 2e-3 for whole-model logits.
Shapes are deliberately not multiples of the warp, block or chunk sizes.
All tests need a CUDA device: they are `gpu`-marked and skip cleanly without one.
"""

from __future__ import annotations

import numpy as np
import pytest
from forward64 import forward64

from aprcore.config import ModelConfig, preset
from aprcore.gpu import GpuUnavailable, HostArrayError, require_cupy
from aprcore.gpu.reference import (
    decode_attention_ref,
    matvec_ref,
    random_q4k,
    random_weights,
    rmsnorm_ref,
    rope_ref,
    swiglu_matvec_ref,
)
from aprcore.ops import nmse, rope_inv_freq
from aprcore.quant import dequantize

pytestmark = pytest.mark.gpu

NMSE_DEFAULT = 1e-7
NMSE_MATMUL = 5e-4
NMSE_MODEL = 2e-3


@pytest.fixture(scope="session")
def cp():
    try:
        return require_cupy()
    except GpuUnavailable as e:  # only reached when the plugin did not already skip
        pytest.skip(f"no CUDA device: {e}")


@pytest.fixture
def rng(record_property):
    # fresh inputs every run (as test-backend-ops draws them); the seed is kept as evidence
    seed = int(np.random.SeedSequence().entropy % (2**63))
    record_property("seed", seed)
    return np.random.default_rng(seed)


def poisoned(cp, shape, dtype=np.float32):
    a = cp.empty(shape, dtype=dtype)
    a.fill(np.nan)
    return a


def check(out, ref, limit, record_property) -> float:
    host = out.get() if hasattr(out, "get") else np.asarray(out)
    assert not np.isnan(host).any(), f"{int(np.isnan(host).sum())} output elements are NaN (unwritten or NaN)"
    err = nmse(ref, host)
    record_property("nmse", err)
    assert err < limit, f"NMSE {err:.3e} over the limit {limit:.0e}"
    return err


# ------------------------------------------------------------------ RMSNorm


@pytest.mark.parametrize("rows,n", [(1, 896), (3, 1000), (2, 3584), (5, 33), (1, 4097)])
def test_rmsnorm_matches_reference(cp, rng, record_property, rows, n):
    from aprcore.gpu import kernels as K

    x = rng.standard_normal((rows, n)).astype(np.float32) * 3
    w = rng.standard_normal(n).astype(np.float32)
    out = poisoned(cp, (rows, n))
    K.rmsnorm(cp.asarray(x), cp.asarray(w), 1e-6, out=out)
    check(out, rmsnorm_ref(x, w, 1e-6), NMSE_DEFAULT, record_property)


# ------------------------------------------------------------------ float32 matvec


@pytest.mark.parametrize("rows,cols", [(1000, 896), (77, 4864), (151, 37), (33, 4096), (896, 4864), (1152, 896),
                                       (151936 // 16, 896)])
def test_matvec_with_bias_and_residual_matches_reference(cp, rng, record_property, rows, cols):
    from aprcore.gpu import kernels as K

    w = rng.standard_normal((rows, cols)).astype(np.float32)
    x = rng.standard_normal(cols).astype(np.float32)
    b = rng.standard_normal(rows).astype(np.float32)
    r = rng.standard_normal(rows).astype(np.float32)
    y = cp.asarray(r)  # in place: y = W x + b + y
    K.matvec(cp.asarray(w), cp.asarray(x), bias=cp.asarray(b), resid=y, out=y)
    check(y, matvec_ref(w, x, b, r), NMSE_MATMUL, record_property)


@pytest.mark.parametrize("f,cols", [(300, 896), (77, 130), (1001, 64)])
def test_matvec_swiglu_matches_reference(cp, rng, record_property, f, cols):
    from aprcore.gpu import kernels as K

    w = (rng.standard_normal((2 * f, cols)) / np.sqrt(cols)).astype(np.float32)
    x = rng.standard_normal(cols).astype(np.float32)
    out = poisoned(cp, (f,))
    K.matvec_swiglu(cp.asarray(w), cp.asarray(x), out=out)
    check(out, swiglu_matvec_ref(w, x), NMSE_MATMUL, record_property)


@pytest.mark.parametrize("rows,cols", [(1152, 896), (77, 130), (4864, 896)])
def test_matvec_with_fused_rmsnorm_matches_norm_then_matvec(cp, rng, record_property, rows, cols):
    from aprcore.gpu import kernels as K

    w = (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32)
    x = (3 * rng.standard_normal(cols)).astype(np.float32)
    g = (1 + 0.1 * rng.standard_normal(cols)).astype(np.float32)
    b = rng.standard_normal(rows).astype(np.float32)
    out = poisoned(cp, (rows,))
    K.matvec(cp.asarray(w), cp.asarray(x), bias=cp.asarray(b), out=out, norm=cp.asarray(g), eps=1e-6)
    check(out, matvec_ref(w, rmsnorm_ref(x, g, 1e-6), b), NMSE_MATMUL, record_property)
    out2 = poisoned(cp, (rows // 2,))
    K.matvec_swiglu(cp.asarray(w[: rows // 2 * 2]), cp.asarray(x), out=out2, norm=cp.asarray(g), eps=1e-6)
    check(out2, swiglu_matvec_ref(w[: rows // 2 * 2], rmsnorm_ref(x, g, 1e-6)), NMSE_MATMUL, record_property)


def test_q4k_matvec_with_fused_rmsnorm(cp, rng, record_property):
    from aprcore.gpu import kernels as K

    rows, cols = 1003, 3584
    wq = random_q4k(rows, cols, rng)
    x = (3 * rng.standard_normal(cols)).astype(np.float32)
    g = (1 + 0.1 * rng.standard_normal(cols)).astype(np.float32)
    out = poisoned(cp, (rows,))
    K.q4k_matvec(cp.asarray(wq), cp.asarray(x), rows, cols, out=out, norm=cp.asarray(g), eps=1e-6)
    check(out, matvec_ref(dequantize(wq, "Q4_K", (rows, cols)), rmsnorm_ref(x, g, 1e-6)), NMSE_MATMUL, record_property)


# ------------------------------------------------------------------ Q4_K


@pytest.mark.parametrize("rows,cols", [(37, 256), (1003, 3584), (4096, 4096), (3, 18944), (18944, 512),
                                       (3584, 18944), (384, 256), (300, 256), (256, 512)])
def test_q4k_matvec_matches_dequantized_reference(cp, rng, record_property, rows, cols):
    from aprcore.gpu import kernels as K

    wq = random_q4k(rows, cols, rng)
    x = rng.standard_normal(cols).astype(np.float32)
    out = poisoned(cp, (rows,))
    K.q4k_matvec(cp.asarray(wq), cp.asarray(x), rows, cols, out=out)
    check(out, matvec_ref(dequantize(wq, "Q4_K", (rows, cols)), x), NMSE_MATMUL, record_property)


def test_q4k_matvec_bias_and_residual_in_place(cp, rng, record_property):
    from aprcore.gpu import kernels as K

    rows, cols = 901, 1280
    wq = random_q4k(rows, cols, rng)
    x = rng.standard_normal(cols).astype(np.float32)
    b = rng.standard_normal(rows).astype(np.float32)
    r = rng.standard_normal(rows).astype(np.float32)
    y = cp.asarray(r)
    K.q4k_matvec(cp.asarray(wq), cp.asarray(x), rows, cols, bias=cp.asarray(b), resid=y, out=y)
    check(y, matvec_ref(dequantize(wq, "Q4_K", (rows, cols)), x, b, r), NMSE_MATMUL, record_property)


@pytest.mark.parametrize("plan", [(2, 1, 8), (2, 2, 4), (4, 1, 4), (4, 4, 8)])
@pytest.mark.parametrize("rows,cols", [(1003, 3584), (37, 256), (301, 4096)])
def test_q4k_matvec_every_launch_plan_matches_reference(cp, rng, record_property, plan, rows, cols):
    from aprcore.gpu import kernels as K

    wq = random_q4k(rows, cols, rng)
    x = rng.standard_normal(cols).astype(np.float32)
    out = poisoned(cp, (rows,))
    K.q4k_matvec(cp.asarray(wq), cp.asarray(x), rows, cols, out=out, plan=plan)
    check(out, matvec_ref(dequantize(wq, "Q4_K", (rows, cols)), x), NMSE_MATMUL, record_property)
    f = rows // 2
    out2 = poisoned(cp, (f,))
    K.q4k_matvec_swiglu(cp.asarray(wq[: 2 * f]), cp.asarray(x), f, cols, out=out2, plan=plan)
    check(out2, swiglu_matvec_ref(dequantize(wq[: 2 * f], "Q4_K", (2 * f, cols)), x), NMSE_MATMUL, record_property)


@pytest.mark.parametrize("f,cols", [(4864, 1024), (333, 3584), (512, 256), (18944, 3584)])
def test_q4k_matvec_swiglu_matches_reference(cp, rng, record_property, f, cols):
    from aprcore.gpu import kernels as K

    wq = random_q4k(2 * f, cols, rng)
    x = rng.standard_normal(cols).astype(np.float32)
    out = poisoned(cp, (f,))
    K.q4k_matvec_swiglu(cp.asarray(wq), cp.asarray(x), f, cols, out=out)
    check(out, swiglu_matvec_ref(dequantize(wq, "Q4_K", (2 * f, cols)), x), NMSE_MATMUL, record_property)


# ------------------------------------------------------------------ RoPE + KV append, embedding


@pytest.mark.parametrize("nh,nkv,hd,pos", [(28, 4, 128, 0), (28, 4, 128, 4000), (14, 2, 64, 77), (8, 2, 8, 5)])
def test_rope_append_rotates_q_and_appends_kv(cp, rng, record_property, nh, nkv, hd, pos):
    from aprcore.gpu import kernels as K

    theta = 1e6
    max_t = pos + 3
    qkv = rng.standard_normal((nh + 2 * nkv) * hd).astype(np.float32)
    kc = poisoned(cp, (nkv, max_t, hd))
    vc = poisoned(cp, (nkv, max_t, hd))
    inv = rope_inv_freq(hd, theta)
    d_qkv = cp.asarray(qkv)
    K.rope_append(d_qkv, kc, vc, cp.asarray(inv), cp.asarray(np.array([0, pos], np.int32)), nh, nkv, hd)
    q_ref = rope_ref(qkv[: nh * hd].reshape(nh, hd), pos, theta)
    k_ref = rope_ref(qkv[nh * hd:(nh + nkv) * hd].reshape(nkv, hd), pos, theta)
    e = max(check(d_qkv[: nh * hd].reshape(nh, hd), q_ref, NMSE_DEFAULT, record_property),
            check(kc[:, pos, :], k_ref, NMSE_DEFAULT, record_property))
    record_property("nmse", e)
    np.testing.assert_array_equal(vc[:, pos, :].get(), qkv[(nh + nkv) * hd:].reshape(nkv, hd))
    # nothing else in the cache was written
    assert np.isnan(kc[:, :pos, :].get()).all() and np.isnan(vc[:, pos + 1:, :].get()).all()


def test_embed_reads_the_token_from_device_memory(cp, rng):
    from aprcore.gpu import kernels as K

    table = rng.standard_normal((301, 97)).astype(np.float32)
    out = poisoned(cp, (97,))
    K.embed(cp.asarray(table), cp.asarray(np.array([123, 0], np.int32)), out)
    np.testing.assert_array_equal(out.get(), table[123])


# ------------------------------------------------------------------ decode attention


def _run_decode_attention(cp, rng, nh, nkv, hd, t, max_t, **kernel_args):
    """One decode-attention launch over fresh random q/K/V of `t` positions in a cache of
    `max_t`, whose rows past the sequence (and the output) are NaN-poisoned, so a read
    beyond the sequence or an unwritten output fails the check. Returns (out, reference)."""
    from aprcore.gpu import kernels as K

    q = rng.standard_normal((nh, hd)).astype(np.float32)
    k = rng.standard_normal((nkv, t, hd)).astype(np.float32)
    v = rng.standard_normal((nkv, t, hd)).astype(np.float32)
    kc = poisoned(cp, (nkv, max_t, hd))
    vc = poisoned(cp, (nkv, max_t, hd))
    kc[:, :t] = cp.asarray(k)
    vc[:, :t] = cp.asarray(v)
    out = poisoned(cp, (nh, hd))
    K.decode_attention(cp.asarray(q), kc, vc, cp.asarray(np.array([0, t - 1], np.int32)), out,
                       **kernel_args)
    return out, decode_attention_ref(q, k, v)


@pytest.mark.parametrize("nh,nkv,hd,t,max_t", [
    (28, 4, 128, 1, 64),        # first token: one cached position
    (28, 4, 128, 2, 100),       # second token
    (28, 4, 128, 1000, 1003),
    (28, 4, 128, 4096, 4096),
    (14, 2, 64, 37, 50),        # qwen2-0.5b heads
    (7, 1, 128, 65, 65),
    (8, 8, 16, 129, 130),       # MHA
    (14, 2, 8, 3, 9),           # tiny-qwen2-gqa7
    (4, 4, 256, 77, 80),
    (8, 2, 32, 7, 16),          # the Q4_K model test's heads
    (28, 4, 128, 3000, 4096),   # a cache much longer than the sequence
])
@pytest.mark.parametrize("chunk", [None, 64])   # None: the register variant's chunk
def test_decode_attention_matches_reference(cp, rng, record_property, nh, nkv, hd, t, max_t, chunk):
    out, ref = _run_decode_attention(cp, rng, nh, nkv, hd, t, max_t, chunk=chunk)
    check(out, ref, NMSE_MATMUL, record_property)


@pytest.mark.parametrize("nh,nkv", [(4, 4), (8, 4), (16, 4), (28, 4), (16, 2), (7, 1)])
@pytest.mark.parametrize("t", [1, 5, 129, 1001])
def test_fused_decode_attention_matches_reference_at_every_ratio(cp, rng, record_property, nh, nkv, t):
    """The default kernel at head_dim 128, ratios 1, 2, 4, 7, 8, at lengths that leave partial
    4-row groups, warps and blocks (its rows are dealt to the blocks in groups of 4); the
    cache past the sequence is NaN."""
    out, ref = _run_decode_attention(cp, rng, nh, nkv, 128, t, t + 3)
    check(out, ref, NMSE_MATMUL, record_property)


@pytest.mark.parametrize("aw,rk", [(8, 8), (4, 8), (16, 2), (8, 2)])
def test_fused_decode_attention_reuses_its_workspace_across_launches(cp, rng, record_property, aw, rk):
    """The fused kernel's last block resets the arrival counter: a second and third launch on
    the same workspace (as in a replayed CUDA graph, at a later position) are right too."""
    from aprcore.gpu import kernels as K

    nh, nkv, hd, max_t = 28, 4, 128, 1500
    q = rng.standard_normal((nh, hd)).astype(np.float32)
    k = rng.standard_normal((nkv, max_t, hd)).astype(np.float32)
    v = rng.standard_normal((nkv, max_t, hd)).astype(np.float32)
    kc, vc, dq = cp.asarray(k), cp.asarray(v), cp.asarray(q)
    ws = K.attention_workspace(nh, hd, max_t, K.fused_chunk(hd, aw, rk), nkv)
    for t in (1333, 7, 1500):
        out = poisoned(cp, (nh, hd))
        K.decode_attention(dq, kc, vc, cp.asarray(np.array([0, t - 1], np.int32)), out, workspace=ws,
                           variant="fused", aw=aw, rk=rk)
        check(out, decode_attention_ref(q, k[:, :t], v[:, :t]), NMSE_MATMUL, record_property)
    assert int(ws[2].get().sum()) == 0


# ------------------------------------------------------------------ the host guard


def test_float64_input_is_refused_not_reinterpreted(cp, rng):
    from aprcore.gpu import kernels as K

    w = cp.asarray(rng.standard_normal((8, 32)))   # float64
    with pytest.raises(TypeError, match="float32"):
        K.matvec(w, cp.zeros(32, cp.float32))


def test_host_array_in_a_device_kernel_is_an_error(cp, rng):
    from aprcore.gpu import kernels as K

    w = cp.asarray(rng.standard_normal((8, 32)).astype(np.float32))
    with pytest.raises(HostArrayError, match="fell off the device path"):
        K.matvec(w, rng.standard_normal(32).astype(np.float32))


# ------------------------------------------------------------------ the decode engine


@pytest.mark.parametrize("name", ["tiny-qwen2", "tiny-qwen2-gqa7", "tiny-llama"])
@pytest.mark.parametrize("use_graph", [True, False])
def test_gpu_decoder_logits_match_forward64(cp, rng, record_property, name, use_graph):
    from aprcore.gpu.decoder import GpuDecoder

    cfg = preset(name)
    w = random_weights(cfg, rng, scale=0.1)
    tokens = rng.integers(0, cfg.vocab_size, 11)
    dec = GpuDecoder(cfg, w, max_seq=70, use_graph=use_graph)
    assert (dec.graph is not None) == use_graph, dec.graph_error
    got = dec.forward(tokens)
    ref = forward64(cfg, w, tokens)
    check(got, ref, NMSE_MODEL, record_property)
    assert (got.argmax(-1) == ref.argmax(-1)).all()


def test_gpu_decoder_q4k_weights_stay_packed_and_match(cp, rng, record_property):
    from aprcore.gpu.decoder import GpuDecoder

    cfg = ModelConfig(arch="qwen2", vocab_size=300, hidden_size=256, intermediate_size=512,
                      num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=2,
                      tie_word_embeddings=False)
    dense = random_weights(cfg, rng, scale=0.05)
    packed = {}
    for name, arr in list(dense.items()):
        if arr.ndim == 2 and "embed" not in name and arr.shape[1] % 256 == 0:
            packed[name] = random_q4k(arr.shape[0], arr.shape[1], rng, scale=0.05)
            dense[name] = dequantize(packed[name], "Q4_K", arr.shape)
    tokens = rng.integers(0, cfg.vocab_size, 7)
    dec = GpuDecoder(cfg, {k: v for k, v in dense.items() if k not in packed}, packed, max_seq=16)
    assert dec.layers[0]["qkv"].q4k and dec.layers[0]["gu"].q4k and dec.lm_head.q4k
    got = dec.forward(tokens)
    ref = forward64(cfg, dense, tokens)
    f32 = GpuDecoder(cfg, dense, max_seq=16).forward(tokens)
    e_f32, e_q = nmse(ref, f32), nmse(ref, got)
    record_property("nmse_f32_decoder", e_f32)
    assert e_f32 < NMSE_MODEL, f"the float32 decoder on the dequantized weights is off: {e_f32:.3e}"
    assert e_q < NMSE_MODEL, f"Q4_K decoder NMSE {e_q:.3e} (float32 decoder {e_f32:.3e})"
    check(got, ref, NMSE_MODEL, record_property)


def test_gpu_decoder_rejects_a_full_cache(cp, rng):
    from aprcore.gpu.decoder import GpuDecoder

    cfg = preset("tiny-llama")
    dec = GpuDecoder(cfg, random_weights(cfg, rng), max_seq=4, use_graph=False)
    dec.forward([1, 2, 3, 4])
    with pytest.raises(ValueError, match="KV cache full"):
        dec.step(5)


def test_gpu_decoder_generate_on_device_equals_host_greedy(cp, rng):
    from aprcore.gpu.decoder import GpuDecoder

    cfg = preset("tiny-qwen2")
    w = random_weights(cfg, rng, scale=0.3)
    dec = GpuDecoder(cfg, w, max_seq=40)
    prompt = [3, 1, 4]
    got = dec.generate(prompt, 8)
    dec.reset()
    seq = list(prompt)
    for t in prompt[:-1]:
        dec.step(t)
    nxt = prompt[-1]
    for _ in range(8):
        dec.step(nxt)
        nxt = int(dec.logits.get(stream=dec.stream).argmax())
        seq.append(nxt)
    assert got == seq[len(prompt):]


def test_model_forward_that_reaches_host_weights_on_the_gpu_is_an_error(cp):
    import dataclasses

    from aprcore.gpu.backend import get_backend
    from aprcore.model import Model

    leaky = dataclasses.replace(get_backend(), to_device=lambda a: a)   # weights left on the host
    model = Model.random(preset("tiny-qwen2"), seed=0)
    # HostArrayError from our kernels, or CuPy's own TypeError on an implicit conversion:
    # either way an error, never a silent numpy fallback (HostArrayError is a TypeError)
    with pytest.raises(TypeError):
        model.forward([1, 2, 3], backend=leaky)


def test_model_forward_on_the_gpu_backend_keeps_weights_on_the_device(cp):
    from aprcore.gpu.backend import get_backend
    from aprcore.model import Model

    model = Model.random(preset("tiny-qwen2"), seed=0)
    model.forward([1, 2, 3], backend=get_backend())
    moved = model.device_weights(get_backend())
    assert all(isinstance(w, cp.ndarray) for w in moved.values())
