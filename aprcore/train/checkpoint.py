"""Checkpoints: an HF model directory, with the optimizer and trainer state beside it.

Layout of a checkpoint directory:
  config.json                  HF config of the model (ModelConfig.to_hf_dict)
  model.safetensors            float32 weights under HF names: `aprcore.load`, `--init`,
                               `inspect` and `diff` read the model and nothing else
  optimizer/moments.safetensors  AdamW moments as `m.<name>` / `v.<name>`, in a folder
                               of their own so that no reader takes them for weights
  trainer_state.json           step, AdamW t and hyper-parameters, seed, corpus digest

Resuming restores all four; batches are a pure function of (seed, step) (see data.py),
so no sampler state is needed and the resumed run is bit-identical to an uninterrupted one.
Tensors go through `aprcore.formats.safetensors` (atomic writes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..arrays import to_host
from ..config import ModelConfig
from ..formats import safetensors
from ..formats.hf import CONFIG, shard_files, write_hf_dir

OPTIMIZER = Path("optimizer") / "moments.safetensors"
STATE = "trainer_state.json"


def load_model_dir(path: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    """(raw config.json dict, weights) of an HF directory (the raw dict for preflight)."""
    path = Path(path)
    raw = json.loads((path / CONFIG).read_text(encoding="utf-8"))
    return raw, safetensors.read_files(shard_files(path))


def save_checkpoint(path: str | Path, cfg: ModelConfig, weights: dict, opt, state: dict) -> Path:
    path = write_hf_dir(path, cfg, weights)
    moments = {f"m.{k}": to_host(v) for k, v in opt.m.items()}
    moments.update({f"v.{k}": to_host(v) for k, v in opt.v.items()})
    if moments:
        (path / OPTIMIZER).parent.mkdir(exist_ok=True)
        safetensors.write_file(path / OPTIMIZER, moments)
    full = dict(state)
    full["adamw"] = {"t": opt.t, "lr": opt.lr, "beta1": opt.beta1, "beta2": opt.beta2,
                     "eps": opt.eps, "weight_decay": opt.weight_decay}
    (path / STATE).write_text(json.dumps(full, indent=2, sort_keys=True) + "\n")
    return path


def is_checkpoint(path: str | Path) -> bool:
    return (Path(path) / STATE).is_file()


def load_checkpoint(path: str | Path) -> tuple[ModelConfig, dict, dict, dict, dict[str, Any]]:
    """(ModelConfig, weights, moments m, moments v, trainer state) of a checkpoint dir."""
    path = Path(path)
    raw, weights = load_model_dir(path)
    cfg = ModelConfig.from_hf_dict(raw)
    state = json.loads((path / STATE).read_text(encoding="utf-8"))
    m: dict[str, np.ndarray] = {}
    v: dict[str, np.ndarray] = {}
    if (path / OPTIMIZER).exists():
        for k, t in safetensors.read_files([path / OPTIMIZER]).items():
            (m if k.startswith("m.") else v)[k[2:]] = t
    return cfg, weights, m, v, state
