"""The model against HF transformers' Qwen2/Llama, and its own API (cache, faults, backends)."""

from __future__ import annotations

import numpy as np
import pytest

from aprcore import Model, preset
from aprcore.backend import Backend
from aprcore.faults import FAULTS, UnknownFault, inject, injected

IDS = [3, 17, 100, 5, 9, 200, 1, 42]


def hf_logits(model: Model, ids: list[int]) -> np.ndarray:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    cfg = model.config
    cls = {"qwen2": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM),
           "llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM)}[cfg.arch]
    hf = {k: v for k, v in cfg.to_hf_dict().items() if k not in ("architectures", "model_type")}
    hc = cls[0](**hf)
    hc._attn_implementation = "eager"
    hm = cls[1](hc).eval()
    missing, unexpected = hm.load_state_dict(
        {k: torch.from_numpy(v.copy()) for k, v in model.weights.items()}, strict=False)
    assert unexpected == [] and set(missing) <= {"lm_head.weight"}
    assert (hm.lm_head.weight is hm.model.embed_tokens.weight) == cfg.tie_word_embeddings
    with torch.no_grad():
        return hm(torch.tensor([ids])).logits[0].numpy()


@pytest.mark.parametrize("name", ["tiny-qwen2", "tiny-qwen2-gqa7", "tiny-llama"])
def test_logits_match_hf_transformers_with_the_same_weights(name, record_property):
    model = Model.random(preset(name), seed=1)
    ref = hf_logits(model, IDS)
    ours = model.forward(IDS)
    rel = float(np.max(np.abs(ours - ref)) / np.max(np.abs(ref)))
    record_property("max_rel_diff", rel)
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    assert rel < 1e-5


def test_random_init_is_deterministic_per_seed():
    cfg = preset("tiny-llama")
    a, b, c = Model.random(cfg, 3), Model.random(cfg, 3), Model.random(cfg, 4)
    assert all(a.weights[k].tobytes() == b.weights[k].tobytes() for k in a.weights)
    assert any(a.weights[k].tobytes() != c.weights[k].tobytes() for k in a.weights)


def test_cache_grows_past_its_initial_capacity_and_resets():
    model = Model.random(preset("tiny-qwen2"), seed=0)
    cache = model.new_cache(capacity=1)
    ids = list(range(10, 19))
    stepwise = np.concatenate([model.forward([i], cache=cache) for i in ids])
    assert cache.length == 9 and cache.capacity >= 9
    np.testing.assert_allclose(stepwise, model.forward(ids), rtol=1e-4, atol=1e-4)
    cache.reset()
    np.testing.assert_array_equal(model.forward(ids[:1], cache=cache), stepwise[:1])


def test_cache_refuses_to_pass_max_len():
    model = Model.random(preset("tiny-qwen2"), seed=0)
    cache = model.new_cache(max_len=4)
    model.forward([1, 2, 3], cache=cache)
    with pytest.raises(ValueError, match="KV cache full"):
        model.forward([4, 5], cache=cache)


def test_last_only_returns_the_last_row():
    model = Model.random(preset("tiny-qwen2"), seed=0)
    np.testing.assert_allclose(model.forward(IDS, last_only=True)[0], model.forward(IDS)[-1],
                               rtol=1e-5, atol=1e-6)


def test_generate_is_greedy_through_the_cache():
    model = Model.random(preset("tiny-qwen2"), seed=0)
    out = model.generate([1, 2, 3], 4)
    ids = [1, 2, 3]
    for _ in range(4):
        ids.append(int(model.forward(ids)[-1].argmax()))
    assert out == ids[3:]


@pytest.mark.parametrize("bad", [[], [256], [-1]])
def test_forward_rejects_out_of_range_token_ids(bad):
    with pytest.raises(ValueError):
        Model.random(preset("tiny-qwen2"), seed=0).forward(bad)


def test_constructor_names_a_misshaped_tensor():
    model = Model.random(preset("tiny-qwen2"), seed=0)
    w = dict(model.weights)
    w["model.norm.weight"] = np.ones(3, np.float32)
    with pytest.raises(ValueError, match="model.norm.weight has shape"):
        Model(model.config, w)


def test_weights_are_moved_once_per_backend():
    model = Model.random(preset("tiny-qwen2"), seed=0)
    moves = []
    be = Backend(name="counting", to_device=lambda a: moves.append(1) or a.copy())
    model.forward([1, 2], backend=be)
    n = len(moves)
    model.forward([3], backend=be)
    assert n == len(model.weights) and len(moves) == n
    assert model.device_weights("cpu") is not model.device_weights(be)


def test_every_fault_changes_the_output_and_leaves_the_model_untouched():
    model = Model.random(preset("tiny-qwen2-gqa7").replace(tie_word_embeddings=True), seed=2)
    ids = [5, 6, 7]
    healthy = model.forward(ids)
    for name in FAULTS:
        with injected(model, name) as faulty:
            cache = faulty.new_cache()
            faulty.forward(ids[:1], cache=cache)
            out = np.concatenate([faulty.forward(ids[:1]), faulty.forward(ids[1:], cache=cache)])
            assert not np.allclose(out, healthy, rtol=1e-4, atol=1e-4), name
        assert model.faults == {}
        np.testing.assert_array_equal(model.forward(ids), healthy)


def test_unknown_fault_is_refused():
    with pytest.raises(UnknownFault):
        inject(Model.random(preset("tiny-qwen2")), "cosmic_ray")


@pytest.mark.slow
def test_real_width_qwen2_05b_layers_match_hf_over_a_long_prompt(record_property):
    """The published widths (head_dim 64, 14/2 heads, 151936-row tied head, theta 1e6),
    two layers deep, over 48 positions: RoPE precision and tie handling at full size."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    cfg = preset("qwen2-0.5b").replace(num_hidden_layers=2)
    model = Model.random(cfg, seed=5)
    hf = {k: v for k, v in cfg.to_hf_dict().items() if k not in ("architectures", "model_type")}
    hc = transformers.Qwen2Config(**hf)
    hc._attn_implementation = "eager"
    with torch.device("meta"):
        hm = transformers.Qwen2ForCausalLM(hc)
    hm.load_state_dict({k: torch.from_numpy(v) for k, v in model.weights.items()},
                       strict=False, assign=True)
    hm.lm_head.weight = hm.model.embed_tokens.weight
    hm.model.rotary_emb = type(hm.model.rotary_emb)(hc)
    ids = [int(i) for i in np.random.default_rng(0).integers(0, cfg.vocab_size, 48)]
    with torch.no_grad():
        ref = hm.eval()(torch.tensor([ids])).logits[0].numpy()
    ours = model.forward(ids)
    rel = float(np.max(np.abs(ours - ref)) / np.max(np.abs(ref)))
    record_property("max_rel_diff", rel)
    assert rel < 1e-4
    assert (ours.argmax(-1) == ref.argmax(-1)).all()


def test_every_fault_is_resolved_into_the_forward_or_the_weights():
    """A fault name that nothing overrides would inject nothing: each one changes the logits."""
    model = Model.random(preset("tiny-qwen2"), seed=3)
    healthy = model.forward([1, 2, 3, 4])
    cache = model.new_cache()
    model.forward([1, 2, 3], cache=cache)
    healthy_decode = model.forward([4], cache=cache)
    for name in FAULTS:
        faulty = inject(model, name)
        cache = faulty.new_cache()
        faulty.forward([1, 2, 3], cache=cache)
        changed = (not np.array_equal(faulty.forward([1, 2, 3, 4]), healthy)
                   or not np.array_equal(faulty.forward([4], cache=cache), healthy_decode))
        assert changed, name


def test_an_ambient_fault_reaches_models_made_before_it_and_ends_with_its_block():
    from aprcore.faults import ambient

    model = Model.random(preset("tiny-qwen2-gqa7"), seed=4)
    ids = [3, 1, 4, 1]
    healthy = model.forward(ids)
    with ambient("gqa_head_mapping"):
        assert not np.allclose(model.forward(ids), healthy, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(model.forward(ids), healthy)
    with pytest.raises(UnknownFault):
        with ambient("cosmic_ray"):
            pass


def test_a_child_process_started_inside_an_ambient_block_carries_the_fault():
    import os
    import subprocess
    import sys

    from aprcore.faults import ENV, ambient

    probe = "from aprcore import faults; print(sorted(faults._AMBIENT))"
    before = os.environ.get(ENV)
    with ambient("adamw_ascends"):
        inside = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                check=True).stdout
    after = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                           check=True).stdout
    assert inside.strip() == "['adamw_ascends']"
    assert after.strip() == "[]"
    assert os.environ.get(ENV) == before
