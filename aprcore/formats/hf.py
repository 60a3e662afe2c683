"""HF-style model directories: config.json + model.safetensors (or sharded files).

Which files of a directory hold the model follows transformers' rule: model.safetensors,
else the shards its index names, else `model*.safetensors`. Other safetensors files in
the directory (a trainer's optimizer state, say) are not the model and are never read
as part of it. Tensors go through `formats.safetensors`, the one reader and writer.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..arrays import to_host
from ..config import ModelConfig
from ..weights import expected_shapes
from . import atomic, safetensors
from .errors import FormatError

CONFIG = "config.json"
SINGLE = "model.safetensors"
INDEX = "model.safetensors.index.json"


def is_hf_dir(path: str | Path) -> bool:
    p = Path(path)
    return p.is_dir() and (p / CONFIG).is_file()


def shard_files(d: Path) -> list[Path]:
    """The safetensors files that hold the model of directory `d`."""
    if (d / SINGLE).is_file():
        return [d / SINGLE]
    if (d / INDEX).is_file():
        try:
            index = json.loads((d / INDEX).read_text(encoding="utf-8"))
            names = sorted(set(index["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise FormatError(d / INDEX, f"not a usable safetensors index: {e}") from None
        return [d / f for f in names]
    found = sorted(d.glob("model*.safetensors"))
    if not found:
        raise FormatError(d, "no model.safetensors, model.safetensors.index.json or model*.safetensors file")
    return found


def read_hf_dir(path: str | Path) -> tuple[ModelConfig, dict[str, np.ndarray]]:
    """(config, weights) of an HF directory, config.json in old or current spellings."""
    d = Path(path)
    if not is_hf_dir(d):
        raise FileNotFoundError(f"{d}: not an HF model directory (no {CONFIG})")
    cfg = ModelConfig.from_json(d / CONFIG)
    headers = safetensors.read_headers(shard_files(d))
    # Bound the config by the tensors before anything is built from it: expected_shapes
    # makes a dict entry per tensor of every layer, and a 400-byte config.json saying
    # num_hidden_layers: 2147483648 made it grow past 13 GB.
    if cfg.num_hidden_layers > len(headers):
        raise FormatError(d / CONFIG, f"num_hidden_layers {cfg.num_hidden_layers} does not fit the "
                                      f"{len(headers)} tensors of the model")
    for name in expected_shapes(cfg):
        if name in headers and headers[name][1].dtype not in safetensors.FLOAT_DTYPES:
            f, info = headers[name]
            raise FormatError(f, f"tensor {name!r} has dtype {info.dtype}; model weights are floats "
                                 "(an integer tensor is not converted)")
    return cfg, {name: safetensors.read_tensor(f, info) for name, (f, info) in headers.items()}


def write_hf_dir(path: str | Path, config: ModelConfig, weights: dict[str, np.ndarray]) -> Path:
    """Write config.json and model.safetensors (float32, HF names; no lm_head when tied)."""
    d = Path(path)
    d.mkdir(parents=True, exist_ok=True)
    tensors = {k: np.asarray(to_host(weights[k]), dtype=np.float32) for k in expected_shapes(config)}
    safetensors.write_file(d / SINGLE, tensors, metadata={"format": "pt"})
    with atomic.replacing(d / CONFIG) as tmp:
        tmp.write_text(json.dumps(config.to_hf_dict(), indent=2) + "\n", encoding="utf-8")
    return d
