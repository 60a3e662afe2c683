"""The sweep on a checkpoint written by HF transformers itself (`save_pretrained`):
a real exporter's config.json and safetensors header (its metadata, its omission of
lm_head when embeddings are tied), converted to GGUF by aprcore and compared back."""

from __future__ import annotations

import pytest

from aprcore.config import ModelConfig
from aprcore.formats import gguf_io
from aprcore.formats.diff import diff_files
from aprcore.formats.sources import open_source


@pytest.fixture(scope="module", params=["qwen2", "llama"])
def hf_checkpoint(request, tmp_path_factory):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    common = dict(vocab_size=512, hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
    if request.param == "qwen2":
        model = transformers.Qwen2ForCausalLM(transformers.Qwen2Config(tie_word_embeddings=True, **common))
    else:
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(tie_word_embeddings=False, **common))
    d = tmp_path_factory.mktemp(f"tf_{request.param}") / "hf"
    model.save_pretrained(d, safe_serialization=True)
    return d


@pytest.mark.falsifier("FALSIFY-QW2E-SHIP-003")
@pytest.mark.parametrize("qtype,floor", [(None, 1.0), ("Q8_0", 0.9996), ("Q4_K", 0.99)])
def test_sweep_on_a_transformers_checkpoint_and_its_gguf(hf_checkpoint, qtype, floor, tmp_path, record_property):
    cfg = ModelConfig.from_json(hf_checkpoint / "config.json")
    src = open_source(hf_checkpoint)
    weights = {m.name: src.load(m.name) for m in src.tensors()}
    gguf_io.write_model(tmp_path / "m.gguf", cfg, weights, quant=qtype)
    r = diff_files(hf_checkpoint, tmp_path / "m.gguf", floor=floor)
    record_property("cosine", min(t.cosine for t in r.tensors))
    assert r.verdict == "PASS", [(t.name, t.status, t.cosine) for t in r.failing]
    assert len(r.tensors) == len(weights)
    cfg2, _ = gguf_io.read_model(tmp_path / "m.gguf")
    assert cfg2 == cfg
