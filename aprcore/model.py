"""The Qwen2 / Llama decoder: prefill and incremental decode with a KV cache.

`Model(config, weights)` holds float32 weights under their HF names and shapes
(`aprcore.weights.expected_shapes`). `Model.forward(token_ids)` returns float32 logits
`[len(token_ids), vocab]` on the host, whatever backend computed them.

Incremental decode::

    cache = model.new_cache()
    logits = model.forward(prompt_ids, cache=cache)     # prefill, positions 0..n-1
    nxt = int(logits[-1].argmax())
    logits = model.forward([nxt], cache=cache)          # decode, position n

The cache belongs to one backend (the one of its first forward) and grows by doubling
up to `config.max_position_embeddings`.

Faults (`aprcore.faults`) and traces (`aprcore.trace`) hook in here: `self.faults` is a
read-only mapping of fault name -> parameters (empty for a healthy model), resolved once
into the forward's `Switches`; when `trace=` is given, every sub-block's activation
stats are recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from . import faults as _faults
from .backend import Backend, resolve_backend
from .config import ModelConfig
from .faults import Switches, switches, weight_overrides
from .ops import rope_cos_sin
from .weights import check_weights, expected_shapes, layer_prefix

_INITIAL_CACHE = 256


class KVCache:
    """Preallocated per-layer keys and values `[n_kv, capacity, head_dim]` on one backend.

    `length` is the number of positions filled; `forward(..., cache=c)` writes the new
    tokens at `length..` and advances it. `reset()` empties it without freeing.
    """

    def __init__(self, config: ModelConfig, backend: Backend, capacity: int = _INITIAL_CACHE,
                 max_len: int | None = None) -> None:
        self.config = config
        self.backend = backend
        self.max_len = int(max_len or config.max_position_embeddings)
        self.length = 0
        cap = max(1, min(int(capacity), self.max_len))
        xp = backend.xp
        shape = (config.num_key_value_heads, cap, config.head_dim)
        self.keys = [xp.zeros(shape, dtype=xp.float32) for _ in range(config.num_hidden_layers)]
        self.values = [xp.zeros(shape, dtype=xp.float32) for _ in range(config.num_hidden_layers)]

    @property
    def capacity(self) -> int:
        return int(self.keys[0].shape[1])

    def reset(self) -> None:
        self.length = 0

    def reserve(self, needed: int) -> None:
        """Grow (by doubling, copying once) so that `needed` positions fit."""
        if needed > self.max_len:
            raise ValueError(f"KV cache full: {needed} positions exceed max_len {self.max_len}")
        if needed <= self.capacity:
            return
        cap = self.capacity
        while cap < needed:
            cap *= 2
        cap = min(cap, self.max_len)
        xp = self.backend.xp
        for store in (self.keys, self.values):
            for i, old in enumerate(store):
                new = xp.zeros((old.shape[0], cap, old.shape[2]), dtype=xp.float32)
                new[:, : self.length] = old[:, : self.length]
                store[i] = new

    def write(self, layer: int, start: int, k: Any, v: Any) -> tuple[Any, Any]:
        """Store `k, v` `[T, n_kv, d]` at positions start.. and return the filled views."""
        t = k.shape[0]
        self.keys[layer][:, start:start + t] = k.transpose(1, 0, 2)
        self.values[layer][:, start:start + t] = v.transpose(1, 0, 2)
        return self.keys[layer][:, : start + t], self.values[layer][:, : start + t]


class Model:
    """A decoder-only Qwen2 or Llama transformer with float32 weights under HF names.

    `tokenizer`: the `aprcore.tokenizer.Tokenizer` stored with the weights, set by
    `aprcore.load` (None for random weights or files without one)."""

    tokenizer: Any = None

    def __init__(self, config: ModelConfig, weights: Mapping[str, np.ndarray], *,
                 faults: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        weights = dict(weights)
        # HF ignores a stored lm_head of a tied model, and old Llama files carry rotary caches.
        if config.tie_word_embeddings:
            weights.pop("lm_head.weight", None)
        for k in [k for k in weights if k.endswith("rotary_emb.inv_freq")]:
            del weights[k]
        check_weights(config, weights)
        self.config = config
        # float32, C-contiguous; no copy when already so (an mmap'd file stays mapped).
        self.weights: dict[str, np.ndarray] = {
            k: np.ascontiguousarray(weights[k], dtype=np.float32) for k in expected_shapes(config)
        }
        self._set_faults(faults or {})

    # -- construction ---------------------------------------------------------------

    @classmethod
    def random(cls, config: ModelConfig, seed: int = 0) -> Model:
        """Seeded random weights: the same seed gives bit-identical weights.

        Projections ~ N(0, 1/fan_in) so activations keep unit scale through depth,
        embeddings ~ N(0, 1/hidden) so tied logits have unit scale, norm weights
        1 + N(0, 0.1) and biases N(0, 0.1) so that a dropped norm or bias shows.
        """
        rng = np.random.default_rng(seed)
        weights: dict[str, np.ndarray] = {}
        for name, shape in expected_shapes(config).items():
            w = rng.standard_normal(shape, dtype=np.float32)
            if name.endswith("norm.weight"):
                w = w * np.float32(0.1) + np.float32(1.0)
            elif name.endswith(".bias"):
                w *= np.float32(0.1)
            elif name in ("model.embed_tokens.weight", "lm_head.weight"):
                w *= np.float32(1.0 / np.sqrt(config.hidden_size))
            else:
                w *= np.float32(1.0 / np.sqrt(shape[1]))
            weights[name] = w
        return cls(config, weights)

    def with_faults(self, faults: Mapping[str, Mapping[str, Any]]) -> Model:
        """A model sharing these weights (no copy) that runs with `faults` injected."""
        clone = Model.__new__(Model)
        clone.config = self.config
        clone.weights = self.weights
        clone._set_faults(faults)
        clone.tokenizer = self.tokenizer
        return clone

    def _set_faults(self, faults: Mapping[str, Mapping[str, Any]]) -> None:
        self.faults: Mapping[str, Mapping[str, Any]] = MappingProxyType(
            {k: MappingProxyType(dict(v)) for k, v in faults.items()})
        self._switches: Switches = switches(self.config, self.faults)
        self._device: dict[str, tuple[Backend, dict[str, Any], tuple]] = {}

    @property
    def switches(self) -> Switches:
        """What the forward does at each point a bug can sit (its faults, plus ambient ones)."""
        if not _faults._AMBIENT:
            return self._switches
        return switches(self.config, _faults.active(self.faults))

    def new_cache(self, backend: str | Backend = "cpu", capacity: int = _INITIAL_CACHE,
                  max_len: int | None = None) -> KVCache:
        """An empty KV cache for `forward(..., cache=)` on `backend`."""
        return KVCache(self.config, resolve_backend(backend), capacity, max_len)

    # -- weights per backend ----------------------------------------------------------

    def head_weight_name(self) -> str:
        return "model.embed_tokens.weight" if self.switches.head_tied else "lm_head.weight"

    def device_weights(self, backend: str | Backend = "cpu") -> dict[str, Any]:
        """The weights as `backend` arrays, moved once and cached per backend.

        Weight-level faults (transposed K projection, ignored tied embeddings) are
        applied here, so a healthy model never pays for them.
        """
        be = resolve_backend(backend)
        if _faults._AMBIENT:  # an ambient fault's tensors are never cached
            host = dict(self.weights)
            host.update(weight_overrides(self.config, self.weights, _faults.active(self.faults)))
            return {k: be.to_device(w) for k, w in host.items()}
        key = tuple(id(w) for w in self.weights.values())
        hit = self._device.get(be.name)
        if hit is not None and hit[0] is be and hit[2] == key:
            return hit[1]
        host = dict(self.weights)
        host.update(weight_overrides(self.config, self.weights, self.faults))
        moved = {k: be.to_device(w) for k, w in host.items()}
        self._device[be.name] = (be, moved, key)
        return moved

    # -- forward ----------------------------------------------------------------------

    def forward(self, token_ids: Sequence[int] | np.ndarray, backend: str | Backend = "cpu", *,
                cache: KVCache | None = None, trace: Any = None,
                last_only: bool = False) -> np.ndarray:
        """Float32 logits `[len(token_ids), vocab]` (or `[1, vocab]` with last_only).

        With `cache`, the tokens continue the cached sequence at position `cache.length`
        and the cache advances; without, they are a fresh sequence from position 0.
        `trace` (an `aprcore.trace.Trace`) records per-layer, per-sub-block stats.
        """
        cfg, sw = self.config, self.switches
        be = self._backend_for(backend, cache)
        ids = self._checked_ids(token_ids)
        t = int(ids.shape[0])
        start = cache.length if cache is not None else 0
        if cache is not None:
            cache.reserve(start + t)
        positions = np.arange(start, start + t) - (sw.decode_position_shift if start > 0 else 0)
        cos, sin = rope_cos_sin(be.xp.asarray(positions), cfg.head_dim, sw.rope_theta, be.xp)
        w = self.device_weights(be)
        x = w["model.embed_tokens.weight"][be.xp.asarray(ids)]
        step = trace.begin(t, start) if trace is not None else None
        for i in range(cfg.num_hidden_layers):
            attn_out = self._attention_block(be, w, i, x, cos, sin, cache, start)
            x = x + attn_out
            ffn = self._ffn_block(be, w, i, x)
            x = x + ffn["ffn_out"]
            if step is not None:
                for name, arr in (("attn_out", attn_out), *ffn.items(), ("residual", x)):
                    trace.record(step, i, name, be.to_host(arr))
        if last_only:
            x = x[-1:]
        x = be.op("rms_norm")(x, w["model.norm.weight"], cfg.rms_norm_eps)
        logits = be.op("linear")(x, w[self.head_weight_name()])
        if cache is not None:
            cache.length = start + t
        out = np.asarray(be.to_host(logits), dtype=np.float32)
        if step is not None:
            trace.record(step, cfg.num_hidden_layers, "logits", out)
        return out

    def _backend_for(self, backend: str | Backend, cache: KVCache | None) -> Backend:
        if cache is None:
            return resolve_backend(backend)
        if backend not in ("cpu", cache.backend, cache.backend.name):
            raise ValueError(f"cache lives on backend {cache.backend.name!r}, forward asked for {backend!r}")
        return cache.backend

    def _checked_ids(self, token_ids: Sequence[int] | np.ndarray) -> np.ndarray:
        ids = np.asarray(token_ids, dtype=np.int64).reshape(-1)
        if ids.size == 0:
            raise ValueError("forward needs at least one token id")
        v = self.config.vocab_size
        if ids.min() < 0 or ids.max() >= v:
            raise ValueError(f"token ids must lie in [0, {v}), got {ids.min()}..{ids.max()}")
        return ids

    def _attention_block(self, be: Backend, w: dict[str, Any], i: int, x: Any, cos: Any, sin: Any,
                         cache: KVCache | None, start: int) -> Any:
        """Self-attention of layer i: norm, q/k/v, RoPE, (cache), GQA attention, o_proj."""
        cfg = self.config
        t, nh, nkv, d = x.shape[0], cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        linear, apply_rope = be.op("linear"), be.op("apply_rope")
        a = layer_prefix(i) + "self_attn."
        xn = be.op("rms_norm")(x, w[layer_prefix(i) + "input_layernorm.weight"], cfg.rms_norm_eps)
        q, k, v = (linear(xn, w[f"{a}{n}_proj.weight"], w.get(f"{a}{n}_proj.bias")) for n in "qkv")
        q = apply_rope(q.reshape(t, nh, d), cos, sin)
        k = apply_rope(k.reshape(t, nkv, d), cos, sin)
        v = v.reshape(t, nkv, d)
        if cache is not None:
            k, v = cache.write(i, start, k, v)
        else:
            k, v = k.transpose(1, 0, 2), v.transpose(1, 0, 2)
        out = be.op("attention")(q, k, v, start, self.switches.kv_index)
        return linear(out, w[a + "o_proj.weight"])

    def _ffn_block(self, be: Backend, w: dict[str, Any], i: int, x: Any) -> dict[str, Any]:
        """SwiGLU FFN of layer i: its traced parts ffn_gate, ffn_silu, ffn_swigl, ffn_out."""
        sw, linear, m = self.switches, be.op("linear"), layer_prefix(i) + "mlp."
        xn = be.op("rms_norm")(x, w[layer_prefix(i) + "post_attention_layernorm.weight"],
                               self.config.rms_norm_eps)
        gate, up = linear(xn, w[m + "gate_proj.weight"]), linear(xn, w[m + "up_proj.weight"])
        activated, multiplier = (up, gate) if sw.swiglu_swapped else (gate, up)
        act = be.op("silu")(activated)
        swigl = act * multiplier
        out = linear(swigl, w[m + "down_proj.weight"])
        if i in sw.ffn_scale:
            out = out * be.xp.float32(sw.ffn_scale[i])
        return {"ffn_gate": gate, "ffn_silu": act, "ffn_swigl": swigl, "ffn_out": out}

    __call__ = forward

    def generate(self, prompt_ids: Sequence[int], max_new_tokens: int,
                 backend: str | Backend = "cpu", stop_ids: Sequence[int] = ()) -> list[int]:
        """Greedy decode: prefill the prompt, then one token at a time through the cache.

        Stops after `max_new_tokens`, or after emitting one of `stop_ids` (kept in the
        output), e.g. the tokenizer's end-of-turn id."""
        cache = self.new_cache(backend, capacity=len(prompt_ids) + max_new_tokens)
        logits = self.forward(prompt_ids, cache=cache, last_only=True)
        out: list[int] = []
        stop = {int(s) for s in stop_ids}
        for _ in range(max_new_tokens):
            nxt = int(np.argmax(logits[-1]))
            out.append(nxt)
            if nxt in stop or len(out) == max_new_tokens:
                break
            logits = self.forward([nxt], cache=cache)
        return out
