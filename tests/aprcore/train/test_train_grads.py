"""The trainer's hand-written backward matches float64 central finite differences.

Hypothesis draws the architecture (qwen2 with q/k/v bias and tied head, llama untied),
the GQA ratio, head dim, layer count, batch, sequence length and seed. For each example
a few random coordinates of every tensor are perturbed. Tolerance: |num - ana| <=
1e-6 + 1e-4 * |num| (central differences in float64 with eps 1e-6 carry ~1e-9 noise).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aprcore.config import ModelConfig
from aprcore.train.distill import distill_loss, kl_divergence
from aprcore.train.graph import cross_entropy, forward, loss_and_grads
from aprcore.train.init import init_weights
from aprcore.train.optim import AdamW, clip_grad_norm, lr_at


@st.composite
def small_configs(draw):
    arch = draw(st.sampled_from(["qwen2", "llama"]))
    nkv = draw(st.integers(1, 2))
    ratio = draw(st.sampled_from([1, 2, 3]))
    hd = draw(st.sampled_from([2, 4, 6]))
    nh = nkv * ratio
    return ModelConfig(
        arch=arch, vocab_size=draw(st.integers(5, 19)), hidden_size=nh * hd,
        intermediate_size=draw(st.integers(3, 12)), num_hidden_layers=draw(st.integers(1, 2)),
        num_attention_heads=nh, num_key_value_heads=nkv, rms_norm_eps=1e-6,
        rope_theta=draw(st.sampled_from([100.0, 10_000.0])),
        tie_word_embeddings=draw(st.booleans()))


def _perturbed_weights(cfg, seed):
    w = init_weights(cfg, seed, std=0.4, dtype=np.float64)
    rng = np.random.default_rng(seed + 1)
    for k in w:  # move norms off 1 and biases off 0 so their gradients are generic
        if w[k].ndim == 1:
            w[k] = w[k] + 0.3 * rng.standard_normal(w[k].shape)
    return w


def _loss(cfg, w, ids, tgt):
    return float(cross_entropy(forward(cfg, w, ids, keep=False)[0], tgt)[0])


@settings(deadline=None)
@given(cfg=small_configs(), seed=st.integers(0, 2**16), batch=st.integers(1, 2),
       seq=st.integers(1, 5))
def test_backward_matches_float64_finite_differences(cfg, seed, batch, seq):
    w = _perturbed_weights(cfg, seed)
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, cfg.vocab_size, (batch, seq))
    tgt = rng.integers(0, cfg.vocab_size, (batch, seq))
    _, grads = loss_and_grads(cfg, w, ids, tgt)
    assert sorted(grads) == sorted(w)
    eps = 1e-6
    for name, t in w.items():
        flat = t.reshape(-1)
        for j in rng.choice(flat.size, size=min(3, flat.size), replace=False):
            old = flat[j]
            flat[j] = old + eps
            lp = _loss(cfg, w, ids, tgt)
            flat[j] = old - eps
            lm = _loss(cfg, w, ids, tgt)
            flat[j] = old
            num = (lp - lm) / (2 * eps)
            ana = grads[name].reshape(-1)[j]
            assert abs(num - ana) <= 1e-6 + 1e-4 * abs(num), (name, int(j), num, ana)


@settings(deadline=None)
@given(seed=st.integers(0, 2**16), temp=st.sampled_from([0.5, 1.0, 2.0, 4.0]),
       alpha=st.floats(0.0, 1.0), vocab=st.integers(2, 12))
def test_distill_loss_gradient_matches_finite_differences(seed, temp, alpha, vocab):
    rng = np.random.default_rng(seed)
    s = rng.standard_normal((2, 3, vocab)) * 2
    t = rng.standard_normal((2, 3, vocab)) * 2
    tgt = rng.integers(0, vocab, (2, 3))
    _, grad, _ = distill_loss(s, t, tgt, temp, alpha)
    eps = 1e-6
    flat = s.reshape(-1)
    for j in range(flat.size):
        old = flat[j]
        flat[j] = old + eps
        lp = float(distill_loss(s, t, tgt, temp, alpha)[0])
        flat[j] = old - eps
        lm = float(distill_loss(s, t, tgt, temp, alpha)[0])
        flat[j] = old
        num = (lp - lm) / (2 * eps)
        assert abs(num - grad.reshape(-1)[j]) <= 1e-7 + 1e-5 * abs(num)


def test_kl_matches_torch_kl_div():
    # torch is the reference here, not a dependency: PyPI's torch is gigabytes of CUDA
    # wheels, so a plain `pip install .[test]` skips these two oracle checks.
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    s, t = rng.standard_normal((4, 7)), rng.standard_normal((4, 7))
    for temp in (1.0, 3.0):
        ours = float(kl_divergence(t, s, temp)[0])
        ref = torch.nn.functional.kl_div(
            torch.log_softmax(torch.tensor(s) / temp, -1), torch.log_softmax(torch.tensor(t) / temp, -1),
            reduction="batchmean", log_target=True).item()
        assert ours == pytest.approx(ref, rel=1e-12, abs=1e-12)


def test_adamw_matches_torch_adamw_over_several_steps():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    p = {"w": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}
    tp = [torch.tensor(p["w"].copy(), requires_grad=True), torch.tensor(p["b"].copy(), requires_grad=True)]
    topt = torch.optim.AdamW([{"params": [tp[0]], "weight_decay": 0.1},
                              {"params": [tp[1]], "weight_decay": 0.0}],
                             lr=1e-2, betas=(0.9, 0.95), eps=1e-8)
    opt = AdamW(lr=1e-2, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1)
    for _ in range(5):
        g = {"w": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}
        tp[0].grad, tp[1].grad = torch.tensor(g["w"]), torch.tensor(g["b"])
        topt.step()
        opt.step(p, g)
    np.testing.assert_allclose(p["w"], tp[0].detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(p["b"], tp[1].detach().numpy(), rtol=1e-12, atol=1e-14)


def test_clip_scales_to_max_norm_and_returns_the_unclipped_norm():
    g = {"a": np.full(4, 3.0), "b": np.full(1, 4.0)}
    norm = clip_grad_norm(g, 1.0)
    assert norm == pytest.approx(np.sqrt(36 + 16))
    assert np.sqrt((g["a"] ** 2).sum() + (g["b"] ** 2).sum()) == pytest.approx(1.0, rel=1e-5)


def test_schedule_warms_up_then_decays_to_the_floor():
    kw = dict(base_lr=1.0, total_steps=100, warmup=10, min_ratio=0.1)
    assert lr_at(0, **kw) == pytest.approx(0.1)
    assert lr_at(9, **kw) == pytest.approx(1.0)
    assert lr_at(100, **kw) == pytest.approx(0.1)
    assert lr_at(55, **kw) == pytest.approx(0.55)  # cosine midpoint
    assert lr_at(55, schedule="linear", **kw) == pytest.approx(0.55)
    lrs = [lr_at(s, **kw) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(lrs[:-1], lrs[1:], strict=True))


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["tiny-qwen2", "tiny-llama"])
def test_cupy_loss_and_gradients_match_numpy(name):
    """The same code on cupy arrays: loss and every gradient match the numpy run
    (NMSE <= 5e-4 per tensor, the matmul-like limit of llama.cpp's test-backend-ops)."""
    try:
        import cupy
        cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"no CUDA device ({e})")
    from aprcore.config import preset

    cfg = preset(name)
    w = init_weights(cfg, 0)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, cfg.vocab_size, (2, 24))
    tgt = rng.integers(0, cfg.vocab_size, (2, 24))
    l_cpu, g_cpu = loss_and_grads(cfg, w, ids, tgt)
    l_gpu, g_gpu = loss_and_grads(cfg, {k: cupy.asarray(v) for k, v in w.items()}, ids, tgt)
    assert l_gpu == pytest.approx(l_cpu, rel=1e-5)
    for k in g_cpu:
        a, b = g_cpu[k].astype(np.float64), cupy.asnumpy(g_gpu[k]).astype(np.float64)
        assert ((a - b) ** 2).sum() <= 5e-4 * (a ** 2).sum() + 1e-30, k


@pytest.mark.gpu
def test_cupy_fused_adamw_and_global_norm_match_numpy():
    try:
        import cupy
        cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"no CUDA device ({e})")
    rng = np.random.default_rng(1)
    p = {"w": rng.standard_normal((64, 32)).astype(np.float32), "b": rng.standard_normal(32).astype(np.float32)}
    pg = {k: cupy.asarray(v) for k, v in p.items()}
    o_cpu, o_gpu = AdamW(lr=1e-2), AdamW(lr=1e-2)
    for _ in range(5):
        g = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in p.items()}
        o_cpu.step(p, g)
        o_gpu.step(pg, {k: cupy.asarray(v) for k, v in g.items()})
    for k in p:
        np.testing.assert_allclose(cupy.asnumpy(pg[k]), p[k], rtol=1e-5, atol=1e-6)
    from aprcore.train.optim import global_norm

    assert global_norm(pg) == pytest.approx(global_norm(p), rel=1e-6)
