"""Checkpoints: an HF-style model directory plus the optimizer state and trainer state.

Layout of a checkpoint directory:
  config.json            HF config of the model (ModelConfig.to_hf_dict)
  model.safetensors      float32 weights under HF names: `aprcore.load` / `--init` read it
  optimizer.safetensors  AdamW moments as `m.<name>` / `v.<name>`
  trainer_state.json     step, AdamW t and hyper-parameters, seed, corpus digest

Resuming restores all four; batches are a pure function of (seed, step) (see data.py),
so no sampler state is needed and the resumed run is bit-identical to an uninterrupted one.
safetensors.numpy is used because it is the format's own reader/writer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from ..arrays import to_host
from ..config import ModelConfig


def save_model_dir(cfg: ModelConfig, weights: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(cfg.to_hf_dict(), indent=2) + "\n")
    tensors = {k: np.ascontiguousarray(to_host(v), dtype=np.float32) for k, v in weights.items()}
    tmp = path / "model.safetensors.tmp"
    save_file(tensors, str(tmp), metadata={"format": "pt"})
    os.replace(tmp, path / "model.safetensors")
    return path


def load_model_dir(path: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    """(raw config.json dict, weights) of an HF directory with a single model.safetensors."""
    path = Path(path)
    raw = json.loads((path / "config.json").read_text(encoding="utf-8"))
    files = sorted(path.glob("*.safetensors"))
    files = [f for f in files if f.name != "optimizer.safetensors"]
    weights: dict[str, np.ndarray] = {}
    for f in files:
        weights.update(load_file(str(f)))
    return raw, weights


def save_checkpoint(path: str | Path, cfg: ModelConfig, weights: dict, opt, state: dict) -> Path:
    path = save_model_dir(cfg, weights, path)
    moments = {f"m.{k}": np.ascontiguousarray(to_host(v)) for k, v in opt.m.items()}
    moments.update({f"v.{k}": np.ascontiguousarray(to_host(v)) for k, v in opt.v.items()})
    if moments:
        save_file(moments, str(path / "optimizer.safetensors"))
    full = dict(state)
    full["adamw"] = {"t": opt.t, "lr": opt.lr, "beta1": opt.beta1, "beta2": opt.beta2,
                     "eps": opt.eps, "weight_decay": opt.weight_decay}
    (path / "trainer_state.json").write_text(json.dumps(full, indent=2, sort_keys=True) + "\n")
    return path


def load_checkpoint(path: str | Path):
    """(ModelConfig, weights, moments m, moments v, trainer state) of a checkpoint dir."""
    path = Path(path)
    raw, weights = load_model_dir(path)
    cfg = ModelConfig.from_hf_dict(raw)
    state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    m: dict[str, np.ndarray] = {}
    v: dict[str, np.ndarray] = {}
    opt_file = path / "optimizer.safetensors"
    if opt_file.exists():
        for k, t in load_file(str(opt_file)).items():
            (m if k.startswith("m.") else v)[k[2:]] = t
    return cfg, weights, m, v, state
