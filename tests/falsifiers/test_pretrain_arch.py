"""apr-pretrain-arch-polymorphic-v1 (FALSIFY-001 and 004): the architecture presets are
the published ones, tied embeddings are honoured, and a 7:1 GQA model runs."""

from __future__ import annotations

import resource

import numpy as np
import pytest
from forward64 import max_rel_err, naive_forward

from aprcore import Model, ModelConfig, preset
from aprcore.faults import inject
from aprcore.weights import expected_shapes

# The shape fields of Qwen/Qwen2-0.5B's published config.json.
QWEN2_05B_CONFIG = {
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_act": "silu",
    "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
    "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936,
    "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "tie_word_embeddings": True,
}
SHAPE_FIELDS = ("arch", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                "num_attention_heads", "num_key_value_heads", "rms_norm_eps", "rope_theta",
                "tie_word_embeddings", "attention_bias", "head_dim")


@pytest.mark.falsifier("FALSIFY-APR-PRETRAIN-ARCH-001")
def test_qwen2_05b_preset_matches_the_published_config():
    published = ModelConfig.from_hf_dict(QWEN2_05B_CONFIG)
    ours = preset("qwen2-0.5b")
    diffs = {f: (getattr(ours, f), getattr(published, f)) for f in SHAPE_FIELDS
             if getattr(ours, f) != getattr(published, f)}
    assert diffs == {}
    assert ours.head_dim == 64 and ours.gqa_ratio == 7
    assert "lm_head.weight" not in expected_shapes(ours)


@pytest.mark.falsifier("FALSIFY-APR-PRETRAIN-ARCH-001")
def test_weight_inventory_matches_hf_qwen2_module_shapes(record_property):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    cfg = preset("qwen2-0.5b")
    hf = {k: v for k, v in cfg.to_hf_dict().items() if k not in ("architectures", "model_type")}
    with torch.device("meta"):  # shapes only: no 2 GB allocation
        hm = transformers.Qwen2ForCausalLM(transformers.Qwen2Config(**hf))
    theirs = {k: tuple(v.shape) for k, v in hm.state_dict().items() if k != "lm_head.weight"}
    n_params = sum(p.numel() for p in hm.parameters())  # tied weights counted once
    record_property("num_parameters", float(n_params))
    assert theirs == expected_shapes(cfg)
    assert hm.lm_head.weight is hm.model.embed_tokens.weight
    assert cfg.num_parameters() == n_params


@pytest.mark.falsifier("FALSIFY-APR-PRETRAIN-ARCH-001")
def test_tied_model_projects_with_the_embedding_and_catches_an_ignored_tie(record_property):
    model = Model.random(preset("tiny-qwen2"), seed=1)
    ids = [4, 90, 13]
    ref = naive_forward(model, ids)  # logits = norm(h) @ embed_tokens^T
    healthy = max_rel_err(model.forward(ids), ref)
    faulty = max_rel_err(inject(model, "ignored_tied_embeddings").forward(ids), ref)
    record_property("max_rel_err", healthy)
    assert healthy < 1e-4
    assert faulty > 1e-2


@pytest.mark.falsifier("FALSIFY-APR-PRETRAIN-ARCH-004")
def test_gqa_7_to_1_forward_smoke(record_property):
    cfg = preset("tiny-qwen2-gqa7")
    assert cfg.gqa_ratio == 7
    model = Model.random(cfg, seed=4)
    ids = [1, 2, 3, 250]
    logits = model.forward(ids)
    err = max_rel_err(logits, naive_forward(model, ids))
    record_property("max_rel_err", err)
    assert logits.shape == (4, cfg.vocab_size) and logits.dtype == np.float32
    assert np.isfinite(logits).all() and err < 1e-4


@pytest.mark.slow
@pytest.mark.falsifier("FALSIFY-APR-PRETRAIN-ARCH-004")
def test_qwen2_05b_shaped_model_prefills_and_decodes_within_24_gib(record_property):
    cfg = preset("qwen2-0.5b")
    model = Model.random(cfg, seed=0)
    prompt = [151935, 0, 17, 4242, 90000, 12]
    cache = model.new_cache()
    logits = model.forward(prompt, cache=cache)
    decoded = [model.forward([int(logits[-1].argmax())], cache=cache) for _ in range(3)]
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    record_property("peak_rss_gib", peak_gib)
    assert logits.shape == (6, 151936) and all(d.shape == (1, 151936) for d in decoded)
    assert np.isfinite(logits).all() and all(np.isfinite(d).all() for d in decoded)
    assert cache.length == 9
    assert peak_gib < 24
    # prefill and decode agree: the last decode step equals a fresh prefill's last row
    full = model.forward(prompt + [int(logits[-1].argmax())], last_only=True)
    np.testing.assert_allclose(decoded[0][0], full[0], rtol=1e-3, atol=1e-3)
