"""Model configuration: the shapes and constants of a Qwen2 or Llama decoder.

`ModelConfig` is the one description every part of aprcore shares (the model, the file
formats, the trainer, the GPU backend). It reads and writes HF `config.json`
dictionaries, accepting the spellings of both older and current transformers
releases, and carries the presets with the real published shapes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ARCHITECTURES = ("qwen2", "llama")

_HF_ARCH_CLASS = {"qwen2": "Qwen2ForCausalLM", "llama": "LlamaForCausalLM"}


class ConfigError(ValueError):
    """A config that cannot describe a model we can build (the message names the key)."""


#: The integer fields; each must be an int in 1..MAX_SIZE (head_dim may be None: derived).
_SIZES = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
          "num_attention_heads", "num_key_value_heads", "max_position_embeddings", "head_dim")
#: The largest size a field may hold: int32, what HF's and llama.cpp's hparams hold. The
#: readers bound the sizes further by the tensors actually in the file, before anything
#: is allocated by them.
MAX_SIZE = 2**31 - 1
#: The largest config.json read (real ones are ~1 KB; checked before reading).
MAX_CONFIG_BYTES = 1 << 20


@dataclass(frozen=True)
class ModelConfig:
    arch: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    rms_norm_eps: float = 1e-6
    rope_theta: float = 1_000_000.0
    max_position_embeddings: int = 32768
    tie_word_embeddings: bool = False
    # Qwen2 puts biases on q/k/v; Llama has none. HF's Llama config can switch it on.
    attention_bias: bool | None = None
    head_dim: int | None = None

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ConfigError(f"unknown architecture {self.arch!r}; expected one of {ARCHITECTURES}")
        # Types and ranges first: a head count of 0 must be this error, not a division by it.
        for name in _SIZES:
            v = getattr(self, name)
            if v is None and name == "head_dim":
                continue
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise ConfigError(f"{name} must be an integer, got {v!r}")
            if not 0 < v <= MAX_SIZE:
                raise ConfigError(f"{name} must be in 1..{MAX_SIZE}, got {v}")
            object.__setattr__(self, name, int(v))
        for name in ("rms_norm_eps", "rope_theta"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v <= 0:
                raise ConfigError(f"{name} must be a finite number > 0, got {v!r}")
            object.__setattr__(self, name, float(v))
        for name in ("tie_word_embeddings", "attention_bias"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, bool):
                raise ConfigError(f"{name} must be true or false, got {v!r}")
        if self.attention_bias is None:
            object.__setattr__(self, "attention_bias", self.arch == "qwen2")
        if self.head_dim is None:
            if self.hidden_size % self.num_attention_heads:
                raise ConfigError(
                    f"hidden_size {self.hidden_size} is not divisible by "
                    f"num_attention_heads {self.num_attention_heads}"
                )
            object.__setattr__(self, "head_dim", self.hidden_size // self.num_attention_heads)
        if self.num_attention_heads % self.num_key_value_heads:
            raise ConfigError(
                f"num_attention_heads {self.num_attention_heads} is not a multiple of "
                f"num_key_value_heads {self.num_key_value_heads}"
            )
        if self.head_dim % 2:
            raise ConfigError(f"head_dim {self.head_dim} must be even for RoPE")

    @property
    def gqa_ratio(self) -> int:
        return self.num_attention_heads // self.num_key_value_heads

    @property
    def q_dim(self) -> int:
        return self.num_attention_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.num_key_value_heads * self.head_dim

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(self, **changes)

    def num_parameters(self) -> int:
        h, f, v = self.hidden_size, self.intermediate_size, self.vocab_size
        attn = h * self.q_dim + 2 * h * self.kv_dim + self.q_dim * h
        if self.attention_bias:
            attn += self.q_dim + 2 * self.kv_dim
        layer = attn + 3 * h * f + 2 * h
        head = 0 if self.tie_word_embeddings else v * h
        return v * h + self.num_hidden_layers * layer + h + head

    # -- HF config.json -------------------------------------------------------------

    @classmethod
    def from_hf_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Read an HF config dict, as written by older and current transformers releases.

        Every value is type-checked, never coerced: `"64"`, `64.5` or `true` for a size,
        `"false"` for a flag, NaN for eps are a ConfigError naming the key.
        """
        if not isinstance(d, dict):
            raise ConfigError("config.json must hold a JSON object")
        # Newer releases may nest the text model's settings (multimodal wrappers).
        if "text_config" in d and "hidden_size" not in d:
            if not isinstance(d["text_config"], dict):
                raise ConfigError(f"text_config must be an object, got {d['text_config']!r}")
            d = {**d, **d["text_config"]}
        model_type = d.get("model_type") or ""
        if not isinstance(model_type, str):
            raise ConfigError(f"model_type must be a string, got {model_type!r}")
        model_type = model_type.lower()
        if not model_type:
            archs = d.get("architectures") or []
            if not isinstance(archs, list):
                raise ConfigError(f"architectures must be a list, got {archs!r}")
            archs = [str(a).lower() for a in archs]
            model_type = next((a for a in ARCHITECTURES if any(x.startswith(a) for x in archs)), "")
        if model_type not in ARCHITECTURES:
            raise ConfigError(
                f"model_type {model_type!r} is not supported; aprcore runs {', '.join(ARCHITECTURES)} "
                "decoders (encoder models such as BERT are not decoders)"
            )
        heads = _field(d, "num_attention_heads", int)
        cfg: dict[str, Any] = dict(
            arch=model_type,
            vocab_size=_field(d, "vocab_size", int),
            hidden_size=_field(d, "hidden_size", int),
            intermediate_size=_field(d, "intermediate_size", int),
            num_hidden_layers=_field(d, "num_hidden_layers", int),
            num_attention_heads=heads,
            # Older Llama configs omit num_key_value_heads: that meant MHA.
            num_key_value_heads=_field(d, "num_key_value_heads", int, heads),
        )
        for key in ("rms_norm_eps", "layer_norm_epsilon", "rms_eps"):
            if d.get(key) is not None:
                cfg["rms_norm_eps"] = _field(d, key, float)
                break
        # rope_theta moved into rope_parameters / rope_scaling in newer releases.
        theta = _field(d, "rope_theta", float, None)
        for nested in ("rope_parameters", "rope_scaling"):
            sub = d.get(nested)
            if sub is None:
                continue
            if not isinstance(sub, dict):
                raise ConfigError(f"{nested} must be an object, got {sub!r}")
            nested_theta = _field(sub, "rope_theta", float, None, key_name=f"{nested}.rope_theta")
            if theta is None:
                theta = nested_theta
            rope_type = sub.get("rope_type", sub.get("type", "default"))
            if rope_type not in ("default", None):
                raise ConfigError(f"{nested}.rope_type {rope_type!r} is not supported (only plain RoPE)")
        if theta is None:
            theta = 1_000_000.0 if model_type == "qwen2" else 10_000.0
        cfg["rope_theta"] = theta
        if d.get("max_position_embeddings") is not None:
            cfg["max_position_embeddings"] = _field(d, "max_position_embeddings", int)
        if "tie_word_embeddings" in d:
            cfg["tie_word_embeddings"] = _field(d, "tie_word_embeddings", bool)
        elif model_type == "llama":
            cfg["tie_word_embeddings"] = False
        if model_type == "llama" and "attention_bias" in d:
            cfg["attention_bias"] = _field(d, "attention_bias", bool)
        head_dim = _field(d, "head_dim", int, None)
        if head_dim is not None and (heads <= 0 or head_dim != cfg["hidden_size"] // heads):
            cfg["head_dim"] = head_dim
        act = d.get("hidden_act", "silu")
        if act not in ("silu", "swish"):
            raise ConfigError(f"hidden_act {act!r} is not supported (only SiLU/SwiGLU)")
        return cls(**cfg)

    def to_hf_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "architectures": [_HF_ARCH_CLASS[self.arch]],
            "model_type": self.arch,
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "hidden_act": "silu",
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "max_position_embeddings": self.max_position_embeddings,
            "tie_word_embeddings": self.tie_word_embeddings,
            "torch_dtype": "float32",
        }
        if self.arch == "llama":
            d["attention_bias"] = bool(self.attention_bias)
        if self.head_dim != self.hidden_size // self.num_attention_heads:
            d["head_dim"] = self.head_dim
        return d

    @classmethod
    def from_json(cls, path: str | Path) -> ModelConfig:
        """The config of an HF config.json (at most MAX_CONFIG_BYTES, checked first)."""
        path = Path(path)
        with path.open("rb") as f:  # OSError (missing, unreadable) is the caller's to report
            if os.fstat(f.fileno()).st_size > MAX_CONFIG_BYTES:
                raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES:,} bytes (MAX_CONFIG_BYTES)")
            raw = f.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES:,} bytes (MAX_CONFIG_BYTES)")
        try:
            data = json.loads(raw.decode("utf-8-sig"))
        except UnicodeDecodeError as e:
            raise ConfigError(f"{path}: not UTF-8 text ({e.reason})") from None
        except RecursionError:
            raise ConfigError(f"{path}: JSON nested too deeply") from None
        except ValueError as e:  # JSONDecodeError, and ints beyond Python's 4300 digits
            raise ConfigError(f"{path}: not valid JSON ({e})") from None
        try:
            return cls.from_hf_dict(data)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None


_KIND = {int: "an integer", float: "a number", bool: "true or false"}


def _field(d: dict[str, Any], key: str, kind: type, default: Any = ..., key_name: str | None = None) -> Any:
    """`d[key]` if it has the JSON type `kind` (a missing or null key: `default`, or an error)."""
    v = d.get(key)
    name = key_name or key
    if v is None:
        if default is ...:
            raise ConfigError(f"config.json lacks the required field {name!r}")
        return default
    ok = isinstance(v, bool) if kind is bool else (
        not isinstance(v, bool) and isinstance(v, (int, float) if kind is float else int))
    if not ok:
        raise ConfigError(f"{name} must be {_KIND[kind]}, got {v!r}")
    if kind is float and (not math.isfinite(v) or v <= 0):
        raise ConfigError(f"{name} must be a finite number > 0, got {v!r}")
    return float(v) if kind is float else v


# Presets. The published ones copy the shapes of the released models' config.json.
PRESETS: dict[str, ModelConfig] = {
    "qwen2-0.5b": ModelConfig(
        arch="qwen2", vocab_size=151936, hidden_size=896, intermediate_size=4864,
        num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
        rms_norm_eps=1e-6, rope_theta=1_000_000.0, max_position_embeddings=32768,
        tie_word_embeddings=True,
    ),
    "qwen2.5-coder-7b": ModelConfig(
        arch="qwen2", vocab_size=152064, hidden_size=3584, intermediate_size=18944,
        num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
        rms_norm_eps=1e-6, rope_theta=1_000_000.0, max_position_embeddings=32768,
        tie_word_embeddings=False,
    ),
    "llama-370m": ModelConfig(
        arch="llama", vocab_size=32000, hidden_size=1024, intermediate_size=2816,
        num_hidden_layers=24, num_attention_heads=16, num_key_value_heads=16,
        rms_norm_eps=1e-5, rope_theta=10_000.0, max_position_embeddings=2048,
        tie_word_embeddings=False,
    ),
    # Small shapes for tests: the same structure, seconds to run.
    "tiny-qwen2": ModelConfig(
        arch="qwen2", vocab_size=256, hidden_size=64, intermediate_size=160,
        num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=2,
        rms_norm_eps=1e-6, rope_theta=1_000_000.0, max_position_embeddings=512,
        tie_word_embeddings=True,
    ),
    "tiny-qwen2-gqa7": ModelConfig(
        arch="qwen2", vocab_size=256, hidden_size=112, intermediate_size=192,
        num_hidden_layers=2, num_attention_heads=14, num_key_value_heads=2,
        rms_norm_eps=1e-6, rope_theta=1_000_000.0, max_position_embeddings=512,
        tie_word_embeddings=False,
    ),
    "tiny-llama": ModelConfig(
        arch="llama", vocab_size=256, hidden_size=64, intermediate_size=176,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
        rms_norm_eps=1e-5, rope_theta=10_000.0, max_position_embeddings=512,
        tie_word_embeddings=False,
    ),
}


def preset(name: str) -> ModelConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}") from None
