"""GGUFModelFile.packed_rows: a tensor's stored blocks, in HF row order, for block-level consumers."""

import numpy as np
import pytest

from aprcore import quant
from aprcore.config import ModelConfig
from aprcore.formats.errors import FormatError
from aprcore.formats.gguf_io import GGUFModelFile, write_model
from aprcore.model import Model

# 256-wide so that every projection really is Q4_K (rows shorter than a super-block fall back).
CFG = ModelConfig(arch="llama", vocab_size=256, hidden_size=256, intermediate_size=512,
                  num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2)


@pytest.fixture(scope="module")
def q4k_llama(tmp_path_factory):
    path = tmp_path_factory.mktemp("packed") / "m.gguf"
    write_model(path, CFG, Model.random(CFG, seed=3).weights, quant="Q4_K")
    return GGUFModelFile(path)


@pytest.mark.parametrize("name", ["model.layers.0.self_attn.q_proj.weight",   # permuted by llama
                                  "model.layers.0.self_attn.k_proj.weight",   # permuted, GQA
                                  "model.layers.0.mlp.down_proj.weight"])     # not permuted
def test_packed_rows_decode_to_the_loaded_tensor(q4k_llama, name):
    packed = q4k_llama.packed_rows(name)
    assert packed.dtype == np.uint8 and packed.shape[0] == q4k_llama.rows(name)
    decoded = quant.dequantize(packed, "Q4_K", q4k_llama.load(name).shape)
    np.testing.assert_array_equal(decoded, q4k_llama.load(name))


def test_packed_rows_refuses_a_1d_tensor(q4k_llama):
    with pytest.raises(FormatError, match="not a 2-D tensor"):
        q4k_llama.packed_rows("model.norm.weight")
