"""The valid model files every aprcore case mutates, and the oracle that compares loads.

Built once per run from a seeded random tiny Llama (q_proj and o_proj have one shape, so
a tensor table that points one at the other's bytes loads without a shape error).
"""

from __future__ import annotations

import functools
import json
import math
import tempfile
from pathlib import Path

from . import entry
from .case import WRONG
from .runner import Run

PRESET = "tiny-llama"


@functools.cache
def base() -> dict:
    """{'gguf': bytes, 'safetensors': bytes, 'config': dict, 'summary': dict}."""
    import aprcore

    model = aprcore.Model.random(aprcore.preset(PRESET), seed=11)
    with tempfile.TemporaryDirectory() as tmp:
        g = aprcore.save(model, Path(tmp) / "m.gguf")
        hf = aprcore.save(model, Path(tmp) / "hf")
        return {
            "gguf": g.read_bytes(),
            "safetensors": (hf / "model.safetensors").read_bytes(),
            "config": json.loads((hf / "config.json").read_text()),
            "summary": entry.summary(aprcore.load(g)),
        }


def loaded_as_written(run: Run, may_change_weights: bool = False) -> tuple[str, str] | None:
    """Oracle of a successful `load`: the config is one a model can run, and a file that
    loads with the config it was written with holds the weights it was written with
    (unless the mutation edited tensor bytes, a valid change). A changed config may
    legitimately change weights: llama's q/k row order depends on the head counts."""
    if run.rc != 0:
        return None
    try:
        got = json.loads(run.out)
    except ValueError:
        return WRONG, "load printed no summary"
    cfg = got["config"]
    for key in ("rms_norm_eps", "rope_theta"):
        v = cfg.get(key)
        if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            return WRONG, f"loaded with {key} = {v}"
    if not may_change_weights and cfg == base()["summary"]["config"]:
        want = base()["summary"]["weights"]
        changed = sorted(k for k in want if got["weights"].get(k) != want[k])
        if changed:
            return WRONG, f"loaded with other weights: {', '.join(changed[:3])}"
    return None
