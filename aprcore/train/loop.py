"""The training loop shared by `pretrain` and `distill`.

One step: draw the batch for (seed, step), forward with cache, loss (cross-entropy, or
for distillation T^2 * KL(teacher || student) at temperature T mixed with CE), backward,
clip, AdamW with the scheduled LR. Every step appends one JSON line to log.jsonl:
step, train_loss, lr, grad_norm, wall_ms, tokens_per_s (+ device memory on CUDA);
validation at each epoch boundary appends {"epoch", "step", "val_loss"}.

GATE-TRAIN-005: at an epoch boundary, a validation loss above --val-ceiling stops the
run with a message citing the gate (exit status 3 from the CLI).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .. import faults as _faults
from ..config import ModelConfig
from ..progress import bar as progress_bar
from . import device as dev
from .checkpoint import load_checkpoint, save_checkpoint
from .data import Corpus, batch_at, build_corpus, tokenizer_info, val_batches
from .distill import distill_loss
from .graph import backward, cross_entropy, forward
from .init import init_weights
from .optim import AdamW, clip_grad_norm, lr_at
from .preflight import (
    PreflightError,
    check_init_tensors,
    check_tokenizer_family,
    check_tokenizer_fits,
    load_init,
)

VAL_GATE_ID = "GATE-TRAIN-005"


class ValCeilingExceeded(RuntimeError):
    pass


@dataclass
class TrainSettings:
    steps: int = 300
    batch: int = 8
    seq: int = 128
    lr: float = 3e-3
    min_lr_ratio: float = 0.1
    warmup: int = 20
    schedule: str = "cosine"
    weight_decay: float = 0.1
    clip: float = 1.0
    seed: int = 0
    device: str = "cpu"
    epoch_steps: int = 0  # 0: one pass over the train shard's tokens
    val_batches: int = 4
    val_ceiling: float = math.inf
    ckpt_every: int = 0  # 0: only the final checkpoint
    tokenizer: str | None = None
    max_train_bytes: int = 4_000_000
    save_final: bool = True  # the final checkpoint (off for timing runs of big models)
    # distillation
    temperature: float = 2.0
    alpha: float = 0.5


def mean_loss(cfg: ModelConfig, w: dict, batches, xp) -> float:
    """Mean next-token cross-entropy over (inputs, targets) batches, no caching."""
    total = 0.0
    for inp, tgt in batches:
        logits, _ = forward(cfg, w, xp.asarray(inp), keep=False)
        total += float(cross_entropy(logits, xp.asarray(tgt))[0])
    return total / max(1, len(batches))


def prepare(cfg: ModelConfig | None, settings: TrainSettings, *, init: str | None = None,
            resume: str | None = None):
    """Preflight and initial state: (cfg, numpy weights, AdamW, start step, corpus).

    Every check here runs before the first step.
    """
    tok = tokenizer_info(settings.tokenizer)
    check_tokenizer_family(tok.family, tok.source)
    opt = AdamW(lr=settings.lr, weight_decay=settings.weight_decay)
    start = 0
    if resume:
        cfg_r, weights, m, v, state = load_checkpoint(resume)
        if cfg is not None and cfg != cfg_r:
            raise PreflightError(f"--resume {resume} holds a different config than --config")
        cfg = cfg_r
        check_init_tensors(cfg, weights, resume)
        opt.m, opt.v, opt.t = m, v, int(state["adamw"]["t"])
        if _faults.on("resume_drops_optimizer_state") is not None:  # a fault, on purpose
            opt.m, opt.v, opt.t = {}, {}, 0
        start = int(state["step"])
        if settings.steps <= start:
            raise PreflightError(f"--steps {settings.steps} is not past step {start} of the "
                                 f"checkpoint {resume}: nothing to train")
        if state.get("seed") != settings.seed:
            raise PreflightError(f"--resume {resume} was trained with seed {state.get('seed')}, "
                                 f"not {settings.seed}: batches would differ")
    elif init:
        cfg, weights = load_init(init, cfg)
        if _faults.on("init_weights_ignored") is not None:  # a fault, on purpose
            weights = init_weights(cfg, settings.seed)
    else:
        if cfg is None:
            raise PreflightError("no --config, --init or --resume: nothing to train")
        weights = init_weights(cfg, settings.seed)
    check_tokenizer_fits(tok.vocab_size, cfg, tok.source)
    corpus = build_corpus(settings.seed, max_train_bytes=settings.max_train_bytes,
                          tokenizer=settings.tokenizer)
    return cfg, weights, opt, start, corpus


def train(cfg: ModelConfig | None, settings: TrainSettings, out: str | Path, *,
          init: str | None = None, resume: str | None = None,
          teacher: tuple[ModelConfig, dict] | None = None,
          corpus: Corpus | None = None) -> dict[str, Any]:
    """Run training to `settings.steps` total steps; return a summary dict.

    Raises PreflightError / GpuUnavailable before any step, ValCeilingExceeded at an
    epoch boundary.
    """
    xp = dev.resolve(settings.device)  # GATE-GPUTRAIN-002: fails here, never falls back
    cfg, weights_np, opt, start, built = prepare(cfg, settings, init=init, resume=resume)
    corpus = corpus or built
    if teacher is not None:
        tcfg, tw = teacher
        if tcfg.vocab_size != cfg.vocab_size:
            raise PreflightError(f"[FALSIFY-APR-PRETRAIN-ARCH-003] teacher vocab {tcfg.vocab_size} "
                                 f"!= student vocab {cfg.vocab_size}: their distributions "
                                 "cannot be compared")
        teacher = (tcfg, {k: xp.asarray(v) for k, v in tw.items()})
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    w = {k: xp.asarray(v) for k, v in weights_np.items()}
    opt.m = {k: xp.asarray(v) for k, v in opt.m.items()}
    opt.v = {k: xp.asarray(v) for k, v in opt.v.items()}
    tokens_per_step = settings.batch * settings.seq
    epoch_steps = settings.epoch_steps or max(1, corpus.train.size // tokens_per_step)
    vb = val_batches(corpus.val, settings.seed, settings.val_batches, settings.batch, settings.seq)
    info = dev.describe(xp)
    log_path = out / "log.jsonl"
    mode = "a" if resume else "w"
    state_base = {"seed": settings.seed, "settings": {k: v for k, v in asdict(settings).items()
                                                      if k != "val_ceiling"},
                  "corpus": corpus.describe(), "teacher": teacher is not None}
    losses: list[float] = []
    val_history: list[dict] = []
    stopped = None
    with log_path.open(mode, encoding="utf-8") as log, progress_bar(settings.steps, "step", initial=start) as bar:
        if start == 0:
            log.write(json.dumps({"event": "start", "config": cfg.to_hf_dict(), **info,
                                  "corpus": corpus.describe(), "init": init,
                                  "params": cfg.num_parameters()}) + "\n")
        for step in range(start, settings.steps):
            t0 = time.perf_counter()
            inp_np, tgt_np = batch_at(corpus.train, settings.seed, step, settings.batch, settings.seq)
            inp, tgt = xp.asarray(inp_np), xp.asarray(tgt_np)
            logits, cache = forward(cfg, w, inp)
            if teacher is None:
                loss, dlogits = cross_entropy(logits, tgt)
                extra = {}
            else:
                tlogits, _ = forward(teacher[0], teacher[1], inp, keep=False)
                loss, dlogits, parts = distill_loss(logits, tlogits, tgt, settings.temperature,
                                                    settings.alpha)
                extra = parts
            grads = backward(cfg, w, cache, dlogits)
            del cache, logits
            gnorm = clip_grad_norm(grads, settings.clip)
            lr = lr_at(step, base_lr=settings.lr, total_steps=settings.steps,
                       warmup=settings.warmup, schedule=settings.schedule,
                       min_ratio=settings.min_lr_ratio)
            opt.step(w, grads, lr)
            if teacher is not None and _faults.on("teacher_not_frozen") is not None:
                for k, t in teacher[1].items():  # a fault, on purpose
                    if k in grads and t.shape == grads[k].shape:
                        t -= lr * grads[k]
            del grads
            dev.synchronize(xp)
            wall = time.perf_counter() - t0
            loss_f = float(loss)
            losses.append(loss_f)
            rec = {"step": step + 1, "train_loss": loss_f, "lr": lr, "grad_norm": gnorm,
                   "wall_ms": wall * 1e3, "tokens_per_s": tokens_per_step / wall, **extra,
                   **dev.memory_bytes(xp)}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            bar.set_postfix(loss=f"{loss_f:.4f}", tok_s=f"{tokens_per_step / wall:,.0f}", refresh=False)
            bar.update()
            done = step + 1
            if settings.ckpt_every and done % settings.ckpt_every == 0 and done < settings.steps:
                save_checkpoint(out / "checkpoints" / f"step-{done:06d}", cfg, w, opt,
                                {**state_base, "step": done})
            if done % epoch_steps == 0 or done == settings.steps:
                vl = mean_loss(cfg, w, vb, xp)
                ev = {"event": "val", "epoch": done // epoch_steps, "step": done, "val_loss": vl}
                val_history.append(ev)
                log.write(json.dumps(ev) + "\n")
                log.flush()
                if (done % epoch_steps == 0 and vl > settings.val_ceiling
                        and _faults.on("val_ceiling_ignored") is None):
                    stopped = (f"[{VAL_GATE_ID}] validation loss {vl:.4f} exceeds the ceiling "
                               f"{settings.val_ceiling:.4f} at epoch {done // epoch_steps} "
                               f"(step {done}); stopping training")
                    log.write(json.dumps({"event": "stop", "reason": stopped}) + "\n")
                    break
    final = None
    if settings.save_final:
        final = save_checkpoint(out / "final", cfg, w, opt,
                                {**state_base, "step": start + len(losses)})
    summary = {"steps_run": len(losses), "start_step": start, "final_step": start + len(losses),
               "losses": losses, "val": val_history, "checkpoint": str(final) if final else None, "log": str(log_path),
               "config": cfg, **info}
    if stopped:
        err = ValCeilingExceeded(stopped)
        err.summary = summary  # type: ignore[attr-defined]
        raise err
    return summary
