"""Named, opt-in fault injections: real bugs, reproduced on purpose.

Each gate and falsifier exists to catch a class of bug; a test that injects the bug and
watches the check go red proves the check can fail. Faults never touch global state or
the weights: `inject` returns a new `Model` that shares the (unchanged) weight arrays
and carries the fault, and `injected` is the same as a context manager.

    faulty = inject(model, "swapped_swiglu")
    faulty = inject(model, "scaled_ffn_output", layer=3, scale=1.5)
    with injected(model, "wrong_rope_theta", theta=10_000.0) as faulty: ...

`ambient(name)` turns a fault on for every model of the process while a block runs
(a test harness's way in; see `pytest_falsify_faults` in the root conftest), and for the
child processes started meanwhile (a CLI run as a subprocess): the block sets
APRCORE_FAULTS, which `aprcore.faults` reads when a process imports it.

Like the GPU's broken kernels (`aprcore.gpu.faults`), each fault is an override: of one
field of the model's `Switches` (what a forward does at a point where a bug can sit), or
of weight tensors as the model moves them to a backend. `switches` resolves a model's
faults once, when the model is made; the forward reads the result and tests nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import ModelConfig
from .weights import layer_prefix

if TYPE_CHECKING:
    from .model import Model

FAULTS: dict[str, str] = {
    "gqa_head_mapping": "query head h reads KV head h % n_kv instead of h // (n_heads/n_kv)",
    "transposed_k_proj": "K projection bytes read as [out, in] from an (in, out) buffer "
                         "(params: layers=None for all, or a list)",
    "swapped_swiglu": "silu(up) * gate instead of silu(gate) * up",
    "wrong_rope_theta": "RoPE with the wrong base (param theta, default 10000)",
    "ignored_tied_embeddings": "tied head replaced by a fresh random lm_head "
                               "(an untied model uses embed_tokens instead)",
    "stale_kv_position": "decode tokens get the previous token's RoPE position",
    "scaled_ffn_output": "one layer's FFN output multiplied (params: layer=0, scale=1.5)",
}

#: Faults outside the model (an op, the dequantizer, a file reader): `ambient` only.
AMBIENT_FAULTS: dict[str, str] = {
    "rope_table_too_short": "RoPE angles from a table of n positions indexed modulo n "
                            "(param n=32; ops.rope_cos_sin)",
    "q4k_mins_ignored": "Q4_K dequantization drops the `- dmin * m` term (quant.q4_k.scales_mins)",
    "llama_qk_unpermuted": "the GGUF reader forgets to undo llama.cpp's q/k row permutation "
                           "(formats.gguf_io)",
    "gguf_tensor_order_unchecked": "the GGUF scan skips llama.cpp's in-order rule for tensor "
                                   "data: overlapping, swapped and gapped tensors load "
                                   "(formats.gguf_check.scan)",
    "gguf_kv_heads_ignored": "the GGUF config reader takes head_count for head_count_kv: a "
                             "GQA model reads as multi-head (formats.gguf_io)",
    "tokenizer_adds_bos": "encode prepends BOS whatever the file says (SmolLM2's says no; "
                          "a tokenizer without BOS is unaffected) (tokenizer.Tokenizer.encode)",
    "rmsnorm_sum_order_varies": "RMSNorm's mean of squares summed in a fresh random order on "
                                "every call, as unordered GPU atomics add: the last bits of "
                                "every output differ run to run (ops.rms_norm)",
    "q8_0_signed_max_scale": "Q8_0's scale taken from the block's signed maximum (Q4_0's "
                             "rule) instead of its largest magnitude: a block whose extreme is "
                             "negative gets a wrong scale and overflowing quants (quant.q8_0)",
    # the trainer (aprcore.train), which runs its own forward and backward
    "bias_gradient_dropped": "the hand-written backward leaves the q/k/v bias gradients at "
                             "zero: the biases never train (train.graph.backward)",
    "adamw_ascends": "AdamW adds its step instead of subtracting it: training climbs the "
                     "loss (train.optim.AdamW, numpy and CuPy paths)",
    "kl_without_teacher_entropy": "the distillation KL computed as the cross-entropy "
                                  "H(p_t, p_s), without its -H(p_t) term (train.distill)",
    "kl_gradient_sign_flipped": "the KL term's gradient with the wrong sign: the student is "
                                "pushed away from the teacher (train.distill)",
    "soft_loss_without_t_squared": "the soft loss and its gradient not multiplied by T^2 "
                                   "(train.distill.distill_loss)",
    "teacher_not_frozen": "each distillation step also applies the student's update to the "
                          "teacher's tensors of the same name (train.loop)",
    "resume_drops_optimizer_state": "a resumed run restarts AdamW from zero moments and t=0 "
                                    "(train.loop.prepare)",
    "init_weights_ignored": "--init reads the checkpoint's config but trains freshly "
                            "initialised weights (train.loop.prepare)",
    "tokenizer_fit_unchecked": "the vocabulary preflight never rejects a tokenizer larger than "
                               "the embedding (train.preflight.check_tokenizer_fits)",
    "init_shapes_unchecked": "the --init preflight compares tensor names, not shapes "
                             "(train.preflight.check_init_tensors)",
    "encoder_family_unchecked": "the decoder-family preflight lets encoder checkpoints and "
                                "tokenizers through (train.preflight)",
    "cuda_training_falls_back_to_cpu": "--device cuda trains on the CPU, silently, device "
                                       "or not (train.device.resolve)",
    "val_ceiling_ignored": "the validation-loss ceiling never stops a run (train.loop, "
                           "GATE-TRAIN-005)",
    # the CPU-vs-GPU parity gate (aprcore.parity) and the CLI around it
    "parity_argmax_unchecked": "the parity gate accepts a candidate whose argmax differs "
                               "(parity.check_parity)",
    "parity_cosine_floor_unchecked": "the parity gate accepts a candidate below the cosine "
                                     "floor (parity.check_parity)",
    "parity_verdict_ignored": "the backend chain serves the first candidate whatever its probe "
                              "said (parity.select_backend)",
    "cpu_run_probes_gpu": "`run --backend cpu` probes the GPU anyway (cli.run)",
    "train_commands_unregistered": "the CLI never registers its training module: `pretrain` "
                                   "and `distill` are missing (aprcore.cli.build_parser)",
}

#: Set while an `ambient` block runs: the faults (JSON, name -> params) a child inherits.
ENV = "APRCORE_FAULTS"


class UnknownFault(ValueError):
    """A fault name that is not in FAULTS."""


@dataclass(frozen=True)
class Switches:
    """What a forward does at each point a bug can sit; the defaults are the healthy model."""

    rope_theta: float
    decode_position_shift: int = 0  # subtracted from decode positions (start > 0)
    kv_index: np.ndarray | None = None  # explicit query-head -> KV-head map (None: grouped)
    swiglu_swapped: bool = False  # silu(up) * gate
    ffn_scale: Mapping[int, float] = field(default_factory=dict)  # layer -> FFN output factor
    head_tied: bool = False  # the head reads embed_tokens (else lm_head)


def _stale_kv_position(cfg: ModelConfig, sw: Switches, p: Mapping) -> Switches:
    return replace(sw, decode_position_shift=1)  # decode reuses the previous token's position


def _gqa_head_mapping(cfg: ModelConfig, sw: Switches, p: Mapping) -> Switches:
    # query head h reads KV head h % n_kv (tiling) instead of h // ratio
    return replace(sw, kv_index=np.arange(cfg.num_attention_heads) % cfg.num_key_value_heads)


def _ignored_tied_embeddings(cfg: ModelConfig, sw: Switches, p: Mapping) -> Switches:
    return replace(sw, head_tied=not sw.head_tied)


_SWITCH_OVERRIDES: dict[str, Callable[[ModelConfig, Switches, Mapping], Switches]] = {
    "wrong_rope_theta": lambda cfg, sw, p: replace(sw, rope_theta=float(p.get("theta", 10_000.0))),
    "stale_kv_position": _stale_kv_position,
    "gqa_head_mapping": _gqa_head_mapping,
    "swapped_swiglu": lambda cfg, sw, p: replace(sw, swiglu_swapped=True),
    "scaled_ffn_output": lambda cfg, sw, p: replace(
        sw, ffn_scale={int(p.get("layer", 0)): float(p.get("scale", 1.5))}),
    "ignored_tied_embeddings": _ignored_tied_embeddings,
}


def switches(cfg: ModelConfig, faults: Mapping[str, Mapping[str, Any]]) -> Switches:
    """The forward's switches for a model of `cfg` carrying `faults` (once per model)."""
    sw = Switches(rope_theta=cfg.rope_theta, head_tied=cfg.tie_word_embeddings)
    for name, params in faults.items():
        override = _SWITCH_OVERRIDES.get(name)
        if override is not None:
            sw = override(cfg, sw, params)
    return sw


def weight_overrides(cfg: ModelConfig, weights: Mapping[str, np.ndarray],
                     faults: Mapping[str, Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Replacement host tensors for the weight-level faults (empty for a healthy model)."""
    out: dict[str, np.ndarray] = {}
    if "transposed_k_proj" in faults:
        layers = faults["transposed_k_proj"].get("layers")
        for i in range(cfg.num_hidden_layers) if layers is None else layers:
            name = layer_prefix(i) + "self_attn.k_proj.weight"
            wk = weights[name]
            # The bug: a ggml (in, out) buffer read as HF [out, in] without transposing.
            out[name] = np.ascontiguousarray(wk.T).reshape(wk.shape)
    if "ignored_tied_embeddings" in faults and cfg.tie_word_embeddings:
        # The bug: a tied checkpoint loaded as untied gets a freshly initialised head.
        rng = np.random.default_rng(int(faults["ignored_tied_embeddings"].get("seed", 0xFA17)))
        out["lm_head.weight"] = rng.standard_normal(
            (cfg.vocab_size, cfg.hidden_size), dtype=np.float32) / np.float32(np.sqrt(cfg.hidden_size))
    return out


def inject(model: Model, name: str, **params: Any) -> Model:
    """A copy of `model` (same weight arrays, no copy) with fault `name` added."""
    if name not in FAULTS:
        raise UnknownFault(f"unknown fault {name!r}; known: {', '.join(sorted(FAULTS))}")
    faults = {k: dict(v) for k, v in model.faults.items()}
    faults[name] = dict(params)
    return model.with_faults(faults)


@contextmanager
def injected(model: Model, name: str, **params: Any) -> Iterator[Model]:
    """`inject` as a context manager; the original model is untouched throughout."""
    yield inject(model, name, **params)


def _from_env() -> dict[str, dict[str, Any]]:
    """The faults a parent's `ambient` block handed this process through APRCORE_FAULTS."""
    raw = os.environ.get(ENV)
    if not raw:
        return {}
    faults = json.loads(raw)
    unknown = sorted(set(faults) - {*FAULTS, *AMBIENT_FAULTS})
    if unknown:
        raise UnknownFault(f"{ENV} names unknown fault(s) {', '.join(unknown)}")
    return {name: dict(params) for name, params in faults.items()}


#: Faults every model of this process carries while an `ambient` block runs.
_AMBIENT: dict[str, dict[str, Any]] = _from_env()


@contextmanager
def ambient(name: str, **params: Any) -> Iterator[None]:
    """Fault `name` in every model of this process (those made before, too) while the
    block runs: how a test harness (pytest-falsify's mutants mode) reaches the models a
    test built in its fixtures. `gqa_head_mapping` and `rope_table_too_short` also reach
    direct callers of `ops.attention` and `ops.rope_cos_sin`. Process-wide, so each
    xdist worker has its own; child processes started inside the block inherit it
    (APRCORE_FAULTS), and both are restored when it ends."""
    if name not in FAULTS and name not in AMBIENT_FAULTS:
        known = sorted({*FAULTS, *AMBIENT_FAULTS})
        raise UnknownFault(f"unknown fault {name!r}; known: {', '.join(known)}")
    before, env_before = _AMBIENT.get(name), os.environ.get(ENV)
    _AMBIENT[name] = dict(params)
    os.environ[ENV] = json.dumps(_AMBIENT)
    try:
        yield
    finally:
        if before is None:
            _AMBIENT.pop(name, None)
        else:
            _AMBIENT[name] = before
        if env_before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = env_before


def on(name: str) -> Mapping[str, Any] | None:
    """The parameters of ambient fault `name` while it is on, else None: how the code
    outside the model (an op, a quantizer, the trainer, the CLI) meets its faults."""
    return _AMBIENT.get(name) if _AMBIENT else None


def active(own: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Mapping[str, Any]]:
    """A model's own faults plus the ambient ones."""
    return {**own, **_AMBIENT} if _AMBIENT else own
