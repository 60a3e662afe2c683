"""qwen2-gqa-attention-parity-v1: grouped-query attention maps heads, caches and rotates right.

Each claim is checked two ways: the attention op against a naive per-head reference,
and the whole model against a naive float64 forward (tests/falsifiers/_core_reference.py)
that shares no code with aprcore.ops. Each fault this contract exists for is injected
once to show the check goes red with it and stays green without.
"""

from __future__ import annotations

import numpy as np
import pytest
from forward64 import max_rel_err, naive_forward, naive_head_attention
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from aprcore import Model, preset
from aprcore.faults import inject
from aprcore.ops import apply_rope, attention, rope_cos_sin

RATIOS = {7: preset("tiny-qwen2-gqa7"),
          8: preset("tiny-qwen2").replace(hidden_size=128, num_attention_heads=16,
                                          num_key_value_heads=2)}
IDS = [7, 201, 33, 150, 2]
TOL = 1e-4  # float32 model vs float64 reference, relative to the largest logit


def _qkv(rng, t, s, nh, nkv, d):
    q = rng.standard_normal((t, nh, d)).astype(np.float32)
    k = rng.standard_normal((nkv, s, d)).astype(np.float32)
    v = rng.standard_normal((nkv, s, d)).astype(np.float32)
    return q, k, v


def _per_head_errors(q, k, v, out):
    t, nh, d = q.shape
    g = nh // k.shape[0]
    errs = []
    for h in range(nh):
        ref = naive_head_attention(q[:, h], k[h // g], v[h // g])
        errs.append(max_rel_err(out[:, h * d:(h + 1) * d], ref))
    return errs


@pytest.mark.falsifier("FALSIFY-QW2-GQA-001")
@pytest.mark.parametrize("ratio", [7, 8])
def test_every_query_head_reads_kv_head_h_div_ratio(ratio, record_property):
    cfg = RATIOS[ratio]
    nh, nkv, d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    q, k, v = _qkv(np.random.default_rng(ratio), 4, 4, nh, nkv, d)
    errs = _per_head_errors(q, k, v, attention(q, k, v, 0))
    record_property("max_rel_err", max(errs))
    assert len(errs) == nh and max(errs) < 1e-5, f"heads off the h//{ratio} map: {errs}"


@pytest.mark.falsifier("FALSIFY-QW2-GQA-001")
@pytest.mark.parametrize("ratio", [7, 8])
def test_gqa_model_matches_naive_reference_and_catches_tiled_head_mapping(ratio, record_property):
    model = Model.random(RATIOS[ratio], seed=ratio)
    healthy = max_rel_err(model.forward(IDS), naive_forward(model, IDS))
    faulty_model = inject(model, "gqa_head_mapping")
    faulty = max_rel_err(faulty_model.forward(IDS), naive_forward(model, IDS))
    record_property("max_rel_err", healthy)
    assert healthy < TOL
    assert faulty > 100 * TOL, "the head-mapping check cannot see a tiled (h % n_kv) mapping"


@pytest.mark.falsifier("FALSIFY-QW2-GQA-002")
@pytest.mark.parametrize("ratio", [7, 8])
def test_first_token_attention_matches_naive_reference(ratio, record_property):
    cfg = RATIOS[ratio]
    q, k, v = _qkv(np.random.default_rng(10 + ratio), 1, 1, cfg.num_attention_heads,
                   cfg.num_key_value_heads, cfg.head_dim)
    errs = _per_head_errors(q, k, v, attention(q, k, v, 0))
    record_property("max_rel_err", max(errs))
    assert max(errs) < 1e-5


@pytest.mark.falsifier("FALSIFY-QW2-GQA-002")
def test_first_token_logits_match_reference_and_catch_transposed_k_projection(record_property):
    model = Model.random(RATIOS[7], seed=2)
    ref = naive_forward(model, IDS)
    healthy = max_rel_err(model.forward(IDS), ref)
    faulty = max_rel_err(inject(model, "transposed_k_proj").forward(IDS), ref)
    record_property("max_rel_err", healthy)
    assert healthy < TOL
    assert faulty > 100 * TOL


@pytest.mark.falsifier("FALSIFY-QW2-GQA-003")
@pytest.mark.parametrize("ratio", [7, 8])
def test_second_token_attention_through_cache_matches_naive_reference(ratio, record_property):
    cfg = RATIOS[ratio]
    q, k, v = _qkv(np.random.default_rng(20 + ratio), 1, 2, cfg.num_attention_heads,
                   cfg.num_key_value_heads, cfg.head_dim)
    errs = _per_head_errors(q, k, v, attention(q, k, v, q_start=1))
    record_property("max_rel_err", max(errs))
    assert max(errs) < 1e-5


@pytest.mark.falsifier("FALSIFY-QW2-GQA-003")
@pytest.mark.parametrize("ratio", [7, 8])
def test_second_token_logits_through_cache_match_reference(ratio, record_property):
    model = Model.random(RATIOS[ratio], seed=30 + ratio)
    cache = model.new_cache()
    model.forward(IDS[:1], cache=cache)
    second = model.forward(IDS[1:2], cache=cache)
    err = max_rel_err(second[0], naive_forward(model, IDS[:2])[1])
    record_property("max_rel_err", err)
    assert cache.length == 2 and err < TOL


@pytest.mark.falsifier("FALSIFY-QW2-GQA-003")
def test_cached_decode_check_catches_wrong_rope_theta():
    model = Model.random(RATIOS[7], seed=3)
    ref = naive_forward(model, IDS[:2])[1]

    def second_token_err(m):
        cache = m.new_cache()
        m.forward(IDS[:1], cache=cache)
        return max_rel_err(m.forward(IDS[1:2], cache=cache)[0], ref)

    assert second_token_err(model) < TOL
    assert second_token_err(inject(model, "wrong_rope_theta", theta=10_000.0)) > 10 * TOL


float32s = st.floats(-4, 4, width=32, allow_subnormal=False)


@pytest.mark.falsifier("FALSIFY-QW2-GQA-004")
@settings(max_examples=40)
@given(ratio=st.sampled_from([1, 2, 4, 7, 8]), nkv=st.integers(1, 3), t=st.integers(1, 5),
       data=st.data())
def test_gqa_equals_mha_with_repeated_kv_heads(ratio, nkv, t, data):
    d = 4
    nh = ratio * nkv
    q = data.draw(arrays(np.float32, (t, nh, d), elements=float32s))
    k = data.draw(arrays(np.float32, (nkv, t, d), elements=float32s))
    v = data.draw(arrays(np.float32, (nkv, t, d), elements=float32s))
    gqa = attention(q, k, v, 0)
    mha = attention(q, np.repeat(k, ratio, axis=0), np.repeat(v, ratio, axis=0), 0)
    np.testing.assert_allclose(gqa, mha, rtol=1e-5, atol=1e-5)


@pytest.mark.falsifier("FALSIFY-QW2-GQA-005")
@settings(max_examples=8)
@given(split=st.integers(1, 5), preset_name=st.sampled_from(["tiny-qwen2-gqa7", "tiny-llama"]))
def test_prefill_equals_token_by_token_decode(split, preset_name):
    model = Model.random(preset(preset_name), seed=5)
    ids = [3, 99, 17, 240, 5, 61]
    full = model.forward(ids)
    cache = model.new_cache(capacity=2)  # small on purpose: decode must grow it
    parts = [model.forward(ids[:split], cache=cache)]
    parts += [model.forward([i], cache=cache) for i in ids[split:]]
    np.testing.assert_allclose(np.concatenate(parts), full, rtol=1e-4, atol=1e-4)


@pytest.mark.falsifier("FALSIFY-QW2-GQA-005")
def test_prefill_decode_check_catches_stale_kv_position():
    model = inject(Model.random(preset("tiny-qwen2-gqa7"), seed=5), "stale_kv_position")
    ids = [3, 99, 17, 240]
    cache = model.new_cache()
    stepwise = np.concatenate([model.forward([i], cache=cache) for i in ids])
    assert not np.allclose(stepwise, model.forward(ids), rtol=1e-4, atol=1e-4)


@pytest.mark.falsifier("FALSIFY-QW2-GQA-006")
@settings(max_examples=40)
@given(p=st.integers(0, 2000), shift=st.integers(1, 5000),
       theta=st.sampled_from([10_000.0, 1_000_000.0]), data=st.data())
def test_rope_scores_depend_only_on_relative_position(p, shift, theta, data):
    d = 16
    q = data.draw(arrays(np.float32, (1, 1, d), elements=float32s))
    k = data.draw(arrays(np.float32, (1, 1, d), elements=float32s))
    offset = data.draw(st.integers(0, 64))

    def score(pq, pk):
        cq, sq = rope_cos_sin(np.array([pq]), d, theta)
        ck, sk = rope_cos_sin(np.array([pk]), d, theta)
        return float(apply_rope(q, cq, sq).ravel().astype(np.float64)
                     @ apply_rope(k, ck, sk).ravel().astype(np.float64))

    # float32 angles lose ~pos * 6e-8 rad, so the tolerance scales with the position.
    tol = 1e-4 * (1 + (p + shift + offset) / 100) * (1 + float(np.abs(q).sum() * np.abs(k).sum()))
    assert abs(score(p + offset, p) - score(p + offset + shift, p + shift)) <= tol
