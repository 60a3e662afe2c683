"""`python -m aprcore convert` and quant fallbacks: said per tensor class, a true file type,
or an error with --strict-quant / save(strict_quant=True)."""

from __future__ import annotations

import gguf
import numpy as np
import pytest

import aprcore
from aprcore.cli import main
from aprcore.formats import gguf_io

TINY = aprcore.preset("tiny-llama")  # hidden 64, intermediate 176: no row fits Q4_K's 256


@pytest.fixture()
def hf(tmp_path):
    return aprcore.save(aprcore.Model.random(TINY, seed=4), tmp_path / "hf")


def _file_type(path) -> int:
    field = gguf.GGUFReader(path).fields["general.file_type"]
    return int(field.parts[field.data[0]][0])


def test_hf_to_gguf_and_back_is_lossless_in_f32(hf, tmp_path, capsys):
    assert main(["convert", str(hf), str(tmp_path / "m.gguf")]) == 0
    assert main(["convert", str(tmp_path / "m.gguf"), str(tmp_path / "back")]) == 0
    a, b = aprcore.load(hf), aprcore.load(tmp_path / "back")
    assert a.config == b.config and all(np.array_equal(a.weights[k], b.weights[k]) for k in a.weights)


def test_a_fallback_is_named_per_tensor_class_and_the_file_type_is_true(hf, tmp_path, capsys):
    assert main(["convert", str(hf), str(tmp_path / "q.gguf"), "--quant", "Q4_K"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert any(line.startswith("aprcore convert: Q4_K fell back for mlp.down_proj.weight: 2 tensor(s) "
                               "written as F32: rows of 176") for line in err)
    assert any("mlp.up_proj.weight: 2 tensor(s) written as Q8_0: rows of 64" in line for line in err)
    types = {t.tensor_type.name for t in gguf.GGUFReader(tmp_path / "q.gguf").tensors}
    assert "Q4_K" not in types and _file_type(tmp_path / "q.gguf") == int(gguf.LlamaFileType.MOSTLY_Q8_0)


def test_strict_quant_fails_and_writes_nothing(hf, tmp_path, capsys):
    rc = main(["convert", str(hf), str(tmp_path / "q.gguf"), "--quant", "Q4_K", "--strict-quant"])
    err = capsys.readouterr().err
    assert rc == 2 and "Q4_K does not fit every tensor" in err and err.count("\n") == 1
    assert not (tmp_path / "q.gguf").exists()


def test_save_warns_per_class_or_raises_when_strict(tmp_path):
    model = aprcore.Model.random(TINY, seed=4)
    with pytest.warns(gguf_io.QuantFallbackWarning, match="self_attn.q_proj.weight"):
        aprcore.save(model, tmp_path / "a.gguf", quant="Q4_K")
    with pytest.raises(gguf_io.QuantFallback, match="mlp.down_proj.weight"):
        aprcore.save(model, tmp_path / "b.gguf", quant="Q4_K", strict_quant=True)
    assert not (tmp_path / "b.gguf").exists()


def test_a_mixture_of_quant_types_is_written_as_guessed():
    assert gguf_io.file_type({"a": "Q4_K", "b": "Q8_0", "c": "F32"}) == gguf.LlamaFileType.GUESSED
    assert gguf_io.file_type({"a": "Q4_K", "c": "F32"}) == gguf.LlamaFileType.MOSTLY_Q4_K_S
    assert gguf_io.file_type({"c": "F32"}) == gguf.LlamaFileType.ALL_F32


def test_convert_refuses_an_existing_dst_without_force(hf, tmp_path, capsys):
    (tmp_path / "m.gguf").write_bytes(b"keep")
    assert main(["convert", str(hf), str(tmp_path / "m.gguf")]) == 2
    assert (tmp_path / "m.gguf").read_bytes() == b"keep"
    assert main(["convert", str(hf), str(tmp_path / "m.gguf"), "--force"]) == 0
