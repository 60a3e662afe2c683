"""`python -m aprcore run PATH --tokens 1,2,3`: run a model, print its logits summary.

`python -m aprcore run PATH --prompt TEXT [--chat] [--generate N]`: text in, text out.
The prompt is tokenized with the tokenizer stored in the model file (GGUF metadata or
the HF directory's tokenizer.json); `--chat` first wraps it as a user turn with the
file's chat template; greedy decoding (32 tokens unless --generate says otherwise,
stopping at the end-of-turn token) prints the continuation as text, and nothing else,
on stdout.

PATH is an HF directory, a .gguf file, or `random:<preset>[:seed]` for seeded random
weights of a preset (handy for smoke runs). `--backend gpu` goes through the parity
gate: a GPU that fails the first-token probe is rejected with the tagged stderr line and
the run falls back to the CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from .. import faults as _faults
from . import HelpFormatter
from .args import non_negative_int, positive_int

_PROMPT_TOKENS = 32


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("run", help="run a model on token ids and summarise the logits",
                              description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("path", help="HF directory, .gguf file, or random:<preset>[:seed]")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--tokens", help="comma-separated token ids, e.g. 1,2,3")
    src.add_argument("--prompt", help="text to continue, tokenized with the model's own tokenizer")
    p.add_argument("--chat", action="store_true",
                   help="with --prompt: send it as a user message through the chat template")
    p.add_argument("--backend", default="cpu", choices=["cpu", "gpu"],
                   help="gpu: probe against the CPU first, fall back when it fails")
    p.add_argument("--generate", type=non_negative_int, default=None, metavar="N",
                   help="decode N tokens greedily through the KV cache (None: 0 with --tokens, "
                        f"{_PROMPT_TOKENS} with --prompt)")
    p.add_argument("--top-k", type=positive_int, default=5, help="how many top logits to print")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=main)



def _wants_gpu(args: argparse.Namespace) -> bool:
    """--backend gpu; also --backend cpu under the fault that probes the GPU anyway."""
    return args.backend == "gpu" or _faults.on("cpu_run_probes_gpu") is not None

def _load(path: str) -> Any:
    from ..config import preset  # noqa: PLC0415
    from ..formats import load  # noqa: PLC0415
    from ..model import Model  # noqa: PLC0415

    if path.startswith("random:"):
        parts = path.split(":")
        return Model.random(preset(parts[1]), seed=int(parts[2]) if len(parts) > 2 else 0)
    return load(path)


def main(args: argparse.Namespace) -> int:
    if args.chat and args.prompt is None:
        print("error: --chat needs --prompt", file=sys.stderr)
        return 2
    ids: list[int] = []
    if args.tokens is not None:
        try:
            ids = [int(t) for t in args.tokens.split(",") if t.strip()]
        except ValueError:
            print(f"error: --tokens must be comma-separated integers, got {args.tokens!r}", file=sys.stderr)
            return 2
    try:
        model = _load(args.path)
    except (OSError, ValueError) as e:
        print(f"error: cannot load {args.path}: {e}", file=sys.stderr)
        return 2
    if args.prompt is not None:
        return _run_text(model, args)
    args.generate = args.generate or 0
    backend: Any = "cpu"
    parity: list[dict] = []
    if _wants_gpu(args):
        from ..parity import select_backend  # noqa: PLC0415

        choice = select_backend(model, ids, ("gpu",))
        backend = choice.backend
        parity = [r.as_dict() for r in choice.reports]
    try:
        logits = model.forward(ids, backend=backend)
        generated = model.generate(ids, args.generate, backend) if args.generate else []
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    last = logits[-1]
    top = np.argsort(-last, kind="stable")[: args.top_k]
    out = {
        "path": args.path,
        "arch": model.config.arch,
        "backend": getattr(backend, "name", backend),
        "tokens": ids,
        "shape": list(logits.shape),
        "argmax": [int(a) for a in logits.argmax(axis=-1)],
        "last_top_k": [{"id": int(i), "logit": float(last[i])} for i in top],
        "finite": bool(np.isfinite(logits).all()),
        "mean": float(logits.mean()),
        "std": float(logits.std()),
        "generated": generated,
        "parity": parity,
    }
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{out['arch']} on {out['backend']}: logits {tuple(out['shape'])}, "
              f"mean {out['mean']:.4f}, std {out['std']:.4f}, finite {out['finite']}")
        print("argmax per position:", ",".join(map(str, out["argmax"])))
        print(f"last position top-{args.top_k}:",
              ", ".join(f"{t['id']} ({t['logit']:.4f})" for t in out["last_top_k"]))
        if generated:
            print("greedy continuation:", ",".join(map(str, generated)))
    return 0 if out["finite"] else 1


def _run_text(model: Any, args: argparse.Namespace) -> int:
    """--prompt: tokenize, (chat-wrap,) decode greedily, print the continuation."""
    from ..chat import ChatTemplateError  # noqa: PLC0415
    from ..tokenizer import TokenizerError, load_tokenizer  # noqa: PLC0415

    tok = model.tokenizer
    try:
        if tok is None:
            load_tokenizer(args.path, strict=True)  # raises with the reason
            raise TokenizerError(f"{args.path} carries no tokenizer")
        text = tok.chat_prompt([{"role": "user", "content": args.prompt}]) if args.chat else args.prompt
    except (TokenizerError, ChatTemplateError, OSError) as e:
        print(f"error: cannot run a text prompt on {args.path}: {e}", file=sys.stderr)
        return 2
    ids = tok.encode(text)
    if not ids:
        print("error: --prompt is empty after tokenization", file=sys.stderr)
        return 2
    n = _PROMPT_TOKENS if args.generate is None else args.generate
    stop = [tok.eos_id] if tok.eos_id is not None else []
    backend: Any = "cpu"
    if _wants_gpu(args):
        from ..parity import select_backend  # noqa: PLC0415

        backend = select_backend(model, ids, ("gpu",)).backend
    try:
        out = model.generate(ids, n, backend=backend, stop_ids=stop) if n else []
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    shown = out[:-1] if out and out[-1] in stop else out
    continuation = tok.decode(shown)
    if args.json:
        print(json.dumps({"path": args.path, "arch": model.config.arch, "prompt": text,
                          "prompt_ids": ids, "generated": out, "text": continuation}))
    else:
        print(continuation)
    return 0
