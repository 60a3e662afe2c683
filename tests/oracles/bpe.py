"""A from-scratch byte-level BPE: the reference the `tokenizers`-built tokenizer is held to.

Written from the GPT-2 paper's recipe and llama.cpp's `llm_tokenizer_bpe`, sharing no
code with `tokenizers`: split special tokens out of the text, split the rest with the
pre-tokenizer's regexes (llama.cpp's list for `smollm`: `\\p{N}` first, then GPT-2's),
map each piece's UTF-8 bytes to GPT-2's printable symbols, then merge adjacent symbol
pairs by rank (lowest first) until no ranked pair is left, and look the symbols up.
Slow (pure Python) and plain, so that it is easy to check by reading.
"""

from __future__ import annotations

import regex

GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
PRE_PATTERNS = {"gpt-2": [GPT2_PATTERN], "smollm": [r"\p{N}", GPT2_PATTERN]}


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's map from the 256 byte values to printable characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs), strict=True))


def _split(text: str, pattern: str) -> list[str]:
    """llama.cpp's unicode_regex_split step: matches and the text between them, in order."""
    out, pos = [], 0
    for m in regex.finditer(pattern, text):
        if m.start() > pos:
            out.append(text[pos:m.start()])
        out.append(m.group())
        pos = m.end()
    if pos < len(text):
        out.append(text[pos:])
    return [p for p in out if p]


class ReferenceBPE:
    def __init__(self, tokens: list[str], merges: list[str], special: list[str], pre: str) -> None:
        self.vocab = {t: i for i, t in enumerate(tokens)}
        self.ranks = {tuple(m.split(" ", 1)): r for r, m in enumerate(merges)}
        self.special = sorted(special, key=len, reverse=True)
        self.patterns = PRE_PATTERNS[pre]
        self.byte_map = bytes_to_unicode()

    def _bpe(self, word: str) -> list[str]:
        syms = list(word)
        while len(syms) > 1:
            pairs = [(self.ranks.get((a, b)), i) for i, (a, b) in enumerate(zip(syms, syms[1:], strict=False))]
            ranked = [p for p in pairs if p[0] is not None]
            if not ranked:
                break
            _, i = min(ranked)
            syms[i:i + 2] = [syms[i] + syms[i + 1]]
        return syms

    def _pieces(self, text: str) -> list[str]:
        pieces = [text]
        for pattern in self.patterns:
            pieces = [q for p in pieces for q in _split(p, pattern)]
        return pieces

    def representable(self, text: str) -> bool:
        """Whether every byte of `text` has its symbol in the vocabulary."""
        return all(self.byte_map[b] in self.vocab for b in text.encode("utf-8"))

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        if not self.special:
            chunks = [(text, False)]
        else:
            parts = regex.split("(" + "|".join(regex.escape(s) for s in self.special) + ")", text)
            chunks = [(p, p in self.special) for p in parts if p]
        for chunk, is_special in chunks:
            if is_special:
                ids.append(self.vocab[chunk])
                continue
            for piece in self._pieces(chunk):
                word = "".join(self.byte_map[b] for b in piece.encode("utf-8"))
                # A byte whose symbol is not in the vocabulary is dropped before merging, as
                # `tokenizers` drops it (SmolLM2's lacks 0x04 0x06 0x13 0x14 0x16 0x1d 0xf1 0xf2
                # and the non-UTF-8 bytes); llama.cpp instead keeps it as a merge barrier and
                # drops it afterwards, so the two differ on such text (docs/aprcore.md).
                word = "".join(ch for ch in word if ch in self.vocab)
                ids.extend(self.vocab[s] for s in self._bpe(word))
        return ids
