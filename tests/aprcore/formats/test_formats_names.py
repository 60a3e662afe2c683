"""HF <-> GGUF names and layouts: the mapping llama.cpp expects, in both directions."""

from __future__ import annotations

import gguf
import numpy as np
import pytest
from _gguf_fixtures import TINY, random_weights  # noqa: E402
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from aprcore.formats import gguf_io, names  # noqa: E402
from aprcore.weights import expected_shapes  # noqa: E402


@pytest.mark.parametrize("cfg", list(TINY.values()), ids=list(TINY))
def test_every_hf_name_maps_to_a_ggml_name_and_back(cfg):
    for hf in expected_shapes(cfg):
        g = names.hf_to_gguf(hf)
        assert g is not None and names.gguf_to_hf(g) == hf


def test_ggml_names_are_llama_cpps():
    assert names.hf_to_gguf("model.embed_tokens.weight") == "token_embd.weight"
    assert names.hf_to_gguf("model.layers.3.self_attn.k_proj.bias") == "blk.3.attn_k.bias"
    assert names.hf_to_gguf("model.layers.0.self_attn.o_proj.weight") == "blk.0.attn_output.weight"
    assert names.hf_to_gguf("model.layers.1.post_attention_layernorm.weight") == "blk.1.ffn_norm.weight"
    assert names.hf_to_gguf("model.layers.1.mlp.down_proj.weight") == "blk.1.ffn_down.weight"
    assert names.hf_to_gguf("model.norm.weight") == "output_norm.weight"
    assert names.hf_to_gguf("lm_head.weight") == "output.weight"
    assert names.hf_to_gguf("model.rotary_emb.inv_freq") is None


@given(heads=st.sampled_from([1, 2, 4, 8]), head_dim=st.sampled_from([2, 4, 8]), cols=st.integers(1, 5),
       data=st.data())
def test_llama_qk_permutation_is_a_row_permutation_and_inverts(heads, head_dim, cols, data):
    x = data.draw(arrays(np.float32, (heads * head_dim, cols),
                         elements=st.floats(-10, 10, width=32, allow_subnormal=False)))
    name = "model.layers.0.self_attn.q_proj.weight"
    p = names.to_gguf_layout(name, x, "llama", heads, heads)
    np.testing.assert_array_equal(names.to_hf_layout(name, p, "llama", heads, heads), x)
    assert sorted(map(bytes, p)) == sorted(map(bytes, x))  # same rows, reordered


def test_llama_permutation_matches_convert_hf_to_gguf():
    # convert_hf_to_gguf: w.reshape(n_head, 2, dim // n_head // 2, *rest).swapaxes(1, 2).reshape(w.shape)
    x = np.arange(16, dtype=np.float32).reshape(8, 2)
    p = names.to_gguf_layout("model.layers.0.self_attn.k_proj.weight", x, "llama", 4, 2)
    # k uses n_head_kv = 2 heads of 4 rows: rows (0, 2, 1, 3) within each head
    np.testing.assert_array_equal(p[:, 0], [0, 4, 2, 6, 8, 12, 10, 14])
    assert names.to_gguf_layout("model.layers.0.self_attn.q_proj.weight", x, "qwen2", 4, 2) is x


def test_gguf_lists_hf_shapes_reversed_with_the_same_bytes(tmp_path):
    cfg = TINY["tiny-qwen2-gqa7"]
    w = random_weights(cfg, seed=5)
    gguf_io.write_model(tmp_path / "m.gguf", cfg, w)
    r = gguf.GGUFReader(tmp_path / "m.gguf")
    by = {t.name: t for t in r.tensors}
    t = by["blk.0.ffn_down.weight"]
    hf = w["model.layers.0.mlp.down_proj.weight"]  # [hidden, intermediate]
    assert list(map(int, t.shape)) == list(names.ggml_shape(hf.shape)) == [cfg.intermediate_size, cfg.hidden_size]
    assert np.asarray(t.data).tobytes() == hf.tobytes()
    assert "output.weight" in by  # untied


def test_tied_model_has_no_output_tensor(tmp_path):
    cfg = TINY["tiny-qwen2"]
    gguf_io.write_model(tmp_path / "m.gguf", cfg, random_weights(cfg))
    r = gguf.GGUFReader(tmp_path / "m.gguf")
    assert "output.weight" not in {t.name for t in r.tensors}
    assert gguf_io.read_model(tmp_path / "m.gguf")[0].tie_word_embeddings


def test_metadata_llama_cpp_needs(tmp_path):
    cfg = TINY["tiny-llama"]
    gguf_io.write_model(tmp_path / "m.gguf", cfg, random_weights(cfg), quant="Q8_0")
    f = gguf.GGUFReader(tmp_path / "m.gguf").fields
    v = {k: f[k].contents() for k in f if not k.startswith("GGUF.")}
    assert v["general.architecture"] == "llama"
    assert v["llama.context_length"] == cfg.max_position_embeddings
    assert v["llama.embedding_length"] == cfg.hidden_size
    assert v["llama.block_count"] == cfg.num_hidden_layers
    assert v["llama.feed_forward_length"] == cfg.intermediate_size
    assert v["llama.attention.head_count"] == cfg.num_attention_heads
    assert v["llama.attention.head_count_kv"] == cfg.num_key_value_heads
    assert v["llama.rope.freq_base"] == cfg.rope_theta
    assert v["llama.attention.layer_norm_rms_epsilon"] == pytest.approx(cfg.rms_norm_eps)
    assert v["general.file_type"] == int(gguf.LlamaFileType.MOSTLY_Q8_0)
    assert v["tokenizer.ggml.model"] == "llama"
    assert len(v["tokenizer.ggml.tokens"]) == len(v["tokenizer.ggml.scores"]) == cfg.vocab_size
    assert len(set(v["tokenizer.ggml.tokens"])) == cfg.vocab_size


def test_norms_and_biases_stay_f32_in_quantized_files(tmp_path):
    cfg = TINY["tiny-qwen2"]
    gguf_io.write_model(tmp_path / "m.gguf", cfg, random_weights(cfg), quant="Q8_0")
    for t in gguf.GGUFReader(tmp_path / "m.gguf").tensors:
        one_d = len(t.shape) == 1
        assert (t.tensor_type == gguf.GGMLQuantizationType.F32) == one_d, t.name


def test_mixed_types_per_tensor(tmp_path):
    from aprcore.formats.gguf_io import tensor_type

    cfg = gguf_io.ModelConfig(arch="qwen2", vocab_size=256, hidden_size=256, intermediate_size=512,
                              num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2)
    w = random_weights(cfg)
    spec = {"model.embed_tokens.weight": "Q6_K", "model.layers.0.mlp.down_proj.weight": "Q4_K",
            "model.layers.0.mlp.up_proj.weight": "Q8_0"}
    gguf_io.write_model(tmp_path / "m.gguf", cfg, w, quant=spec)
    types = {t.name: t.tensor_type.name for t in gguf.GGUFReader(tmp_path / "m.gguf").tensors}
    assert types["token_embd.weight"] == "Q6_K"
    assert types["blk.0.ffn_down.weight"] == "Q4_K"
    assert types["blk.0.ffn_up.weight"] == "Q8_0"
    assert types["blk.0.ffn_gate.weight"] == "F32"
    # rows that do not divide into 256-weight super-blocks fall back to Q8_0, then F32
    assert tensor_type("model.layers.0.mlp.up_proj.weight", (512, 96), "Q4_K") == "Q8_0"
    assert tensor_type("model.layers.0.mlp.up_proj.weight", (512, 40), "Q4_K") == "F32"
