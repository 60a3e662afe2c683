"""HF directory mutants: the safetensors file and config.json, through aprcore.load,
`python -m aprcore inspect` and `diff`.

safetensors: the header (an 8-byte length, then JSON) is edited as data: offsets that
overlap, run out of bounds or are reversed, dtypes that change the bytes' meaning or
size, shapes that disagree with the config, lying header lengths, broken JSON. A tensor
of another dtype than a float one (I32 in place of F32) must be refused, not converted.
config.json: wrong types, missing keys, zero, negative and absurd sizes, NaN and infinite
values must be a ConfigError naming the key, with sizes bounded before anything is
allocated (a case runs under a 1 GiB memory cap).
"""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Iterator
from pathlib import Path

from . import entry, models
from .case import EITHER, REFUSE, Case
from .gen_gguf import _diff_oracle


def _split(data: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack_from("<Q", data)
    return json.loads(data[8:8 + n]), data[8 + n:]


def _join(header: dict, body: bytes) -> bytes:
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + body


def _tensors(header: dict) -> list[str]:
    return sorted(k for k in header if k != "__metadata__")


def mutate_safetensors(rng: random.Random) -> tuple[str, bytes, str, bool]:
    """(name, file bytes, expectation, weights may change)."""
    data = models.base()["safetensors"]
    header, body = _split(data)
    names = _tensors(header)
    size = {k: header[k]["data_offsets"][1] - header[k]["data_offsets"][0] for k in names}
    kind = rng.choice(["overlap", "oob", "reverse", "dtype", "dtype", "shape", "length", "json",
                       "missing", "extra", "flip", "truncate", "metadata"])
    if kind == "overlap":
        a, b = rng.choice([(a, b) for a in names for b in names if a != b and size[a] == size[b]])
        header[a]["data_offsets"] = list(header[b]["data_offsets"])
        return f"{a} points at {b}'s bytes", _join(header, body), REFUSE, False
    if kind == "oob":
        t = rng.choice(names)
        start = rng.choice([len(body), 2**40, 2**63])
        header[t]["data_offsets"] = [start, start + size[t]]
        return f"{t} offsets out of bounds", _join(header, body), REFUSE, False
    if kind == "reverse":
        t = rng.choice(names)
        header[t]["data_offsets"] = header[t]["data_offsets"][::-1]
        return f"{t} offsets reversed", _join(header, body), REFUSE, False
    if kind == "dtype":
        t = rng.choice(names)
        d = rng.choice(["I32", "U32", "F16", "BF16", "F64", "I8", "BOOL", "X", ""])
        header[t]["dtype"] = d
        return f"{t} dtype {d!r}", _join(header, body), REFUSE, False
    if kind == "shape":
        t = rng.choice([k for k in names if len(header[k]["shape"]) == 2
                        and header[k]["shape"][0] != header[k]["shape"][1]])
        header[t]["shape"] = header[t]["shape"][::-1]
        return f"{t} shape transposed", _join(header, body), REFUSE, False
    if kind == "length":
        n = rng.choice([0, 7, 2**63, 2**64 - 1, len(data)])
        return f"header length {n}", struct.pack("<Q", n) + data[8:], REFUSE, False
    if kind == "json":
        raw = data[8:8 + struct.unpack_from("<Q", data)[0]]
        at = rng.randrange(len(raw))
        bad = raw[:at] + rng.choice([b"\xff", b"{", b"]", b"\x00", b'"']) + raw[at + 1:]
        return f"header byte {at} broken", struct.pack("<Q", len(bad)) + bad + body, EITHER, False
    if kind == "missing":
        t = rng.choice(names)
        del header[t]
        return f"{t} missing from the header", _join(header, body), REFUSE, False
    if kind == "extra":
        header["model.extra.weight"] = {"dtype": "F32", "shape": [1], "data_offsets": [len(body), len(body) + 4]}
        return "an extra tensor", _join(header, body + b"\0\0\0\0"), EITHER, False
    if kind == "flip":
        pos = rng.randrange(len(body))
        b = bytearray(body)
        b[pos] ^= 1 << rng.randrange(8)
        return f"data bit flip at {pos}", _join(header, bytes(b)), EITHER, True
    if kind == "truncate":
        cut = rng.randrange(len(data))
        return f"truncated at {cut}", data[:cut], REFUSE, False
    header["__metadata__"] = rng.choice([{"format": 3}, [1], "x", {"a": {"b": 1}}])
    return "odd __metadata__", _join(header, body), EITHER, False


INT_KEYS = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
            "num_attention_heads", "num_key_value_heads")
FLOAT_KEYS = ("rms_norm_eps", "rope_theta")


def mutate_config(rng: random.Random) -> tuple[str, bytes, str]:
    """(name, config.json bytes, expectation)."""
    name, text, expect = _config_text(rng)
    return name, text if isinstance(text, bytes) else text.encode(), expect


def _config_text(rng: random.Random) -> tuple[str, str | bytes, str]:
    cfg = dict(models.base()["config"])
    kind = rng.choice(["type", "type", "missing", "size", "size", "float", "float", "json", "shape",
                       "nested", "arch"])
    if kind == "type":
        key = rng.choice(INT_KEYS + FLOAT_KEYS + ("max_position_embeddings", "head_dim"))
        v = rng.choice(["64", [64], {"v": 64}, True, None, 64.5, "x"])
        cfg[key] = v
        # a float where a float belongs; null for a key with a default means the default
        valid = (key in FLOAT_KEYS and v == 64.5) or (v is None and key not in INT_KEYS[:5])
        return f"{key} = {json.dumps(v)}", json.dumps(cfg), EITHER if valid else REFUSE
    if kind == "missing":
        key = rng.choice(("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                          "num_attention_heads"))
        del cfg[key]
        return f"{key} missing", json.dumps(cfg), REFUSE
    if kind == "size":
        key = rng.choice(INT_KEYS + ("max_position_embeddings", "head_dim"))
        v = rng.choice([0, -1, -64, 2**31, 2**63, 10**30, 2**31 - 1])
        cfg[key] = v
        # the context length sizes no tensor: any value in range is a valid (if odd) config
        valid = key == "max_position_embeddings" and v == 2**31 - 1
        return f"{key} = {v}", json.dumps(cfg), EITHER if valid else REFUSE
    if kind == "float":
        key = rng.choice(FLOAT_KEYS)
        v = rng.choice([float("nan"), float("inf"), float("-inf"), -1.0, 0.0, "1e-5", 1e308])
        cfg[key] = v
        bad = v != 1e308  # huge but finite and positive: valid by the rule
        return f"{key} = {v!r}", json.dumps(cfg), REFUSE if bad else EITHER
    if kind == "json":
        text = json.dumps(cfg)
        which = rng.choice(["cut", "list", "deep", "utf16", "bom", "number", "dup"])
        if which == "cut":
            return "truncated JSON", text[:rng.randrange(len(text))], REFUSE
        if which == "list":
            return "a JSON list", json.dumps([cfg]), REFUSE
        if which == "deep":
            return "nested 100,000 deep", text[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}", EITHER
        if which == "utf16":
            return "UTF-16", text.encode("utf-16"), REFUSE
        if which == "bom":
            return "UTF-8 BOM", "\ufeff" + text, EITHER
        if which == "number":
            return "a 5,000-digit number", text[:-1] + ', "x": ' + "9" * 5000 + "}", EITHER
        return "duplicate key", text[:-1] + ', "hidden_size": 32}', EITHER
    if kind == "shape":
        which = rng.choice(["indivisible", "kv", "odd_head_dim"])
        if which == "indivisible":
            cfg["num_attention_heads"] = 3
        elif which == "kv":
            cfg["num_key_value_heads"] = 3
        else:
            cfg["head_dim"] = 15
        return f"shape: {which}", json.dumps(cfg), REFUSE
    if kind == "nested":
        which = rng.choice([("text_config", "x"), ("text_config", [1]), ("rope_scaling", "linear"),
                            ("rope_scaling", [1]), ("rope_scaling", {"rope_type": "yarn"}),
                            ("rope_parameters", {"rope_theta": "x"}), ("hidden_act", ["silu"]),
                            ("hidden_act", "gelu")])
        cfg[which[0]] = which[1]
        if which[0] == "text_config":
            del cfg["hidden_size"]
        return f"{which[0]} = {json.dumps(which[1])}", json.dumps(cfg), REFUSE
    v = rng.choice([None, 5, "bert", ["llama"], "LLAMA"])
    cfg["model_type"] = v
    if v is None:
        cfg["architectures"] = rng.choice([None, "LlamaForCausalLM", [5], []])
    ok = v == "LLAMA" or (v is None and cfg["architectures"] == "LlamaForCausalLM")
    return f"model_type {v!r}, architectures {cfg['architectures']!r}", json.dumps(cfg), EITHER if ok else REFUSE


def _make(st: bytes, cfg: bytes):
    def make(d: Path) -> None:
        for name, s, c in (("hf", st, cfg), ("orig", models.base()["safetensors"],
                                             json.dumps(models.base()["config"]).encode())):
            (d / name).mkdir()
            (d / name / "model.safetensors").write_bytes(s)
            (d / name / "config.json").write_bytes(c)

    return make


def _hf_cases(cls: str, rng: random.Random, n: int, mutate) -> Iterator[Case]:
    for i in range(n):
        name, make, expect, may_change = mutate(i)
        which = rng.choice(["load", "load", "load", "inspect", "diff"])
        if which == "load":
            yield Case(cls, name, "aprcore.load", make, lambda: entry.load("hf"), expect,
                       lambda w, r, m=may_change: models.loaded_as_written(r, m))
        elif which == "inspect":
            yield Case(cls, name, "python -m aprcore inspect", make, lambda: entry.apr("inspect", "hf"), EITHER)
        else:
            yield Case(cls, name, "python -m aprcore diff", make,
                       lambda: entry.apr("diff", "hf", "orig", "--json"), EITHER, _diff_oracle, time_s=60)


def safetensors_cases(rng: random.Random, n: int) -> Iterator[Case]:
    cfg = json.dumps(models.base()["config"]).encode()

    def mutate(i: int):
        if i == 0:
            return "valid directory", _make(models.base()["safetensors"], cfg), "accept", False
        name, st, expect, may_change = mutate_safetensors(rng)
        return name, _make(st, cfg), expect, may_change

    return _hf_cases("safetensors", rng, n, mutate)


def config_cases(rng: random.Random, n: int) -> Iterator[Case]:
    st = models.base()["safetensors"]

    def mutate(i: int):
        if i == 0:
            return "400-byte config, 2**31 layers", _make(st, json.dumps(
                {**models.base()["config"], "num_hidden_layers": 2147483648}).encode()), REFUSE, False
        name, text, expect = mutate_config(rng)
        return name, _make(st, text), expect, False

    return _hf_cases("config.json", rng, n, mutate)

