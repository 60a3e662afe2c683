"""HF directories, aprcore.load/save, and `python -m aprcore run`."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest

import aprcore
from aprcore import Model, ModelConfig, preset
from aprcore.cli import main as cli_main
from aprcore.formats.hf import read_hf_dir

safetensors_numpy = pytest.importorskip("safetensors.numpy")


@pytest.fixture(scope="module")
def model():
    return Model.random(preset("tiny-qwen2"), seed=9)


def test_hf_dir_round_trip_is_bit_exact(model, tmp_path):
    aprcore.save(model, tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]
    back = aprcore.load(tmp_path / "m")
    assert back.config == model.config
    assert back.weights.keys() == model.weights.keys()
    assert all(np.array_equal(back.weights[k], model.weights[k]) for k in model.weights)
    np.testing.assert_array_equal(back.forward([1, 2, 3]), model.forward([1, 2, 3]))


def test_tied_checkpoint_with_a_stored_lm_head_still_ties(model, tmp_path):
    w = dict(model.weights)
    w["lm_head.weight"] = np.zeros_like(w["model.embed_tokens.weight"])  # some exporters write it
    safetensors_numpy.save_file(w, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps(model.config.to_hf_dict()))
    np.testing.assert_array_equal(aprcore.load(tmp_path).forward([4, 5]), model.forward([4, 5]))


def test_bf16_tensors_are_widened_to_float32(model, tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    tensors = {k: torch.from_numpy(v).to(torch.bfloat16) for k, v in model.weights.items()}
    save_file(tensors, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps(model.config.to_hf_dict()))
    cfg, w = read_hf_dir(tmp_path)
    for k, t in tensors.items():
        assert w[k].dtype == np.float32
        np.testing.assert_array_equal(w[k], t.float().numpy())


def test_sharded_directory_with_an_index_loads(model, tmp_path):
    names = list(model.weights)
    half = len(names) // 2
    shards = {"model-00001-of-00002.safetensors": names[:half],
              "model-00002-of-00002.safetensors": names[half:]}
    for f, ks in shards.items():
        safetensors_numpy.save_file({k: model.weights[k] for k in ks}, str(tmp_path / f))
    index = {"weight_map": {k: f for f, ks in shards.items() for k in ks}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    (tmp_path / "config.json").write_text(json.dumps(model.config.to_hf_dict()))
    np.testing.assert_array_equal(aprcore.load(tmp_path).forward([7]), model.forward([7]))


def test_older_and_current_config_spellings_give_one_config():
    old = {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 176,
           "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 256,
           "rms_norm_eps": 1e-5, "rotary_emb_base_missing": True}
    new = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 176,
           "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 4,
           "vocab_size": 256, "rms_norm_eps": 1e-5, "tie_word_embeddings": False,
           "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0}}
    a, b = ModelConfig.from_hf_dict(old), ModelConfig.from_hf_dict(new)
    assert a == b and a.num_key_value_heads == 4 and a.rope_theta == 10000.0


def test_save_with_quant_needs_a_gguf_path(model, tmp_path):
    with pytest.raises(ValueError, match="gguf"):
        aprcore.save(model, tmp_path / "m", quant="Q8_0")


def test_gguf_paths_dispatch_to_gguf_io(model, tmp_path, monkeypatch):
    calls = {}
    fake = types.ModuleType("aprcore.formats.gguf_io")
    fake.write_model = lambda path, config, weights, quant=None, strict=False: calls.update(w=(path, quant))
    fake.read_model = lambda path: (model.config, model.weights)
    monkeypatch.setitem(sys.modules, "aprcore.formats.gguf_io", fake)
    import aprcore.formats as formats
    monkeypatch.setattr(formats, "gguf_io", fake, raising=False)
    aprcore.save(model, tmp_path / "m.gguf", quant="Q4_K")
    assert calls["w"] == (tmp_path / "m.gguf", "Q4_K")
    assert aprcore.load(tmp_path / "m.gguf").config == model.config


def test_cli_run_prints_json_logits_summary(model, tmp_path, capsys):
    aprcore.save(model, tmp_path / "m")
    rc = cli_main(["run", str(tmp_path / "m"), "--tokens", "1,2,3", "--json", "--generate", "2"])
    out = json.loads(capsys.readouterr().out)
    logits = model.forward([1, 2, 3])
    assert rc == 0 and out["shape"] == [3, 256] and out["backend"] == "cpu"
    assert out["argmax"] == [int(a) for a in logits.argmax(-1)]
    assert out["generated"] == model.generate([1, 2, 3], 2)


def test_cli_run_rejects_bad_tokens(capsys):
    assert cli_main(["run", "random:tiny-qwen2", "--tokens", "a,b"]) == 2
    assert "comma-separated" in capsys.readouterr().err


def test_cli_registers_every_command():
    from aprcore.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(sub.choices) == {"run", "inspect", "diff", "convert", "pretrain", "distill", "fetch"}


def test_cli_fails_loudly_when_a_command_module_is_missing(monkeypatch):
    from aprcore import cli

    monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, "no_such_command"))
    with pytest.raises(ModuleNotFoundError, match="no_such_command"):
        cli.build_parser()


def test_save_never_follows_a_symlink_planted_at_a_temporary_name(model, tmp_path):
    # before: save wrote through m.gguf.tmp, so a link there overwrote the link's target
    victim = tmp_path / "victim"
    victim.write_text("precious")
    for planted in ("m.gguf.tmp", ".m.gguf.tmp"):
        (tmp_path / planted).symlink_to(victim)
    aprcore.save(model, tmp_path / "m.gguf")
    assert victim.read_text() == "precious"
    assert aprcore.load(tmp_path / "m.gguf").config == model.config
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "model.safetensors.tmp").symlink_to(victim)
    aprcore.save(model, tmp_path / "hf")
    assert victim.read_text() == "precious"
    leftovers = sorted(p.name for p in tmp_path.rglob("*") if p.name.endswith(".tmp") and not p.is_symlink())
    assert leftovers == []


def test_inspect_of_an_empty_directory_is_one_line_and_exit_2(tmp_path):
    import subprocess

    code = "import sys; from aprcore.cli import main; sys.exit(main(['inspect', sys.argv[1]]))"
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr  # no __del__ noise
