"""Text to token ids and back, built from what the model file carries.

`Tokenizer.from_gguf(path)` builds the byte-level BPE a GGUF describes
(`tokenizer.ggml.model = "gpt2"`: `tokens`, `merges`, `token_type`, the `pre`
pre-tokenizer name, bos/eos ids, the chat template) with HF's `tokenizers` library,
as llama.cpp's `llm_tokenizer_bpe` reads the same keys. `Tokenizer.from_hf_dir(path)`
loads an HF directory's `tokenizer.json` (and `tokenizer_config.json` for the chat
template and special tokens). `chat_prompt(messages)` renders the chat template with
Jinja2 the way transformers' `apply_chat_template` does (`aprcore.chat`).

Pre-tokenizers, named as llama.cpp names them (`tokenizer.ggml.pre`), mapped to the
`tokenizers` components that split text the same way:

- `gpt-2`: GPT-2's regex (`'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+`),
  which `ByteLevel(use_regex=True)` applies before mapping bytes to its 256 symbols;
- `smollm` (also StarCoder's): every digit on its own (llama.cpp's `\\p{N}` pass, the
  `Digits(individual_digits=True)` of SmolLM2's own tokenizer.json), then GPT-2's regex.

Control tokens (`<|im_start|>`, `<|endoftext|>` ...) are added as special tokens: the
text "<|im_end|>" becomes its one id, as in llama.cpp with `parse_special`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, decoders, models, pre_tokenizers
from tokenizers import Tokenizer as HFTokenizer

from . import faults as _faults

# ggml token types (gguf.TokenType): the ones that are special tokens, not text pieces.
_CONTROL, _USER_DEFINED = 3, 4


def _gpt2_pre() -> pre_tokenizers.PreTokenizer:
    return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)


PRE_TOKENIZERS = {
    "gpt-2": _gpt2_pre,
    "smollm": lambda: pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), _gpt2_pre()]),
    "starcoder": lambda: pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), _gpt2_pre()]),
}


class TokenizerError(ValueError):
    """A model file whose tokenizer cannot be built (unsupported model or pre-tokenizer)."""


@dataclass
class Tokenizer:
    """Encode text to ids and decode ids to text; render chat prompts."""

    hf: HFTokenizer
    bos_id: int | None = None
    eos_id: int | None = None
    add_bos: bool = False
    chat_template: str | None = None
    source: str = ""
    special_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def vocab_size(self) -> int:
        return self.hf.get_vocab_size(with_added_tokens=True)

    def token(self, i: int) -> str | None:
        return self.hf.id_to_token(int(i))

    def encode(self, text: str, add_bos: bool | None = None) -> list[int]:
        """Token ids of `text`; special-token text maps to its id. BOS only where the
        file asks for it (`add_bos`; SmolLM2's does not)."""
        ids = self.hf.encode(text, add_special_tokens=False).ids
        if _faults.on("tokenizer_adds_bos") is not None:  # a fault, on purpose
            add_bos = True
        if (self.add_bos if add_bos is None else add_bos) and self.bos_id is not None:
            ids = [self.bos_id, *ids]
        return ids

    def decode(self, ids: Sequence[int], skip_special: bool = False) -> str:
        return self.hf.decode([int(i) for i in ids], skip_special_tokens=skip_special)

    def chat_prompt(self, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = True) -> str:
        """The chat template rendered for `messages` (Jinja2, as transformers renders it)."""
        from .chat import render_chat  # noqa: PLC0415 - jinja2 only when chatting

        if not self.chat_template:
            raise TokenizerError(f"{self.source or 'this tokenizer'} carries no chat template")
        return render_chat(self.chat_template, messages, add_generation_prompt,
                           bos_token=self._text(self.bos_id), eos_token=self._text(self.eos_id))

    def _text(self, i: int | None) -> str:
        return "" if i is None else (self.token(i) or "")

    # -- construction -----------------------------------------------------------------

    @classmethod
    def from_bpe(cls, tokens: Sequence[str], merges: Sequence[str], token_types: Sequence[int],
                 pre: str, **kw: Any) -> Tokenizer:
        """A byte-level BPE from a GGUF's `tokenizer.ggml.*` arrays."""
        make_pre = PRE_TOKENIZERS.get(pre)
        if make_pre is None:
            raise TokenizerError(f"pre-tokenizer {pre!r} is not supported (supported: "
                                 f"{', '.join(sorted(PRE_TOKENIZERS))})")
        vocab = {t: i for i, t in enumerate(tokens)}
        if len(vocab) != len(tokens):
            raise TokenizerError("the token list holds duplicate tokens")
        pairs = []
        for m in merges:
            a, sep, b = m.partition(" ")
            if not sep:
                raise TokenizerError(f"merge {m!r} is not two tokens separated by a space")
            pairs.append((a, b))
        tk = HFTokenizer(models.BPE(vocab=vocab, merges=pairs, fuse_unk=False, byte_fallback=False))
        tk.pre_tokenizer = make_pre()
        tk.decoder = decoders.ByteLevel()
        special = [i for i, t in enumerate(token_types) if int(t) in (_CONTROL, _USER_DEFINED)]
        tk.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False) for i in special])
        return cls(tk, special_ids=frozenset(special), **kw)

    @classmethod
    def from_gguf(cls, path: str | os.PathLike[str]) -> Tokenizer:
        """The tokenizer a GGUF file describes; TokenizerError if it holds none we build."""
        from .formats import gguf_check  # noqa: PLC0415 - gguf only for GGUF files

        path = os.fspath(path)
        meta = gguf_check.scan(path).metadata
        kind = meta.get("tokenizer.ggml.model")
        if kind != "gpt2":
            raise TokenizerError(f"{path}: tokenizer.ggml.model {kind!r} is not supported "
                                 "(only 'gpt2', byte-level BPE)")
        from gguf import GGUFReader  # noqa: PLC0415 - the full arrays (scan only sizes them)

        fields = GGUFReader(path).fields

        def array(key: str) -> list:
            if key not in fields:
                raise TokenizerError(f"{path}: no {key}")
            return list(fields[key].contents())

        def opt_int(key: str) -> int | None:
            v = meta.get(key)
            return None if v is None else int(v)

        return cls.from_bpe(
            array("tokenizer.ggml.tokens"), array("tokenizer.ggml.merges"),
            array("tokenizer.ggml.token_type"), str(meta.get("tokenizer.ggml.pre", "gpt-2")),
            bos_id=opt_int("tokenizer.ggml.bos_token_id"), eos_id=opt_int("tokenizer.ggml.eos_token_id"),
            add_bos=bool(meta.get("tokenizer.ggml.add_bos_token", False)),
            chat_template=meta.get("tokenizer.chat_template"), source=path)

    @classmethod
    def from_hf_dir(cls, path: str | os.PathLike[str]) -> Tokenizer:
        """`tokenizer.json` (+ `tokenizer_config.json`) of an HF model directory."""
        d = Path(path)
        tk = HFTokenizer.from_file(str(d / "tokenizer.json"))
        cfg_file = d / "tokenizer_config.json"
        cfg = json.loads(cfg_file.read_text(encoding="utf-8")) if cfg_file.is_file() else {}

        def token_id(key: str) -> int | None:
            v = cfg.get(key)
            if isinstance(v, dict):
                v = v.get("content")
            return None if v is None else tk.token_to_id(str(v))

        special = frozenset(i for i, t in tk.get_added_tokens_decoder().items() if t.special)
        return cls(tk, bos_id=token_id("bos_token"), eos_id=token_id("eos_token"),
                   add_bos=bool(cfg.get("add_bos_token", False)),
                   chat_template=cfg.get("chat_template"), source=str(d), special_ids=special)

    def save_hf(self, path: str | os.PathLike[str]) -> None:
        """Write `tokenizer.json` and `tokenizer_config.json` into an HF directory."""
        d = Path(path)
        d.mkdir(parents=True, exist_ok=True)
        self.hf.save(str(d / "tokenizer.json"))
        cfg: dict[str, Any] = {"add_bos_token": self.add_bos, "tokenizer_class": "PreTrainedTokenizerFast"}
        for key, i in (("bos_token", self.bos_id), ("eos_token", self.eos_id)):
            if i is not None:
                cfg[key] = self._text(i)
        if self.chat_template:
            cfg["chat_template"] = self.chat_template
        (d / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")


def load_tokenizer(path: str | os.PathLike[str], strict: bool = False) -> Tokenizer | None:
    """The tokenizer stored with a model (GGUF metadata or an HF directory's
    tokenizer.json). Where the file carries none that we can build: None, or with
    `strict` a TokenizerError that says why."""
    p = Path(path)
    try:
        if p.is_dir():
            if not (p / "tokenizer.json").is_file():
                raise TokenizerError(f"{p}: no tokenizer.json")
            return Tokenizer.from_hf_dir(p)
        return Tokenizer.from_gguf(p)
    except (TokenizerError, ValueError, OSError) as e:  # FormatError is a ValueError
        if strict:
            raise e if isinstance(e, TokenizerError) else TokenizerError(str(e)) from None
        return None
