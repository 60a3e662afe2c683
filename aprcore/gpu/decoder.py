"""The GPU decode engine: a Qwen2/Llama decoder whose whole step runs in hand-written kernels.

Weights are copied to the device once, at construction (float32, or ggml Q4_K blocks kept
packed); the KV cache, every activation buffer and the (token, position) pair live on the
device too. A decode step is a fixed sequence of launches that reads the token and the
position from device memory, so after a warm-up it is captured once as a CUDA graph and
replayed at every position: one launch per token instead of ~10 per layer.

Per layer (6 launches): qkv matvec with the input RMSNorm and the bias fused -> RoPE + KV
append -> split-K GQA decode attention (one fused kernel) -> o matvec with the residual add fused
-> gate/up matvec with the post-attention RMSNorm and SwiGLU fused -> down matvec with the
residual add fused. The final RMSNorm is fused into the LM head.

A host array that reaches any kernel raises HostArrayError (see `kernels`), so nothing
falls back to numpy silently; `forward` is the only place results leave the device.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import ModelConfig
from ..ops import rope_inv_freq
from ..quant import dequantize
from ..quant.layout import QK_K
from ..weights import expected_shapes, layer_prefix
from . import faults as gpu_faults
from . import kernels as K
from .device import require_cupy, to_device


@dataclass
class _Linear:
    """One projection on the device: float32 [rows, cols] or packed Q4_K blocks."""

    w: Any
    rows: int
    cols: int
    q4k: bool

    def __call__(self, x: Any, out: Any, scratch: tuple[Any, Any], bias: Any = None, resid: Any = None,
                 norm: Any = None, eps: float = 0.0) -> Any:
        if self.q4k:
            return K.q4k_matvec(self.w, x, self.rows, self.cols, bias=bias, resid=resid, out=out,
                                scratch=scratch, norm=norm, eps=eps)
        return K.matvec(self.w, x, bias=bias, resid=resid, out=out, norm=norm, eps=eps)

    def swiglu(self, x: Any, out: Any, scratch: tuple[Any, Any], norm: Any = None, eps: float = 0.0) -> Any:
        f = self.rows // 2
        if self.q4k:
            return K.q4k_matvec_swiglu(self.w, x, f, self.cols, out=out, scratch=scratch, norm=norm, eps=eps)
        return K.matvec_swiglu(self.w, x, out=out, norm=norm, eps=eps)

    @property
    def nbytes(self) -> int:
        return int(self.w.nbytes)


def _linear(names: list[str], rows: list[int], cols: int, dense: Mapping[str, np.ndarray],
            packed: Mapping[str, np.ndarray]) -> _Linear:
    """Stack several [r_i, cols] projections into one device matrix (fused launches)."""
    if all(n in packed for n in names):
        data = np.concatenate([np.asarray(packed[n], np.uint8).reshape(r, -1) for n, r in zip(names, rows, strict=True)])
        return _Linear(to_device(data), sum(rows), cols, True)
    mats = []
    for n, r in zip(names, rows, strict=True):
        if n in dense:
            mats.append(np.asarray(dense[n], np.float32).reshape(r, cols))
        elif n in packed:  # a mixed stack: dequantize the packed part (rare; keeps fusion simple)
            mats.append(dequantize(packed[n], "Q4_K", (r, cols)))
        else:
            raise KeyError(f"weight {n} is missing")
    return _Linear(to_device(np.concatenate(mats), np.float32), sum(rows), cols, False)


# A GGUF for the GPU keeps its Q4_K tensors packed (never dequantized on the host): each
# one's bytes are taken as they lie in the file, [rows, cols/256*144] in HF row order
# (llama's q/k row permutation undone row-wise, which is exact for packed rows), and read
# on the device by the fused dequantize-matvec kernel. Every other tensor (the embedding
# table, norms, biases, F32/Q8_0/Q6_K weights) is loaded as float32.
def load_packed(path: str | os.PathLike[str]) -> tuple[ModelConfig, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(config, float32 tensors, packed Q4_K tensors) of a qwen2/llama GGUF, by HF name."""
    from ..formats.gguf_io import GGUFModelFile  # noqa: PLC0415 - gguf is needed only here

    f = GGUFModelFile(path)
    cfg = f.config()
    want = expected_shapes(cfg)
    dense: dict[str, np.ndarray] = {}
    packed: dict[str, np.ndarray] = {}
    for t in f.tensors():
        if t.hf_name not in want:
            continue
        # the embedding is a row lookup, not a matvec: it stays float32 whatever the file holds
        if t.type_name == "Q4_K" and len(t.shape) == 2 and t.hf_name != "model.embed_tokens.weight":
            packed[t.hf_name] = f.packed_rows(t.hf_name)
        else:
            dense[t.hf_name] = f.load(t.hf_name)
    return cfg, dense, packed


class GpuDecoder:
    """Greedy-decoding engine on the device for a `ModelConfig` and HF-named weights.

    `dense` holds float32 arrays by HF name; `packed` optionally holds Q4_K bytes
    [rows, cols/256*144] for projection weights (they stay packed on the device).

    As one stage of a layer-split pipeline (`aprcore.gpu.pipeline`), a decoder that does
    not `take_tokens` starts its step from the hidden state already in `x` (copied there
    from the previous stage) instead of the token's embedding, and one that does not
    `make_logits` ends its step after its last layer, leaving the hidden state in `x`.
    """

    def __init__(self, cfg: ModelConfig, dense: Mapping[str, np.ndarray],
                 packed: Mapping[str, np.ndarray] | None = None, *, max_seq: int = 1024,
                 use_graph: bool = True, chunk: int | None = None, take_tokens: bool = True,
                 make_logits: bool = True) -> None:
        cp = require_cupy()
        self.cp, self.cfg, self.max_seq = cp, cfg, int(max_seq)
        self.take_tokens, self.make_logits = take_tokens, make_logits
        self.device = cp.cuda.Device().id
        self.chunk = K.fused_chunk(cfg.head_dim) if chunk is None else int(chunk)
        packed = dict(packed or {})
        h, nh, nkv, hd, f = (cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads,
                             cfg.head_dim, cfg.intermediate_size)
        self.stream = cp.cuda.Stream(non_blocking=True)
        with self.stream:
            self.layers = []
            for i in range(cfg.num_hidden_layers):
                p = layer_prefix(i)
                a = p + "self_attn."
                m = p + "mlp."
                lay: dict[str, Any] = {
                    "in_norm": to_device(dense[p + "input_layernorm.weight"], np.float32),
                    "post_norm": to_device(dense[p + "post_attention_layernorm.weight"], np.float32),
                    "qkv": _linear([a + "q_proj.weight", a + "k_proj.weight", a + "v_proj.weight"],
                                   [cfg.q_dim, cfg.kv_dim, cfg.kv_dim], h, dense, packed),
                    "o": _linear([a + "o_proj.weight"], [h], cfg.q_dim, dense, packed),
                    "gu": _linear([m + "gate_proj.weight", m + "up_proj.weight"], [f, f], h, dense, packed),
                    "down": _linear([m + "down_proj.weight"], [h], f, dense, packed),
                    "kc": cp.zeros((nkv, self.max_seq, hd), cp.float32),
                    "vc": cp.zeros((nkv, self.max_seq, hd), cp.float32),
                    "bqkv": None,
                }
                if cfg.attention_bias:
                    lay["bqkv"] = to_device(np.concatenate(
                        [dense[a + "q_proj.bias"], dense[a + "k_proj.bias"], dense[a + "v_proj.bias"]]), np.float32)
                self.layers.append(lay)
            # the layers a step runs: all of them, but for the fault that drops the last
            skip_last = gpu_faults.active() == "decoder_skips_last_layer"
            self.stepped = self.layers[:-1] if skip_last else self.layers
            self.embed = to_device(dense["model.embed_tokens.weight"], np.float32)
            self.final_norm = to_device(dense["model.norm.weight"], np.float32)
            if cfg.tie_word_embeddings or ("lm_head.weight" not in dense and "lm_head.weight" not in packed):
                self.lm_head = _Linear(self.embed, cfg.vocab_size, h, False)
            else:
                self.lm_head = _linear(["lm_head.weight"], [cfg.vocab_size], h, dense, packed)
            self.inv_freq = to_device(rope_inv_freq(hd, cfg.rope_theta), np.float32)
            # activations and scratch, all preallocated: a step allocates nothing
            self.tokpos = cp.zeros(3, cp.int32)   # token, position, tokens generated
            self.generated = cp.zeros(self.max_seq, cp.int32)
            self.x = cp.zeros(h, cp.float32)
            self.qkv = cp.zeros(cfg.q_dim + 2 * cfg.kv_dim, cp.float32)
            self.attn = cp.zeros(cfg.q_dim, cp.float32)
            self.act = cp.zeros(f, cp.float32)
            self.logits = cp.zeros(cfg.vocab_size, cp.float32)
            widest = max(h, f, cfg.q_dim)
            widest = (widest + QK_K - 1) // QK_K * QK_K
            self.scratch = (cp.zeros(2 * widest, cp.int8), cp.zeros((widest // 32, 2), cp.float32))
            self.attn_ws = K.attention_workspace(nh, hd, self.max_seq, self.chunk)
        self.pos = 0
        self.graph: Any = None
        self.graph_error: str | None = None
        self._tp_host = np.zeros(3, np.int32)
        self.advance_graph: Any = None
        # warm up: compile and load every kernel before any capture
        self.step(0)
        self._launch_advance()
        self.reset()
        if use_graph:
            self._capture()

    @classmethod
    def from_gguf(cls, path: str | os.PathLike[str], **kwargs: Any) -> GpuDecoder:
        """The engine over a GGUF file, its Q4_K weights resident on the device as packed blocks."""
        cfg, dense, packed = load_packed(path)
        return cls(cfg, dense, packed, **kwargs)

    # -------------------------------------------------------------- the step
    @property
    def weight_bytes(self) -> int:
        """Bytes of weights one decode step must read (the bandwidth floor's numerator)."""
        n = self.embed.shape[1] * 4 + self.lm_head.nbytes + self.final_norm.nbytes
        for lay in self.layers:
            n += sum(lay[k].nbytes for k in ("qkv", "o", "gu", "down"))
            n += lay["in_norm"].nbytes + lay["post_norm"].nbytes
            n += 0 if lay["bqkv"] is None else lay["bqkv"].nbytes
        return int(n)

    def _launch_step(self) -> None:
        cfg = self.cfg
        nh, nkv, hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        eps = cfg.rms_norm_eps
        if self.take_tokens:
            K.embed(self.embed, self.tokpos, self.x)
        for lay in self.stepped:
            # the RMSNorms are fused into the projection (or quantize) kernels that read them
            lay["qkv"](self.x, self.qkv, self.scratch, bias=lay["bqkv"], norm=lay["in_norm"], eps=eps)
            K.rope_append(self.qkv, lay["kc"], lay["vc"], self.inv_freq, self.tokpos, nh, nkv, hd)
            K.decode_attention(self.qkv[: cfg.q_dim], lay["kc"], lay["vc"], self.tokpos, self.attn,
                               workspace=self.attn_ws, chunk=self.chunk)
            lay["o"](self.attn, self.x, self.scratch, resid=self.x)
            lay["gu"].swiglu(self.x, self.act, self.scratch, norm=lay["post_norm"], eps=eps)
            lay["down"](self.act, self.x, self.scratch, resid=self.x)
        if self.make_logits:
            self.lm_head(self.x, self.logits, self.scratch, norm=self.final_norm, eps=eps)

    def _launch_advance(self) -> None:
        K.argmax_advance(self.logits, self.tokpos, self.generated)

    def _capture(self) -> None:
        try:
            self.graph = self._capture_one(self._launch_step)
            self.advance_graph = self._capture_one(self._launch_advance)
        except Exception as e:  # keep running eagerly, and say why
            self.graph = self.advance_graph = None
            self.graph_error = f"{type(e).__name__}: {e}"

    def _capture_one(self, launches: Any) -> Any:
        with self.stream:
            self.stream.begin_capture()
            try:
                launches()
            finally:
                graph = self.stream.end_capture()
        return graph

    def reset(self) -> None:
        """Start a new sequence (the cache past the position is never read, so no clearing)."""
        self.pos = 0

    def step(self, token: int) -> Any:
        """Run one position; returns the device logits buffer (overwritten by the next step)."""
        if self.pos >= self.max_seq:
            raise ValueError(f"KV cache full ({self.max_seq} positions)")
        if not 0 <= int(token) < self.cfg.vocab_size:
            raise ValueError(f"token {token} out of range for vocab {self.cfg.vocab_size}")
        self._tp_host[:] = (int(token), self.pos, 0)
        with self.stream:
            self.tokpos.set(self._tp_host)
            if self.graph is not None:
                self.graph.launch(self.stream)
            else:
                self._launch_step()
        self.pos += 1
        return self.logits

    def forward(self, token_ids: Any) -> np.ndarray:
        """float32 logits [len(token_ids), vocab] for a fresh sequence, copied to the host."""
        ids = [int(t) for t in np.asarray(token_ids).reshape(-1)]
        self.reset()
        out = np.empty((len(ids), self.cfg.vocab_size), np.float32)
        for i, t in enumerate(ids):
            self.step(t)
            out[i] = self.logits.get(stream=self.stream)
        self.stream.synchronize()
        return out

    def generate(self, prompt: Any, n_new: int) -> list[int]:
        """Greedy continuation: prompt ids in, n_new generated ids out.

        After the prompt, the device picks each next token itself (argmax_advance writes
        it where the next step reads it), so the n_new steps run back to back with no
        host round trip; the ids come back in one copy at the end.
        """
        ids = [int(t) for t in np.asarray(prompt).reshape(-1)]
        if not ids or len(ids) + n_new > self.max_seq:
            raise ValueError(f"prompt of {len(ids)} + {n_new} new tokens does not fit {self.max_seq} positions")
        self.reset()
        for t in ids[:-1]:
            self.step(t)
        self._tp_host[:] = (ids[-1], self.pos, 0)
        with self.stream:
            self.tokpos.set(self._tp_host)
            for _ in range(n_new):
                if self.graph is not None and self.advance_graph is not None:
                    self.graph.launch(self.stream)
                    self.advance_graph.launch(self.stream)
                else:
                    self._launch_step()
                    self._launch_advance()
            out = self.generated[:n_new].get(stream=self.stream)
        self.pos += n_new
        return [int(t) for t in out]

    def synchronize(self) -> None:
        self.stream.synchronize()
