"""`python -m aprcore pretrain` and `distill`: the trainer's two commands.

pretrain: train a Qwen2/Llama decoder on the stdlib corpus. Default: the tiny-llama
preset, which trains on a 2-core CPU in about a minute.
distill: train a student against a frozen teacher, loss = alpha * T^2 *
KL(teacher_T || student_T) + (1 - alpha) * CE. The teacher is an HF model directory
(e.g. a `pretrain` checkpoint's final/) or a .gguf; it is never updated.

Exit status: 0 done, 2 bad arguments, preflight or device failure (the message names
the falsifier or gate), 3 stopped by the validation ceiling (GATE-TRAIN-005).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from pathlib import Path

from ..arrays import GpuUnavailable
from ..config import ConfigError, ModelConfig, preset
from ..train.loop import TrainSettings, ValCeilingExceeded
from ..train.preflight import PreflightError
from . import HelpFormatter
from .args import (
    existing_path,
    fail,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    unit_interval,
)

DEFAULT_CONFIG = "tiny-llama"
DEFAULT_STEPS = 800

EXIT_OK, EXIT_PREFLIGHT, EXIT_VAL_CEILING = 0, 2, 3


def resolve_config(spec: str | None) -> ModelConfig | None:
    """A preset name, or a path to an HF config.json; None stays None."""
    if spec is None:
        return None
    if Path(spec).exists():
        from ..train.preflight import check_checkpoint_family

        raw = json.loads(Path(spec).read_text(encoding="utf-8"))
        check_checkpoint_family(raw, spec)  # an encoder config.json names FALSIFY-...-008
        return ModelConfig.from_hf_dict(raw)
    return preset(spec)


def add_common(p: argparse.ArgumentParser, *, default_steps: int) -> None:
    d = TrainSettings()
    p.add_argument("--config", default=None,
                   help=f"preset name or HF config.json (None: {DEFAULT_CONFIG}, or the --init or "
                        "--resume checkpoint's own config)")
    p.add_argument("--init", default=None, type=existing_path,
                   help="start from these weights (HF dir or .gguf)")
    p.add_argument("--resume", default=None, type=existing_path,
                   help="checkpoint dir to resume bit-exactly (OUT may then be an existing run)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (cuda never falls back)")
    p.add_argument("--steps", type=positive_int, default=default_steps,
                   help="total optimizer steps (a resumed run counts the checkpoint's)")
    p.add_argument("--batch", type=positive_int, default=d.batch, help="sequences per step")
    p.add_argument("--seq", type=positive_int, default=d.seq, help="tokens per sequence")
    p.add_argument("--lr", type=positive_float, default=d.lr, help="peak learning rate")
    p.add_argument("--min-lr-ratio", type=unit_interval, default=d.min_lr_ratio,
                   help="final learning rate as a fraction of --lr")
    p.add_argument("--warmup", type=non_negative_int, default=d.warmup, help="linear warm-up steps")
    p.add_argument("--schedule", choices=["cosine", "linear", "constant"], default=d.schedule,
                   help="learning-rate schedule after the warm-up")
    p.add_argument("--weight-decay", type=non_negative_float, default=d.weight_decay,
                   help="AdamW decoupled weight decay")
    p.add_argument("--clip", type=non_negative_float, default=d.clip,
                   help="global grad-norm clip (0: off)")
    p.add_argument("--seed", type=non_negative_int, default=d.seed,
                   help="seeds the corpus split, the init and every batch")
    p.add_argument("--epoch-steps", type=non_negative_int, default=0,
                   help="steps per epoch (validation boundary); 0: one pass over the train shard")
    p.add_argument("--val-batches", type=positive_int, default=d.val_batches,
                   help="validation batches per epoch boundary")
    p.add_argument("--val-ceiling", type=positive_float, default=math.inf,
                   help="stop at an epoch boundary when val loss exceeds this (GATE-TRAIN-005)")
    p.add_argument("--ckpt-every", type=non_negative_int, default=0,
                   help="also checkpoint every N steps under OUT/checkpoints/ (0: only OUT/final)")
    p.add_argument("--tokenizer", default=None, type=_tokenizer,
                   help="'bytes' (None: bytes) or a tokenizer.json")
    p.add_argument("--max-train-bytes", type=positive_int, default=d.max_train_bytes,
                   help="cap on the train shard's size")
    p.add_argument("--threads", type=non_negative_int, default=1,
                   help="BLAS threads on the CPU (1 is fastest for small models on a shared "
                        "machine; 0: the OpenBLAS default)")
    p.add_argument("--no-checkpoint", action="store_true",
                   help="skip the final checkpoint (timing runs of large models)")
    p.add_argument("--force", action="store_true", help="replace an existing run in OUT")
    p.add_argument("--out", required=True, help="output directory (log.jsonl, checkpoints)")


def _tokenizer(text: str) -> str:
    return text if text in ("bytes", "byte") else existing_path(text)


def settings_from(args: argparse.Namespace) -> TrainSettings:
    return TrainSettings(
        steps=args.steps, batch=args.batch, seq=args.seq, lr=args.lr,
        min_lr_ratio=args.min_lr_ratio, warmup=args.warmup, schedule=args.schedule,
        weight_decay=args.weight_decay, clip=args.clip, seed=args.seed, device=args.device,
        epoch_steps=args.epoch_steps, val_batches=args.val_batches, val_ceiling=args.val_ceiling,
        ckpt_every=args.ckpt_every, tokenizer=args.tokenizer,
        max_train_bytes=args.max_train_bytes, save_final=not args.no_checkpoint,
        temperature=getattr(args, "temperature", 2.0), alpha=getattr(args, "alpha", 0.5))


def run_guarded(fn, args: argparse.Namespace) -> int:
    """Claim OUT, run fn(); map preflight/device failures and the val ceiling to exit codes."""
    problem = claim_out(args)
    if problem:
        return fail(f"python -m aprcore {args.command}", problem)
    if args.threads > 0:
        from ..train.threads import set_blas_threads

        set_blas_threads(args.threads)
    try:
        summary = fn()
    except (PreflightError, GpuUnavailable, ConfigError, ValueError, OSError) as e:
        print(f"python -m aprcore {args.command}: error: {e}", file=sys.stderr)
        return EXIT_PREFLIGHT
    except ValCeilingExceeded as e:
        print(str(e), file=sys.stderr)
        return EXIT_VAL_CEILING
    first = summary["losses"][0] if summary["losses"] else float("nan")
    last = summary["losses"][-1] if summary["losses"] else float("nan")
    print(json.dumps({"steps_run": summary["steps_run"], "final_step": summary["final_step"],
                      "first_loss": first, "last_loss": last,
                      "val": summary["val"][-1]["val_loss"] if summary["val"] else None,
                      "checkpoint": summary["checkpoint"], "log": summary["log"],
                      "device": summary["device"]}))
    return EXIT_OK


def register(subparsers) -> None:
    p = subparsers.add_parser("pretrain", help="pretrain a decoder on the Python stdlib corpus",
                              description=__doc__, formatter_class=HelpFormatter)
    add_common(p, default_steps=DEFAULT_STEPS)
    p.set_defaults(func=pretrain)
    p = subparsers.add_parser("distill", help="distill a frozen teacher into a student",
                              description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--teacher", required=True, type=existing_path, help="teacher model (HF dir or .gguf)")
    p.add_argument("--temperature", type=positive_float, default=2.0,
                   help="softmax temperature T of both distributions")
    p.add_argument("--alpha", type=unit_interval, default=0.5,
                   help="weight of the T^2*KL term (1 - alpha weighs the cross-entropy)")
    add_common(p, default_steps=DEFAULT_STEPS)
    p.set_defaults(func=distill)


def _student_config(args: argparse.Namespace) -> ModelConfig | None:
    return resolve_config(args.config or (None if (args.init or args.resume) else DEFAULT_CONFIG))


RUN_ARTEFACTS = ("log.jsonl", "final", "checkpoints")


def claim_out(args: argparse.Namespace) -> str | None:
    """Why OUT cannot take this run (None when it can): an existing run is replaced only
    with --force (its log, final/ and checkpoints/ removed first) or continued with --resume."""
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        return f"--out {out} is a file, not a directory"
    if not out.is_dir() or not any(out.iterdir()) or args.resume:
        return None
    if not args.force:
        return (f"--out {out} already holds a run; pass --force to replace it, or --resume "
                "CHECKPOINT to continue it")
    for name in RUN_ARTEFACTS:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    return None


def pretrain(args: argparse.Namespace) -> int:
    from ..train.loop import train

    def go():
        return train(_student_config(args), settings_from(args), args.out, init=args.init,
                     resume=args.resume)

    return run_guarded(go, args)


def distill(args: argparse.Namespace) -> int:
    from ..train.loop import train
    from ..train.preflight import load_init

    def go():
        teacher = load_init(args.teacher, None)
        return train(_student_config(args), settings_from(args), args.out, init=args.init,
                     resume=args.resume, teacher=teacher)

    return run_guarded(go, args)
