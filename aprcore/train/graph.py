"""Training forward (with cached activations) and hand-written backward of the decoder.

Works over the HF-named weights dict of `aprcore.weights.expected_shapes` and a
`ModelConfig`, for Qwen2 (q/k/v bias, tied head optional) and Llama (no bias, untied)
alike. One code path for numpy and cupy: the array module is taken from the weights.
The dtype is the weights' dtype, so the same code runs in float32 for training and in
float64 for the finite-difference gradient checks.

Why not autograd: the point of the trainer is a small, inspectable reference whose
every derivative is written down and checked against finite differences; it is also
what the GPU backend runs with CuPy, which has no autograd.

Conventions (the same as HF transformers):
- RMSNorm: y = x / sqrt(mean(x^2) + eps) * w
- RoPE: rotate-half, `aprcore.ops.rope_cos_sin` (HF's float32 inv_freq and angles)
- GQA: query head h attends with key/value head h // (num_heads / num_kv_heads)
- SwiGLU: down(silu(gate(x)) * up(x))
- head: lm_head.weight, or embed_tokens.weight when tie_word_embeddings
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import faults as _faults
from ..arrays import get_array_module as get_xp
from ..config import ModelConfig
from ..ops import rope_cos_sin, rotate_half
from ..weights import layer_prefix

Weights = dict[str, Any]



def scatter_add_rows(xp, target, rows, values) -> None:
    """target[rows[i]] += values[i], with repeated rows accumulated (embedding backward)."""
    if xp is np:
        np.add.at(target, rows, values)
    else:  # cupy: ufunc.at is not available on every release; cupyx.scatter_add is.
        import cupyx

        cupyx.scatter_add(target, rows, values)


def head_weight(cfg: ModelConfig, w: Weights):
    return w["model.embed_tokens.weight"] if cfg.tie_word_embeddings else w["lm_head.weight"]


def _rmsnorm(xp, x, w, eps):
    r = 1.0 / xp.sqrt((x * x).mean(axis=-1, keepdims=True) + eps)
    return x * r * w, r


def _rmsnorm_back(xp, dy, x, r, w):
    """Gradients of y = x * r * w with r = (mean(x^2)+eps)^-1/2: (dx, dw)."""
    xhat = x * r
    dw = (dy * xhat).sum(axis=0)
    dxhat = dy * w
    dx = r * (dxhat - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True))
    return dx, dw


def _softmax(xp, s):
    m = s.max(axis=-1, keepdims=True)
    e = xp.exp(s - m)
    return e / e.sum(axis=-1, keepdims=True)


def forward(cfg: ModelConfig, w: Weights, ids, *, keep: bool = True):
    """Logits (B, T, V) for token ids (B, T), and the activation cache for `backward`.

    With keep=False nothing is cached (teacher forward, validation).
    """
    emb = w["model.embed_tokens.weight"]
    xp = get_xp(emb)
    dt = emb.dtype
    ids = xp.asarray(ids)
    if ids.ndim == 1:
        ids = ids[None]
    B, T = ids.shape
    N = B * T
    nh, nkv, hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    g = nh // nkv
    eps = cfg.rms_norm_eps
    scale = 1.0 / float(np.sqrt(hd))
    cos, sin = (t.astype(dt) for t in rope_cos_sin(xp.arange(T), hd, cfg.rope_theta, xp))
    # Additive causal mask for the (g*T, T) score rows of one kv head: row gi*T+t sees <= t.
    causal = np.triu(np.full((T, T), -np.inf, dtype=dt), k=1)
    mask = xp.asarray(np.tile(causal, (g, 1)))

    x = emb[ids.reshape(-1)]  # (N, H)
    layers = []
    for i in range(cfg.num_hidden_layers):
        p = layer_prefix(i)
        c: dict[str, Any] = {"x_in": x}
        h, r = _rmsnorm(xp, x, w[p + "input_layernorm.weight"], eps)
        q = h @ w[p + "self_attn.q_proj.weight"].T
        k = h @ w[p + "self_attn.k_proj.weight"].T
        v = h @ w[p + "self_attn.v_proj.weight"].T
        if cfg.attention_bias:
            q = q + w[p + "self_attn.q_proj.bias"]
            k = k + w[p + "self_attn.k_proj.bias"]
            v = v + w[p + "self_attn.v_proj.bias"]
        # q: (B, nkv, g, T, hd); k, v: (B, nkv, T, hd)
        q = q.reshape(B, T, nkv, g, hd).transpose(0, 2, 3, 1, 4)
        k = k.reshape(B, T, nkv, hd).transpose(0, 2, 1, 3)
        v = xp.ascontiguousarray(v.reshape(B, T, nkv, hd).transpose(0, 2, 1, 3))
        qr = (q * cos + rotate_half(q) * sin).reshape(B, nkv, g * T, hd)
        kr = k * cos + rotate_half(k) * sin
        s = (qr @ kr.swapaxes(-1, -2)) * scale + mask  # (B, nkv, gT, T)
        pr = _softmax(xp, s)
        o = pr @ v  # (B, nkv, gT, hd)
        o2 = o.reshape(B, nkv, g, T, hd).transpose(0, 3, 1, 2, 4).reshape(N, nh * hd)
        x = x + o2 @ w[p + "self_attn.o_proj.weight"].T
        x_mid = x
        h2, r2 = _rmsnorm(xp, x, w[p + "post_attention_layernorm.weight"], eps)
        gt = h2 @ w[p + "mlp.gate_proj.weight"].T
        up = h2 @ w[p + "mlp.up_proj.weight"].T
        sig = 1.0 / (1.0 + xp.exp(-gt))
        act = gt * sig * up
        x = x + act @ w[p + "mlp.down_proj.weight"].T
        if keep:
            c.update(h=h, r=r, qr=qr, kr=kr, v=v, p=pr, o2=o2, x_mid=x_mid, h2=h2, r2=r2,
                     gt=gt, sig=sig, up=up, act=act)
            layers.append(c)
    hn, rn = _rmsnorm(xp, x, w["model.norm.weight"], eps)
    logits = hn @ head_weight(cfg, w).T
    cache = None
    if keep:
        cache = {"ids": ids, "B": B, "T": T, "layers": layers, "x_out": x, "hn": hn, "rn": rn,
                 "cos": cos, "sin": sin}
    return logits.reshape(B, T, -1), cache


def cross_entropy(logits, targets):
    """Mean token cross-entropy and its gradient w.r.t. logits (same shape as logits)."""
    xp = get_xp(logits)
    V = logits.shape[-1]
    lg = logits.reshape(-1, V)
    t = xp.asarray(targets).reshape(-1)
    m = lg.max(axis=-1, keepdims=True)
    z = lg - m
    lse = xp.log(xp.exp(z).sum(axis=-1, keepdims=True))
    logp = z - lse
    n = lg.shape[0]
    rows = xp.arange(n)
    loss = -logp[rows, t].mean()
    grad = xp.exp(logp)
    grad[rows, t] -= 1.0
    grad /= n
    return loss, grad.reshape(logits.shape)


def backward(cfg: ModelConfig, w: Weights, cache, dlogits) -> Weights:
    """Gradients of every tensor in `w` given d(loss)/d(logits) of shape (B, T, V)."""
    emb = w["model.embed_tokens.weight"]
    xp = get_xp(emb)
    B, T = cache["B"], cache["T"]
    N = B * T
    nh, nkv, hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    g = nh // nkv
    scale = 1.0 / float(np.sqrt(hd))
    cos, sin = cache["cos"], cache["sin"]
    grads: Weights = {}

    dl = dlogits.reshape(N, -1)
    head = head_weight(cfg, w)
    dhead = dl.T @ cache["hn"]
    dhn = dl @ head
    dx, grads["model.norm.weight"] = _rmsnorm_back(xp, dhn, cache["x_out"], cache["rn"],
                                                   w["model.norm.weight"])
    layers = cache["layers"]
    for i in reversed(range(cfg.num_hidden_layers)):
        p = layer_prefix(i)
        c = layers[i]
        # -- SwiGLU FFN: x_out = x_mid + (silu(gt) * up) @ Wd.T
        wd = w[p + "mlp.down_proj.weight"]
        grads[p + "mlp.down_proj.weight"] = dx.T @ c["act"]
        dact = dx @ wd
        sig, gt, up = c["sig"], c["gt"], c["up"]
        silu = gt * sig
        dup = dact * silu
        dgt = dact * up * (sig * (1.0 + gt * (1.0 - sig)))
        grads[p + "mlp.gate_proj.weight"] = dgt.T @ c["h2"]
        grads[p + "mlp.up_proj.weight"] = dup.T @ c["h2"]
        dh2 = dgt @ w[p + "mlp.gate_proj.weight"] + dup @ w[p + "mlp.up_proj.weight"]
        x_mid = c["x_mid"]
        dxm, grads[p + "post_attention_layernorm.weight"] = _rmsnorm_back(
            xp, dh2, x_mid, c["r2"], w[p + "post_attention_layernorm.weight"])
        dx = dx + dxm
        # -- attention: x_mid = x_in + o2 @ Wo.T
        grads[p + "self_attn.o_proj.weight"] = dx.T @ c["o2"]
        do2 = dx @ w[p + "self_attn.o_proj.weight"]
        do = do2.reshape(B, T, nkv, g, hd).transpose(0, 2, 3, 1, 4).reshape(B, nkv, g * T, hd)
        pr, v, qr, kr = c["p"], c["v"], c["qr"], c["kr"]
        dp = do @ v.swapaxes(-1, -2)
        dv = pr.swapaxes(-1, -2) @ do  # (B, nkv, T, hd): the g query heads sum here
        ds = pr * (dp - (dp * pr).sum(axis=-1, keepdims=True)) * scale
        dqr = (ds @ kr).reshape(B, nkv, g, T, hd)
        dkr = ds.swapaxes(-1, -2) @ qr
        # RoPE is y = x*cos + R(x)*sin with R^T = -R, so dx = dy*cos - R(dy*sin).
        dq = dqr * cos - rotate_half(dqr * sin)
        dk = dkr * cos - rotate_half(dkr * sin)
        dq2 = dq.transpose(0, 3, 1, 2, 4).reshape(N, nh * hd)
        dk2 = dk.transpose(0, 2, 1, 3).reshape(N, nkv * hd)
        dv2 = dv.transpose(0, 2, 1, 3).reshape(N, nkv * hd)
        h = c["h"]
        grads[p + "self_attn.q_proj.weight"] = dq2.T @ h
        grads[p + "self_attn.k_proj.weight"] = dk2.T @ h
        grads[p + "self_attn.v_proj.weight"] = dv2.T @ h
        if cfg.attention_bias:
            grads[p + "self_attn.q_proj.bias"] = dq2.sum(axis=0)
            grads[p + "self_attn.k_proj.bias"] = dk2.sum(axis=0)
            grads[p + "self_attn.v_proj.bias"] = dv2.sum(axis=0)
            if _faults.on("bias_gradient_dropped") is not None:  # a fault, on purpose
                for b in ("q", "k", "v"):
                    grads[p + f"self_attn.{b}_proj.bias"] = xp.zeros_like(w[p + f"self_attn.{b}_proj.bias"])
        dh = (dq2 @ w[p + "self_attn.q_proj.weight"] + dk2 @ w[p + "self_attn.k_proj.weight"]
              + dv2 @ w[p + "self_attn.v_proj.weight"])
        dxi, grads[p + "input_layernorm.weight"] = _rmsnorm_back(
            xp, dh, c["x_in"], c["r"], w[p + "input_layernorm.weight"])
        dx = dx + dxi
    demb = xp.zeros_like(emb)
    scatter_add_rows(xp, demb, cache["ids"].reshape(-1), dx)
    if cfg.tie_word_embeddings:
        demb += dhead
    else:
        grads["lm_head.weight"] = dhead
    grads["model.embed_tokens.weight"] = demb
    return grads


def loss_and_grads(cfg: ModelConfig, w: Weights, inputs, targets):
    """Cross-entropy of next-token prediction and the gradient of every weight."""
    logits, cache = forward(cfg, w, inputs)
    loss, dlogits = cross_entropy(logits, targets)
    return float(loss), backward(cfg, w, cache, dlogits)
