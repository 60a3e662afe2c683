"""Round trips across formats, and forward parity on either file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _gguf_fixtures import QUANTIZABLE, TINY, random_weights, write_hf_dir
from hypothesis import given, settings
from hypothesis import strategies as st

from aprcore.formats import gguf_io
from aprcore.model import Model
from aprcore.weights import expected_shapes

CONFIGS = {**TINY, **{f"quantizable-{k}": v for k, v in QUANTIZABLE.items()}}


@pytest.mark.falsifier("FALSIFY-QW2E-ROUNDTRIP-001")
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_hf_to_gguf_f32_to_hf_is_bit_exact(name, tmp_path):
    cfg = CONFIGS[name]
    w = random_weights(cfg, seed=7)
    gguf_io.write_model(tmp_path / "m.gguf", cfg, w)
    cfg2, w2 = gguf_io.read_model(tmp_path / "m.gguf")
    assert cfg2 == cfg
    assert set(w2) == set(expected_shapes(cfg))
    for k, v in w.items():
        assert w2[k].dtype == np.float32 and w2[k].shape == v.shape, k
        assert w2[k].tobytes() == v.tobytes(), k


@pytest.mark.falsifier("FALSIFY-QW2E-ROUNDTRIP-001")
@settings(max_examples=10, deadline=None)
@given(arch=st.sampled_from(["qwen2", "llama"]), heads_kv=st.sampled_from([(4, 4), (4, 2), (8, 1)]),
       tied=st.booleans(), seed=st.integers(0, 2**31))
def test_roundtrip_over_head_layouts(arch, heads_kv, tied, seed, tmp_path_factory):
    from aprcore.config import ModelConfig

    heads, kv = heads_kv
    cfg = ModelConfig(arch=arch, vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=1,
                      num_attention_heads=heads, num_key_value_heads=kv, tie_word_embeddings=tied)
    w = random_weights(cfg, seed)
    path = tmp_path_factory.mktemp("rt") / "m.gguf"
    gguf_io.write_model(path, cfg, w)
    cfg2, w2 = gguf_io.read_model(path)
    assert cfg2 == cfg
    assert all(w2[k].tobytes() == v.tobytes() for k, v in w.items())


@pytest.mark.falsifier("FALSIFY-QW2E-FWD-F32-001")
@pytest.mark.parametrize("name", ["tiny-qwen2", "tiny-llama", "tiny-qwen2-gqa7"])
def test_forward_on_hf_and_f32_gguf_is_identical(name, tmp_path, record_property):
    import aprcore

    cfg = CONFIGS[name]
    w = random_weights(cfg, seed=11)
    write_hf_dir(tmp_path / "hf", cfg, w)
    gguf_io.write_model(tmp_path / "m.gguf", cfg, w)
    tokens = [1, 5, 9, 3, 7, 200, 42]
    a = aprcore.load(tmp_path / "hf").forward(tokens)
    b = aprcore.load(tmp_path / "m.gguf").forward(tokens)
    direct = Model(cfg, w).forward(tokens)
    record_property("max_abs_diff", float(np.abs(a - b).max()))
    assert a.shape == (len(tokens), cfg.vocab_size)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, direct)


DATA = Path(__file__).resolve().parents[1] / "data"
HELDOUT_TOKENS = 128


def _cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.mark.falsifier("FALSIFY-QW2E-FWD-Q4K-001")
# qwen2 is falsified (one argmax flip in 128 positions, see docs/formats.md); it runs in
# the default gate, where `--falsify=check` reports it "still falsified" (XFAIL) as long
# as it fails the way the committed FALSIFIED verdict records.
@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_forward_on_q4k_gguf_keeps_cosine_and_argmax(arch, tmp_path, record_property):
    """The claim as the issue states it, on a small *trained* model (tests/data/README.md):
    hidden 256 and intermediate 512 so that every matrix (embedding and head included)
    really is Q4_K, run on held-out bytes (a slice of the validation shard). Strict: every
    position keeps cosine >= 0.99 and the F32 model's argmax, whatever its margin."""
    from gguf import GGUFReader

    import aprcore

    ref_model = aprcore.load(DATA / f"trained-{arch}-256")
    aprcore.save(ref_model, tmp_path / "q4k.gguf", quant="Q4_K")
    types = {t.name: t.tensor_type.name for t in GGUFReader(tmp_path / "q4k.gguf").tensors}
    matrices = {n: t for n, t in types.items() if not n.endswith(("norm.weight", ".bias"))}
    assert matrices and set(matrices.values()) == {"Q4_K"}, matrices

    tokens = list((DATA / "heldout-sample.txt").read_bytes()[:HELDOUT_TOKENS])
    ref = ref_model.forward(tokens).astype(np.float64)
    q = aprcore.load(tmp_path / "q4k.gguf").forward(tokens).astype(np.float64)
    cos = _cosine_rows(ref, q)
    agree = ref.argmax(1) == q.argmax(1)
    top2 = np.sort(ref, axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    record_property("cosine", float(cos.min()))
    record_property("cosine_mean", float(cos.mean()))
    record_property("argmax_agree", float(agree.mean()))
    record_property("positions", len(tokens))
    record_property("max_margin_flipped", float(margin[~agree].max()) if (~agree).any() else 0.0)
    assert cos.min() >= 0.99
    assert agree.all(), (f"argmax differs at {int((~agree).sum())}/{len(tokens)} positions, "
                         f"F32 top-1 margins there {np.round(margin[~agree], 3).tolist()}")
