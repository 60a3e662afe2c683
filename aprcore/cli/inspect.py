"""`python -m aprcore inspect PATH [--json]`: architecture, tensors, types and sizes.

Works on GGUF files (metadata keys, ggml names and types), `.safetensors` files and HF
directories. Exit 0 on success, 2 for a file that cannot be read (one line naming the
file and the problem).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

from ..formats.errors import FormatError
from . import HelpFormatter


def register(subparsers) -> None:
    p = subparsers.add_parser("inspect", help="show a model file's architecture, tensors, types and sizes",
                              description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("path", help="GGUF file, .safetensors file or HF directory")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=main)


def describe(path: str) -> dict:
    """Everything `inspect` prints, as a dict."""
    from ..config import ConfigError, ModelConfig
    from ..formats.sources import GGUFSource, open_source

    src = open_source(path)
    info: dict = {"path": str(path), "format": src.kind}
    tensors = []
    if isinstance(src, GGUFSource):
        from ..formats.gguf_check import ArrayValue

        f = src.file
        meta = {}
        for key, v in f.metadata.items():
            meta[key] = f"<array of {v.count}>" if isinstance(v, ArrayValue) else v
        info["metadata"] = meta
        try:
            info["config"] = f.config().to_hf_dict()
        except FormatError as e:
            info["config_error"] = e.problem
        for t in f.tensors():
            tensors.append({"name": t.gguf_name, "hf_name": t.hf_name, "type": t.type_name,
                            "shape_hf": list(t.shape), "bytes": t.nbytes})
    else:
        cfg_path = Path(path) / "config.json" if Path(path).is_dir() else Path(path).with_name("config.json")
        if cfg_path.exists():
            try:
                info["config"] = ModelConfig.from_json(cfg_path).to_hf_dict()
            except (ConfigError, OSError) as e:
                info["config_error"] = str(e)
        for m in src.tensors():
            tensors.append({"name": m.name, "type": m.dtype, "shape_hf": list(m.shape), "bytes": m.nbytes})
    info["tensors"] = tensors
    info["parameters"] = sum(_numel(t["shape_hf"]) for t in tensors)
    info["bytes"] = sum(t["bytes"] for t in tensors)
    info["types"] = dict(Counter(t["type"] for t in tensors))
    return info


def _numel(shape: list[int]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def main(args: argparse.Namespace) -> int:
    try:
        info = describe(args.path)
    except FormatError as e:
        print(f"aprcore inspect: {e}", file=sys.stderr)
        return 2
    try:
        _print(info, args.json)
    except BrokenPipeError:  # `... | head`: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _print(info: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(info, indent=1, default=str))
        return
    print(f"{info['path']}: {info['format']}")
    cfg = info.get("config")
    if cfg:
        keys = ("model_type", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                "num_attention_heads", "num_key_value_heads", "rope_theta", "rms_norm_eps", "tie_word_embeddings")
        print("  " + ", ".join(f"{k}={cfg[k]}" for k in keys if k in cfg))
    if "config_error" in info:
        print(f"  config: {info['config_error']}")
    for key in ("general.file_type", "general.quantization_version", "tokenizer.ggml.model"):
        if key in info.get("metadata", {}):
            print(f"  {key} = {info['metadata'][key]}")
    print(f"  {len(info['tensors'])} tensors, {info['parameters']:,} parameters, {info['bytes'] / 2**20:.1f} MiB; "
          + ", ".join(f"{k}: {v}" for k, v in sorted(info["types"].items())))
    w = max([len(t["name"]) for t in info["tensors"]] + [4])
    for t in info["tensors"]:
        print(f"  {t['name']:<{w}}  {t['type']:<5} {str(t['shape_hf']):<16} {t['bytes']:>12,} B")
    sys.stdout.flush()

