"""Checks that run before the first training step and name the falsifier they enforce.

Each failure raises PreflightError whose message starts with the falsifier id in
brackets, so a log line says which contract claim stopped the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import faults as _faults
from ..config import ConfigError, ModelConfig
from ..weights import weight_problems

VOCAB_ID = "FALSIFY-APR-PRETRAIN-ARCH-003"
SHAPES_ID = "FALSIFY-APR-PRETRAIN-ARCH-005"
FAMILY_ID = "FALSIFY-APR-PRETRAIN-ARCH-008"

# HF model types of encoder-only families: a checkpoint of these cannot seed a decoder.
ENCODER_MODEL_TYPES = {"bert", "roberta", "distilbert", "albert", "electra", "deberta",
                       "deberta-v2", "xlm-roberta", "camembert", "mpnet", "ernie", "modernbert"}


class PreflightError(RuntimeError):
    """A run that must not start; the message names the falsifier."""


def check_tokenizer_fits(tok_vocab: int, cfg: ModelConfig, tok_source: str = "tokenizer") -> None:
    if tok_vocab > cfg.vocab_size and _faults.on("tokenizer_fit_unchecked") is None:
        raise PreflightError(
            f"[{VOCAB_ID}] {tok_source} has {tok_vocab} tokens but the model's embedding has "
            f"{cfg.vocab_size} rows: ids >= {cfg.vocab_size} would index past the table. "
            "Use a config with vocab_size >= the tokenizer's, or a smaller tokenizer.")


def check_tokenizer_family(family: str, tok_source: str = "tokenizer") -> None:
    if family != "decoder" and _faults.on("encoder_family_unchecked") is None:
        raise PreflightError(
            f"[{FAMILY_ID}] {tok_source} belongs to an {family} family (BERT-style "
            "[CLS]/[SEP] specials or post-processor); pretrain trains causal decoders "
            "(qwen2, llama) and needs a decoder tokenizer.")


def check_checkpoint_family(raw_config: dict, source: str) -> None:
    """An encoder checkpoint (BERT & co.) is refused before its config is even parsed."""
    if _faults.on("encoder_family_unchecked") is not None:
        return  # a fault, on purpose: the check is missing
    mt = str(raw_config.get("model_type", "")).lower()
    archs = [str(a) for a in raw_config.get("architectures") or []]
    encoder = mt in ENCODER_MODEL_TYPES or bool(raw_config.get("is_encoder_decoder")) or any(
        a.endswith(("ForMaskedLM", "ForSequenceClassification", "ForTokenClassification"))
        for a in archs)
    if encoder:
        raise PreflightError(
            f"[{FAMILY_ID}] {source} is an encoder checkpoint (model_type {mt!r}, "
            f"architectures {archs}); --init needs a decoder (qwen2 or llama).")
    try:
        ModelConfig.from_hf_dict(raw_config)
    except ConfigError as e:
        raise PreflightError(f"[{FAMILY_ID}] {source}: {e}") from None


def check_init_tensors(cfg: ModelConfig, weights: dict[str, Any], source: str) -> None:
    """Every tensor the target config needs is present with its exact shape, and nothing else."""
    problems = weight_problems(cfg, weights, limit=4)
    if _faults.on("init_shapes_unchecked") is not None:  # a fault, on purpose
        problems = [p for p in problems if not p.startswith("mis-shaped")]
    if problems:
        raise PreflightError(
            f"[{SHAPES_ID}] init tensors of {source} do not fit the target {cfg.arch} config "
            f"(hidden {cfg.hidden_size}, layers {cfg.num_hidden_layers}, vocab {cfg.vocab_size}): "
            + " | ".join(problems))


def load_init(path: str | Path, cfg: ModelConfig | None):
    """Read an --init checkpoint (HF dir, or .gguf through aprcore.load) and preflight it.

    Returns (config, float32 weights). With cfg None the checkpoint's own config is used.
    """
    import numpy as np

    path = Path(path)
    if path.suffix == ".gguf":
        from ..formats import load  # noqa: PLC0415 - gguf is imported only for a .gguf

        model = load(str(path))
        src_cfg, weights = model.config, {k: np.asarray(v, dtype=np.float32)
                                          for k, v in model.weights.items()}
    else:
        from .checkpoint import load_model_dir

        if not (path / "config.json").exists():
            raise PreflightError(f"[{SHAPES_ID}] {path} is not an HF model directory "
                                 "(no config.json)")
        raw, weights = load_model_dir(path)
        check_checkpoint_family(raw, str(path))
        src_cfg = ModelConfig.from_hf_dict(raw)
        weights = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}
    target = cfg or src_cfg
    if cfg is not None and src_cfg.arch != cfg.arch:
        raise PreflightError(
            f"[{SHAPES_ID}] {path} holds a {src_cfg.arch} model, the target config is {cfg.arch}")
    check_init_tensors(target, weights, str(path))
    if target.tie_word_embeddings:
        weights.pop("lm_head.weight", None)
    return target, weights
