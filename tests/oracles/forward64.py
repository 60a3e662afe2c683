"""The float64 oracle of the Qwen2/Llama forward: the math written out naively, once.

Every test that needs a reference forward (the CPU falsifiers, the GPU decode engine's
parity tests) uses this one. float64, explicit loops over heads and positions, RoPE as pairwise rotations of
(x_i, x_{i+d/2}) by angle p / theta**(2i/d), and query head h reading KV head
h // (n_heads / n_kv). It shares no code with aprcore.ops, so a bug in an op (or an
injected fault) cannot hide in both. Slow by design: tiny shapes only.
"""

from __future__ import annotations

import numpy as np


def _rms(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    return w * x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)


def _rope(x: np.ndarray, pos: int, theta: float) -> np.ndarray:
    d = x.shape[-1]
    half = d // 2
    out = x.copy()
    for i in range(half):
        ang = pos / theta ** (2 * i / d)
        c, s = np.cos(ang), np.sin(ang)
        out[..., i] = x[..., i] * c - x[..., i + half] * s
        out[..., i + half] = x[..., i + half] * c + x[..., i] * s
    return out


def naive_layer_qkv(cfg, w, i, xn):
    p = f"model.layers.{i}.self_attn."
    def lin(name):
        y = xn @ w[p + name + ".weight"].astype(np.float64).T
        b = w.get(p + name + ".bias")
        return y if b is None else y + b
    return lin("q_proj"), lin("k_proj"), lin("v_proj")


def naive_forward(model, token_ids, positions=None) -> np.ndarray:
    """float64 logits [T, vocab] of `model` (an aprcore Model, read for config and weights)."""
    return forward64(model.config, model.weights, token_ids, positions)


def forward64(cfg, weights, token_ids, positions=None) -> np.ndarray:
    """float64 logits [T, vocab] of a decoder of config `cfg` with HF-named `weights`."""
    w = {k: np.asarray(v, np.float64) for k, v in weights.items()}
    nh, nkv, d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    ratio = nh // nkv
    t = len(token_ids)
    pos = list(range(t)) if positions is None else list(positions)
    token_ids = [int(t) for t in np.asarray(token_ids).reshape(-1)]
    x = w["model.embed_tokens.weight"][token_ids]
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}."
        xn = _rms(x, w[p + "input_layernorm.weight"], cfg.rms_norm_eps)
        q, k, v = naive_layer_qkv(cfg, w, i, xn)
        q = q.reshape(t, nh, d)
        k = k.reshape(t, nkv, d)
        v = v.reshape(t, nkv, d)
        for a in range(t):
            q[a] = _rope(q[a], pos[a], cfg.rope_theta)
            k[a] = _rope(k[a], pos[a], cfg.rope_theta)
        att = np.zeros((t, nh, d))
        for h in range(nh):
            j = h // ratio
            for a in range(t):
                scores = np.array([q[a, h] @ k[b, j] / np.sqrt(d) for b in range(a + 1)])
                e = np.exp(scores - scores.max())
                probs = e / e.sum()
                att[a, h] = sum(probs[b] * v[b, j] for b in range(a + 1))
        x = x + att.reshape(t, nh * d) @ w[p + "self_attn.o_proj.weight"].T
        xn = _rms(x, w[p + "post_attention_layernorm.weight"], cfg.rms_norm_eps)
        gate = xn @ w[p + "mlp.gate_proj.weight"].T
        up = xn @ w[p + "mlp.up_proj.weight"].T
        x = x + (gate / (1 + np.exp(-gate)) * up) @ w[p + "mlp.down_proj.weight"].T
    x = _rms(x, w["model.norm.weight"], cfg.rms_norm_eps)
    head = w["model.embed_tokens.weight"] if cfg.tie_word_embeddings else w["lm_head.weight"]
    return x @ head.T


def naive_head_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """One query head over one KV head, causal from position 0: q [T,d], k/v [S,d], T<=S,
    query a at position S-T+a."""
    t, d = q.shape
    s = k.shape[0]
    out = np.zeros((t, d))
    for a in range(t):
        n = s - t + a + 1
        scores = (k[:n].astype(np.float64) @ q[a].astype(np.float64)) / np.sqrt(d)
        e = np.exp(scores - scores.max())
        out[a] = (e / e.sum()) @ v[:n].astype(np.float64)
    return out


def max_rel_err(got: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(got, np.float64) - ref)) / max(np.max(np.abs(ref)), 1e-30))
