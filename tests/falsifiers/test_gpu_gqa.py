"""Grouped-query attention 7:1 on the device, with Qwen2.5-Coder-7B's head shape.

28 query heads share 4 KV heads (7 per group), head_dim 128. The first token (one cached
position) and the second (two) go through the GPU decode-attention kernel, once as the
bare op on the model's own projections and once through a whole one-layer model, and are
compared with the numpy CPU reference. Level live: this is the real kernel on the device.
"""

from __future__ import annotations

import numpy as np
import pytest

from aprcore.config import ModelConfig
from aprcore.ops import cosine

pytestmark = pytest.mark.gpu

SHAPE_7B = dict(num_attention_heads=28, num_key_value_heads=4)  # head_dim 3584 / 28 = 128
# head mapping h // 7 (001) at the first token (002) and at the cached second token (003)
POSITIONS = [
    pytest.param(0, id="first-token",
                 marks=pytest.mark.falsifier("FALSIFY-QW2-GQA-001", "FALSIFY-QW2-GQA-002", level="live")),
    pytest.param(1, id="second-token",
                 marks=pytest.mark.falsifier("FALSIFY-QW2-GQA-001", "FALSIFY-QW2-GQA-003", level="live")),
]


@pytest.fixture(scope="session")
def model_7b_heads():
    from aprcore.model import Model

    cfg = ModelConfig(arch="qwen2", vocab_size=512, hidden_size=3584, intermediate_size=512,
                      num_hidden_layers=1, tie_word_embeddings=False, **SHAPE_7B)
    assert cfg.head_dim == 128 and cfg.gqa_ratio == 7
    return Model.random(cfg, seed=11)


def _qkv(model, tokens):
    """Layer-0 q [T, 28, 128] (rotated), k, v [4, T, 128] for positions 0..T-1, on the CPU."""
    from aprcore import ops

    cfg, w = model.config, model.weights
    p = "model.layers.0."
    x = w["model.embed_tokens.weight"][np.asarray(tokens)]
    xn = ops.rms_norm(x, w[p + "input_layernorm.weight"], cfg.rms_norm_eps)
    q = ops.linear(xn, w[p + "self_attn.q_proj.weight"], w[p + "self_attn.q_proj.bias"])
    k = ops.linear(xn, w[p + "self_attn.k_proj.weight"], w[p + "self_attn.k_proj.bias"])
    v = ops.linear(xn, w[p + "self_attn.v_proj.weight"], w[p + "self_attn.v_proj.bias"])
    t, d = len(tokens), cfg.head_dim
    cos, sin = ops.rope_cos_sin(np.arange(t), d, cfg.rope_theta)
    q = ops.apply_rope(q.reshape(t, cfg.num_attention_heads, d), cos, sin)
    k = ops.apply_rope(k.reshape(t, cfg.num_key_value_heads, d), cos, sin)
    return q, k.transpose(1, 0, 2).copy(), v.reshape(t, cfg.num_key_value_heads, d).transpose(1, 0, 2).copy()


@pytest.mark.parametrize("position", POSITIONS)
def test_gqa_7to1_decode_attention_on_device_matches_cpu(gpu, model_7b_heads, record_property, position):
    from aprcore import ops
    from aprcore.gpu import backend as gb
    from aprcore.gpu import device_info

    info = device_info()
    for key in ("device", "driver", "cupy"):
        record_property(f"gpu_{key}", info[key])
    tokens = [42, 7]
    q, k, v = _qkv(model_7b_heads, tokens[: position + 1])
    cpu = ops.attention(q[position:position + 1], k, v, q_start=position)
    cp = gpu.xp
    dev = gb.attention(cp.asarray(q[position:position + 1]), cp.asarray(k), cp.asarray(v), q_start=position).get()
    rel = float(np.linalg.norm(dev - cpu) / np.linalg.norm(cpu))
    record_property("rel_err", rel)
    record_property("cosine", cosine(cpu, dev))
    assert np.isfinite(dev).all() and rel < 1e-5   # the contract's bound for the attention op


@pytest.mark.parametrize("position", POSITIONS)
def test_gqa_7to1_model_logits_on_device_match_cpu(gpu, model_7b_heads, record_property, position):
    from aprcore.gpu import device_info

    info = device_info()
    for key in ("device", "driver", "cupy"):
        record_property(f"gpu_{key}", info[key])
    m = model_7b_heads
    tokens = [42, 7]
    rows = {}
    for name, be in (("cpu", "cpu"), ("gpu", gpu)):
        cache = m.new_cache(be, capacity=4)
        out = [m.forward([tokens[0]], cache=cache)[-1]]
        out.append(m.forward([tokens[1]], cache=cache)[-1])   # the second token reads 2 positions
        rows[name] = out[position]
    cos = cosine(rows["cpu"], rows["gpu"])
    rel = float(np.linalg.norm(rows["gpu"] - rows["cpu"]) / np.linalg.norm(rows["cpu"]))
    record_property("cosine", cos)
    record_property("rel_err", rel)
    assert int(np.argmax(rows["cpu"])) == int(np.argmax(rows["gpu"]))
    assert rel < 1e-4 and cos >= 0.99
