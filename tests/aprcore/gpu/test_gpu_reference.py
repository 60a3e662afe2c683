"""CPU-runnable pieces of the GPU backend: the numpy kernel references and the no-GPU path.

The Q4_K decoder that the CUDA kernel mirrors is checked byte for byte against gguf's
independent implementation; the references are checked against plain definitions; and
importing the backend on a machine without CuPy must not import cupy and must fail with a
sentence that says what to install.
"""

from __future__ import annotations

import subprocess
import sys

import gguf
import numpy as np
import pytest
from forward64 import forward64
from gguf import quants
from hypothesis import given, settings
from hypothesis import strategies as st

from aprcore.config import preset
from aprcore.gpu.reference import (
    decode_attention_ref,
    random_q4k,
    random_weights,
    rope_ref,
)
from aprcore.quant import dequantize, q4_k


@given(rows=st.integers(1, 4), blocks=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=25)
def test_q4k_reference_dequant_equals_gguf(rows, blocks, seed):
    wq = random_q4k(rows, 256 * blocks, np.random.default_rng(seed))
    ours = dequantize(wq, "Q4_K", (rows, 256 * blocks))
    theirs = quants.dequantize(wq, gguf.GGMLQuantizationType.Q4_K).reshape(rows, -1)
    np.testing.assert_array_equal(ours, theirs)


def test_q4k_pack_places_every_field_where_ggml_reads_it():
    rng = np.random.default_rng(0)
    n = 6
    d = rng.uniform(0.1, 1, n).astype(np.float16)
    dmin = rng.uniform(0.1, 1, n).astype(np.float16)
    sc, mn = rng.integers(0, 64, (n, 8)), rng.integers(0, 64, (n, 8))
    q = rng.integers(0, 16, (n, 256))
    blocks = q4_k.pack(d, dmin, sc, mn, q)
    assert blocks.shape == (n, 144)
    want = (d.astype(np.float32)[:, None, None] * sc[:, :, None] * q.reshape(n, 8, 32)
            - dmin.astype(np.float32)[:, None, None] * mn[:, :, None]).reshape(n, 256)
    got = quants.dequantize(blocks, gguf.GGMLQuantizationType.Q4_K).reshape(n, 256)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_q4k_dequantize_rejects_a_row_that_is_not_whole_blocks():
    with pytest.raises(ValueError, match="multiple of 256"):
        random_q4k(2, 300, np.random.default_rng(0))


def test_decode_attention_ref_equals_mha_with_repeated_kv_heads():
    rng = np.random.default_rng(1)
    nh, nkv, hd, t = 28, 4, 16, 9
    q = rng.standard_normal((nh, hd))
    k, v = rng.standard_normal((nkv, t, hd)), rng.standard_normal((nkv, t, hd))
    gqa = decode_attention_ref(q, k, v)
    mha = decode_attention_ref(q, np.repeat(k, nh // nkv, 0), np.repeat(v, nh // nkv, 0))
    np.testing.assert_allclose(gqa, mha, rtol=1e-12)


def test_rope_ref_at_position_zero_is_identity_and_preserves_norm():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 64)).astype(np.float32)
    np.testing.assert_allclose(rope_ref(x, 0, 1e6), x, rtol=1e-7)
    y = rope_ref(x, 1234, 1e4)
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-6)


def test_reference_forward_last_position_is_causal():
    cfg = preset("tiny-qwen2-gqa7")
    rng = np.random.default_rng(3)
    w = random_weights(cfg, rng, scale=0.1)
    a = forward64(cfg, w, [5, 7, 9, 11])
    b = forward64(cfg, w, [5, 7, 9])
    np.testing.assert_allclose(a[:3], b, rtol=1e-5, atol=1e-6)




def test_importing_the_gpu_backend_does_not_import_cupy():
    code = "import sys, aprcore.gpu, aprcore.gpu.reference; print('cupy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_without_cupy_the_backend_says_what_to_install(monkeypatch):
    from aprcore import arrays
    from aprcore.gpu import device

    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy -> ImportError
    monkeypatch.setattr(arrays, "_CUPY", None)
    with pytest.raises(device.GpuUnavailable, match=r"needs CuPy.*pytest-falsify\[gpu\]"):
        device.require_cupy()
    assert device.gpu_available() is False


@pytest.mark.parametrize("arch", ["qwen2", "llama"])
def test_q4k_gguf_packed_loader_keeps_projection_bytes_that_decode_to_the_cpu_weights(tmp_path, arch):
    from aprcore.config import ModelConfig
    from aprcore.formats.gguf_io import read_model, write_model
    from aprcore.gpu.decoder import load_packed
    from aprcore.model import Model

    cfg = ModelConfig(arch=arch, vocab_size=300, hidden_size=256, intermediate_size=512,
                      num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2)
    path = tmp_path / "m.gguf"
    write_model(path, cfg, Model.random(cfg, seed=1).weights, quant="Q4_K")
    _, cpu = read_model(path)
    got_cfg, dense, packed = load_packed(path)
    assert got_cfg == cfg
    assert "model.embed_tokens.weight" in dense and "model.layers.0.mlp.down_proj.weight" in packed
    assert set(dense) | set(packed) == set(cpu) and not set(dense) & set(packed)
    for name, raw in packed.items():   # packed rows, in HF order, decode to what the CPU loads
        np.testing.assert_array_equal(dequantize(raw, "Q4_K", cpu[name].shape), cpu[name])
    for name, arr in dense.items():
        np.testing.assert_array_equal(arr, cpu[name])
