"""Record llama.cpp's view of SmolLM2-135M-Instruct: the reference the real-model falsifiers check.

CI has no llama.cpp, so what llama.cpp computes on the published GGUF is recorded here
once, with its provenance, and the tests hold aprcore to it:

- the tokenization of a corpus of tricky strings (llama.cpp's own BPE, `special=True`);
- for a fixed prompt set (plain text and chat prompts): llama.cpp's greedy continuation,
  and at every position (prompt and continuation) its top-8 token ids and logits;
- the full last-prompt-position logits of each prompt (float16), for the parity gate's
  cosine floor on the first token.

Two files are run: the published Q4_1 GGUF itself (`q4_1`: what a user runs; llama.cpp
rounds matmul inputs to 8 bits there, so near-ties may flip) and aprcore's F32 export of
its weights (`f32`: ggml's F32 matmuls take float32 inputs, so only summation order
differs and the logits must agree to float32 noise).

llama.cpp runs on the CPU with an F32 KV cache (its default F16 cache would round K and
V), one `eval` for the prompt then one per generated token. Generation stops at the
end-of-turn token or after --tokens.

    python scripts/make_smollm2_reference.py [--tokens 32]       # needs llama_cpp
    (scripts/build_llama_cpp.sh builds the binding; the GGUF comes from
     `python -m aprcore fetch smollm2`)

Output: tests/data/smollm2-reference/reference.json and last_logits.npz.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aprcore  # noqa: E402
from aprcore.chat import render_chat  # noqa: E402
from aprcore.fetch import fetch, model_info, sha256_file  # noqa: E402

OUT = ROOT / "tests" / "data" / "smollm2-reference"
TOP_K = 8

CORPUS = [
    "The capital of France is",
    "  leading, trailing and   runs of spaces  ",
    "tabs\tand\r\nCRLF\n\n\nblank lines",
    "12345 apples, 1,234.56e-7 and 3.14159; 0x1F 007",
    "don't I'll we've THEY'RE it's",
    "héllo wörld — naïve café, Ünïcödé ﬁ ligature",
    "日本語のテキストと中文文本",
    "emoji 🤗 and a family 👩‍👩‍👧‍👦, flags 🇫🇷",
    "\u00a0no-break\u2009thin\u200bzero-width\u3000ideographic",
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
    "x = [i**2 for i in range(10)]  # squares\n\tif x[-1] >= 81 && y != 'z': pass",
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>text after a special token<repo_name>",
    "ÀÁÂÃÄÅ ǅ Ⅻ ½ ² ℃ ©®™",
    "Ελληνικά, русский, עברית, العربية",
    "",
]

PROMPTS = [
    {"text": "The capital of France is", "chat": False},
    {"text": "def fibonacci(n):", "chat": False},
    {"text": "1, 2, 3, 4, 5,", "chat": False},
    {"text": "What is the capital of France?", "chat": True},
    {"text": "Write a haiku about the sea.", "chat": True},
]


def prompt_text(p: dict, template: str) -> str:
    if not p["chat"]:
        return p["text"]
    return render_chat(template, [{"role": "user", "content": p["text"]}], True,
                       bos_token="<|im_start|>", eos_token="<|im_end|>")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=32, help="greedy tokens per prompt")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import llama_cpp

    path = fetch("smollm2", progress=True)
    info = model_info("smollm2")
    assert sha256_file(path) == info.sha256
    llm = _llama(llama_cpp, path, args.threads)
    template = llm.metadata["tokenizer.chat_template"]
    eos = int(llm.token_eos())
    corpus = [{"text": s, "ids": llm.tokenize(s.encode("utf-8"), add_bos=False, special=True)}
              for s in CORPUS]
    texts = [prompt_text(p, template) for p in PROMPTS]
    ids = [llm.tokenize(t.encode("utf-8"), add_bos=False, special=True) for t in texts]
    runs, last = {}, {}
    runs["q4_1"] = _greedy(llm, ids, eos, args.tokens, last)
    with tempfile.TemporaryDirectory() as tmp:
        # The F32 export carries aprcore's placeholder vocabulary: decode with the real one.
        f32 = aprcore.save(aprcore.load(path), Path(tmp) / "smollm2-f32.gguf")
        exported = _llama(llama_cpp, f32, args.threads)
        runs["f32"] = _greedy(exported, ids, eos, args.tokens, None)
        exported.close()
    for run in runs.values():
        for r in run:
            r["continuation"] = llm.detokenize(r["generated"], special=True).decode("utf-8", "replace")
    llm.close()
    prompts = [{**p, "prompt": t, "ids": i, **{k: runs[k][n] for k in runs}}
               for n, (p, t, i) in enumerate(zip(PROMPTS, texts, ids, strict=True))]
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT / "last_logits.npz", **last)
    ref = {
        "provenance": {
            "what": "llama.cpp's tokenization, greedy continuations and logits on the published SmolLM2 GGUF",
            "model": info.requirement + ":" + info.member, "gguf_sha256": info.sha256,
            "generator": f"scripts/make_smollm2_reference.py --tokens {args.tokens} --threads {args.threads}",
            "llama_cpp_python": llama_cpp.__version__,
            "llama_cpp_system_info": llama_cpp.llama_print_system_info().decode().strip(),
            "runs": {"q4_1": "the published GGUF", "f32": "aprcore.save(aprcore.load(it)) as F32 GGUF"},
            "settings": "CPU, F32 KV cache, logits_all, no flash attention, prompt in one eval then one eval per token",
            "host": f"{platform.node()} {platform.machine()} python {platform.python_version()}",
            "load_average": list(os.getloadavg()),
            "date": datetime.date.today().isoformat(),
            "top_k": TOP_K, "eos_id": eos,
        },
        "corpus": corpus,
        "prompts": prompts,
    }
    (OUT / "reference.json").write_text(json.dumps(ref, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    for p in prompts:
        print(json.dumps({"prompt": p["text"], **{k: p[k]["continuation"] for k in runs}}, ensure_ascii=False))
    return 0


def _llama(llama_cpp, path, threads: int):
    return llama_cpp.Llama(model_path=str(path), logits_all=True, n_ctx=512, n_batch=512,
                           n_threads=threads, n_threads_batch=threads, verbose=False,
                           flash_attn=False, type_k=llama_cpp.GGML_TYPE_F32,
                           type_v=llama_cpp.GGML_TYPE_F32)


def _greedy(llm, prompts: list[list[int]], eos: int, tokens: int, last: dict | None) -> list[dict]:
    """Per prompt: llama.cpp's greedy continuation and its top-k at every position."""
    out = []
    for n, ids in enumerate(prompts):
        llm.reset()
        llm.eval(ids)
        if last is not None:
            last[f"p{n}"] = np.array(llm.scores[len(ids) - 1], dtype=np.float16)
        generated: list[int] = []
        while len(generated) < tokens:
            nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
            generated.append(nxt)
            if nxt == eos:
                break
            llm.eval([nxt])
        scores = np.array(llm.scores[: llm.n_tokens], dtype=np.float32)
        top = np.argsort(-scores, axis=-1, kind="stable")[:, :TOP_K]
        out.append({
            "generated": generated,
            "top_ids": top.tolist(),
            "top_logits": np.take_along_axis(scores, top, -1).round(5).tolist(),
        })
    return out


if __name__ == "__main__":
    sys.exit(main())
