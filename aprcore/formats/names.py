"""HF <-> GGUF tensor names and layouts for the qwen2 and llama architectures.

Names: HF `model.layers.3.self_attn.q_proj.weight` is ggml `blk.3.attn_q.weight`, and
so on (the table below; the same names llama.cpp's convert_hf_to_gguf.py writes).

Layout: the bytes are the same. An HF `[out, in]` weight is stored row-major with
rows of `in` weights; ggml lists dimensions fastest-first, so GGUF metadata shows it as
`(in, out)`. gguf's reader already hands the data back in numpy order (`[out, in]`),
so no transpose ever happens; `ggml_shape` / `hf_shape` convert the metadata view.

One real difference: for the `llama` architecture, llama.cpp's converter permutes the
rows of q_proj and k_proj (weights and biases) so that ggml's interleaved ("normal")
RoPE on the permuted weights equals HF's rotate-half RoPE on the originals. Qwen2 uses
ggml's NEOX RoPE and is stored unpermuted. `to_gguf_layout` / `to_hf_layout` apply and
undo that permutation; both are exact row reorderings, so round trips stay bit-exact.

Tied embeddings: a tied model has no `output.weight`; llama.cpp then reads
`token_embd.weight` for the output projection, as HF does with `lm_head`.
"""

from __future__ import annotations

import re

import numpy as np

_LAYER_MAP = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
_LAYER_MAP_REV = {v: k for k, v in _LAYER_MAP.items()}
_GLOBAL_MAP = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
_GLOBAL_MAP_REV = {v: k for k, v in _GLOBAL_MAP.items()}
_HF_LAYER = re.compile(r"^model\.layers\.(\d+)\.(.+)$")
_GGUF_LAYER = re.compile(r"^blk\.(\d+)\.(.+)$")


def _rename(name: str, whole: dict[str, str], layer: re.Pattern, per_layer: dict[str, str],
            prefix: str) -> str | None:
    if name in whole:
        return whole[name]
    m = layer.match(name)
    if m and m.group(2) in per_layer:
        return f"{prefix}{m.group(1)}.{per_layer[m.group(2)]}"
    return None


def hf_to_gguf(name: str) -> str | None:
    """ggml name of an HF tensor name, or None when it has none."""
    return _rename(name, _GLOBAL_MAP, _HF_LAYER, _LAYER_MAP, "blk.")


def gguf_to_hf(name: str) -> str | None:
    """HF name of a ggml tensor name, or None when it has none."""
    return _rename(name, _GLOBAL_MAP_REV, _GGUF_LAYER, _LAYER_MAP_REV, "model.layers.")


def to_hf_name(name: str) -> str:
    """Either spelling to the HF one (unknown names pass through unchanged)."""
    return gguf_to_hf(name) or name


def ggml_shape(hf_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The dimensions GGUF metadata lists for an HF-shaped tensor (fastest first)."""
    return tuple(reversed(hf_shape))


def hf_shape(ggml_dims: tuple[int, ...] | list[int]) -> tuple[int, ...]:
    return tuple(int(d) for d in reversed(list(ggml_dims)))


def tensor_class(name: str) -> str:
    """An HF tensor name without its layer: `model.layers.3.mlp.up_proj.weight` -> `mlp.up_proj.weight`."""
    m = _HF_LAYER.match(name)
    return m.group(2) if m else name


def is_norm_or_bias(name: str) -> bool:
    """Tensors that stay F32 in every quantized file (1-D: norms and biases)."""
    return name.endswith(".bias") or name.endswith("norm.weight")


def permuted_heads(name: str, arch: str, n_head: int, n_head_kv: int) -> int | None:
    """Heads llama.cpp permutes this tensor's rows over (llama q/k), else None."""
    return _rope_heads(name, n_head, n_head_kv) if arch == "llama" else None


def _rope_heads(name: str, n_head: int, n_head_kv: int) -> int | None:
    """Heads to permute over for a llama q/k tensor (HF or ggml name), else None."""
    hf = to_hf_name(name)
    if hf.endswith(("self_attn.q_proj.weight", "self_attn.q_proj.bias")):
        return n_head
    if hf.endswith(("self_attn.k_proj.weight", "self_attn.k_proj.bias")):
        return n_head_kv
    return None


def to_gguf_layout(name: str, x: np.ndarray, arch: str, n_head: int, n_head_kv: int) -> np.ndarray:
    """HF rows -> the row order llama.cpp stores (convert_hf_to_gguf's `permute`)."""
    heads = _rope_heads(name, n_head, n_head_kv) if arch == "llama" else None
    if heads is None:
        return x
    return (x.reshape(heads, 2, x.shape[0] // heads // 2, *x.shape[1:])
            .swapaxes(1, 2).reshape(x.shape))


def to_hf_layout(name: str, x: np.ndarray, arch: str, n_head: int, n_head_kv: int) -> np.ndarray:
    """Inverse of `to_gguf_layout`."""
    heads = _rope_heads(name, n_head, n_head_kv) if arch == "llama" else None
    if heads is None:
        return x
    return (x.reshape(heads, x.shape[0] // heads // 2, 2, *x.shape[1:])
            .swapaxes(1, 2).reshape(x.shape))
