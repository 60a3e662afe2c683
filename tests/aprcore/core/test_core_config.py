"""HF config.json: a value of the wrong type, a missing key, a size out of range or a
NaN is a ConfigError naming the key, never a coercion, a traceback or a huge allocation."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import aprcore
from aprcore import ConfigError, Model, ModelConfig, preset


@pytest.fixture(scope="module")
def hf_config() -> dict:
    return preset("tiny-llama").to_hf_dict()


def _with(d: dict, **changes) -> dict:
    return {**d, **changes}


@pytest.mark.parametrize(("key", "value", "message"), [
    ("hidden_size", "64", "hidden_size must be an integer, got '64'"),
    ("hidden_size", 64.5, "hidden_size must be an integer, got 64.5"),
    ("num_hidden_layers", True, "num_hidden_layers must be an integer, got True"),
    ("vocab_size", [256], "vocab_size must be an integer, got [256]"),
    ("tie_word_embeddings", "false", "tie_word_embeddings must be true or false, got 'false'"),
    ("rms_norm_eps", "1e-5", "rms_norm_eps must be a number, got '1e-5'"),
    ("rope_scaling", "linear", "rope_scaling must be an object, got 'linear'"),
    ("text_config", "x", None),
])
def test_a_value_of_the_wrong_type_is_an_error_naming_the_key(hf_config, key, value, message):
    d = _with(hf_config, **{key: value})
    if key == "text_config":
        del d["hidden_size"]
        message = "text_config must be an object, got 'x'"
    with pytest.raises(ConfigError) as e:
        ModelConfig.from_hf_dict(d)
    assert message in str(e.value)


@pytest.mark.parametrize("key", ["rms_norm_eps", "rope_theta"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0, 0.0])
def test_eps_and_theta_must_be_finite_and_positive(hf_config, key, value):
    with pytest.raises(ConfigError, match=f"{key} must be a finite number > 0"):
        ModelConfig.from_hf_dict(_with(hf_config, **{key: value}))


@pytest.mark.parametrize(("key", "value"), [("num_attention_heads", 0), ("num_key_value_heads", 0),
                                            ("hidden_size", -64), ("intermediate_size", 2**63)])
def test_a_size_out_of_range_is_an_error_naming_the_key(hf_config, key, value):
    # before: a head count of 0 was a ZeroDivisionError, 0 kv heads silently meant "all"
    with pytest.raises(ConfigError, match=f"{key} must be in 1..2147483647, got {value}"):
        ModelConfig.from_hf_dict(_with(hf_config, **{key: value}))


def test_a_missing_key_is_named(hf_config):
    d = dict(hf_config)
    del d["intermediate_size"]
    with pytest.raises(ConfigError, match="lacks the required field 'intermediate_size'"):
        ModelConfig.from_hf_dict(d)


@pytest.mark.parametrize(("text", "message"), [
    (b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
    (b'{"a": ' + b"9" * 5000 + b"}", "not valid JSON"),
    ('{"a": 1}'.encode("utf-16"), "not UTF-8"),
])
def test_json_that_python_cannot_read_is_a_config_error(tmp_path, text, message):
    (tmp_path / "config.json").write_bytes(text)
    with pytest.raises(ConfigError, match=message):
        ModelConfig.from_json(tmp_path / "config.json")


def test_a_huge_layer_count_is_refused_before_anything_is_allocated(tmp_path):
    model = Model.random(preset("tiny-llama"), seed=1)
    aprcore.save(model, tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    (tmp_path / "m" / "config.json").write_text(json.dumps({**cfg, "num_hidden_layers": 2147483647}))
    code = ("import resource, sys, aprcore\n"
            "resource.setrlimit(resource.RLIMIT_DATA, (2 << 30, 2 << 30))\n"
            "try:\n    aprcore.load(sys.argv[1])\nexcept ValueError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m")], capture_output=True, text=True,
                         timeout=300)
    # under the 2 GiB cap: before, building the expected tensor names hit MemoryError
    assert "num_hidden_layers 2147483647 does not fit the 21 tensors" in out.stdout, out.stderr[-2000:]


def test_an_integer_tensor_is_not_converted_into_weights(tmp_path):
    from safetensors.numpy import load_file, save_file

    model = Model.random(preset("tiny-llama"), seed=1)
    aprcore.save(model, tmp_path / "m")
    tensors = load_file(str(tmp_path / "m" / "model.safetensors"))
    tensors["model.norm.weight"] = tensors["model.norm.weight"].view("<i4")
    save_file(tensors, str(tmp_path / "m" / "model.safetensors"))
    with pytest.raises(ValueError, match="'model.norm.weight' has dtype I32; model weights are floats"):
        aprcore.load(tmp_path / "m")
