"""GGUF mutants through aprcore.load, `python -m aprcore inspect` and `diff`.

Positions come from gguf's own reader (each field's parts lie back to back from the
field's offset), so a mutation edits exactly one metadata value, value type or tensor
table entry. Rules, as llama.cpp's gguf loader applies them: tensor data must follow
the table in order, each at the aligned end of the previous (no overlap, no gap, no
out-of-bounds range); head counts are positive; hyperparameters have their spec types;
eps and theta are finite and positive (a zero eps turns an all-zero row into NaN, a zero
theta makes every rotation frequency 0 or infinite).
"""

from __future__ import annotations

import functools
import os
import random
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path

from . import entry, models
from .case import ACCEPTED, EITHER, REFUSE, Case

ARCH = "llama"


@functools.cache
def layout() -> dict:
    """Byte positions in the base file: {'kv': {key: (type_pos, value_pos, type)},
    'tensors': [(name, type_pos, offset_pos, data_offset, nbytes, dims_pos, dims)],
    'data_start': int, 'data_end': int}."""
    import gguf

    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "m.gguf"
        p.write_bytes(models.base()["gguf"])
        r = gguf.GGUFReader(p)
        kv = {}
        for key, f in r.fields.items():
            if key.startswith("GGUF.") or len(f.parts) != 4:  # scalars only
                continue
            starts = [f.offset]
            for part in f.parts:
                starts.append(starts[-1] + part.nbytes)
            kv[key] = (starts[2], starts[3], int(f.types[0]))
        tensors = []
        for t in r.tensors:
            starts = [t.field.offset]
            for part in t.field.parts:
                starts.append(starts[-1] + part.nbytes)
            tensors.append((t.name, starts[4], starts[5], int(t.data_offset), int(t.n_bytes),
                            starts[3], [int(x) for x in t.field.parts[3]]))
        data_start = min(t[3] for t in tensors)
        end = max(t[3] + t[4] for t in tensors)
    return {"kv": kv, "tensors": tensors, "data_start": data_start, "data_end": end}


def _put(data: bytearray, pos: int, fmt: str, value) -> None:
    struct.pack_into(fmt, data, pos, value)


def _value_fmt(vtype: int) -> str:
    return {4: "<I", 5: "<i", 6: "<f", 10: "<Q", 11: "<q", 12: "<d", 7: "<?"}[vtype]


def _mutate(rng: random.Random) -> tuple[str, bytes, str, bool]:
    """(name, bytes, expectation, weights may change) of one mutant of the base file."""
    data = bytearray(models.base()["gguf"])
    lay = layout()
    kv, tensors = lay["kv"], lay["tensors"]
    rel = {t[0]: t[3] - lay["data_start"] for t in tensors}
    kind = rng.choice(["overlap", "overlap", "oob", "swap", "gap", "misalign", "heads", "float",
                       "type", "type", "hyper", "flip_header", "flip_header", "flip_data",
                       "truncate", "append", "shape"])
    if kind == "overlap":  # another tensor of the same size: loads without a shape error
        same = [(a, b) for a in tensors for b in tensors if a[0] != b[0] and a[4] == b[4]]
        a, b = rng.choice(same)
        _put(data, a[2], "<Q", rel[b[0]])
        return f"{a[0]} points at {b[0]}'s bytes", bytes(data), REFUSE, False
    if kind == "oob":
        t = rng.choice(tensors)
        off = rng.choice([len(data), 2**40, 2**64 - 32, len(data) - lay["data_start"] - 32])
        _put(data, t[2], "<Q", off - off % 32)
        return f"{t[0]} data offset {off - off % 32}", bytes(data), REFUSE, False
    if kind == "swap":
        same = [(a, b) for a in tensors for b in tensors if a[0] < b[0] and a[4] == b[4]]
        a, b = rng.choice(same)
        _put(data, a[2], "<Q", rel[b[0]])
        _put(data, b[2], "<Q", rel[a[0]])
        return f"{a[0]} and {b[0]} data swapped (misordered)", bytes(data), REFUSE, False
    if kind == "gap":
        i = rng.randrange(1, len(tensors))
        t = tensors[i]
        _put(data, t[2], "<Q", rel[t[0]] + 32)
        return f"{t[0]} data 32 bytes late (a gap)", bytes(data), REFUSE, False
    if kind == "misalign":
        t = rng.choice(tensors)
        _put(data, t[2], "<Q", rel[t[0]] + rng.choice([1, 4, 16]))
        return f"{t[0]} data offset misaligned", bytes(data), REFUSE, False
    if kind == "heads":
        key = rng.choice([f"{ARCH}.attention.head_count", f"{ARCH}.attention.head_count_kv"])
        v = rng.choice([0, 3, 2**31, 2**32 - 1])
        _put(data, kv[key][1], "<I", v)
        return f"{key} = {v}", bytes(data), REFUSE, False
    if kind == "float":
        key = rng.choice([f"{ARCH}.rope.freq_base", f"{ARCH}.attention.layer_norm_rms_epsilon"])
        v = rng.choice([float("nan"), float("inf"), float("-inf"), -1.0, -1e-6, 0.0])
        _put(data, kv[key][1], "<f", v)
        return f"{key} = {v}", bytes(data), REFUSE, False
    if kind == "type":  # same width, another type: the bytes read as something else
        # Only the hyperparameters ({arch}.*) are held to their spec type; aprcore does not
        # read the tokenizer's keys.
        key = rng.choice([k for k, (_, _, t) in kv.items() if t in (4, 6) and k.startswith(ARCH)])
        tpos, _, vtype = kv[key]
        new = {4: rng.choice([5, 6]), 6: rng.choice([4, 5])}[vtype]
        _put(data, tpos, "<I", new)
        return f"{key} typed {new} instead of {vtype}", bytes(data), REFUSE, False
    if kind == "hyper":
        key = rng.choice([f"{ARCH}.embedding_length", f"{ARCH}.block_count", f"{ARCH}.feed_forward_length",
                          f"{ARCH}.vocab_size", f"{ARCH}.context_length"])
        v = rng.choice([0, 1, 2**31, 2**32 - 1, 63])
        _put(data, kv[key][1], "<I", v)
        free = key.endswith(("context_length", "vocab_size"))  # not tied to a tensor shape
        return f"{key} = {v}", bytes(data), EITHER if free else REFUSE, False
    if kind == "flip_header":
        pos = rng.randrange(4, lay["data_start"])
        data[pos] ^= 1 << rng.randrange(8)
        return f"header bit flip at {pos}", bytes(data), EITHER, False
    if kind == "flip_data":
        pos = rng.randrange(lay["data_start"], lay["data_end"])
        data[pos] ^= 1 << rng.randrange(8)
        return f"data bit flip at {pos}", bytes(data), EITHER, True
    if kind == "truncate":
        cut = rng.randrange(0, lay["data_end"])
        return f"truncated at {cut}", bytes(data[:cut]), REFUSE, False
    if kind == "append":
        return "junk appended", bytes(data) + os.urandom(rng.randrange(1, 100)), EITHER, False
    # shape: the two dimensions of a non-square tensor swapped (the same byte count)
    t = rng.choice([t for t in tensors if len(t[6]) == 2 and t[6][0] != t[6][1]])
    _put(data, t[5], "<Q", t[6][1])
    _put(data, t[5] + 8, "<Q", t[6][0])
    return f"{t[0]} dims swapped", bytes(data), REFUSE, False


SPECIAL = [
    ("empty file", b"", REFUSE),
    ("magic only", b"GGUF", REFUSE),
    ("a directory named m.gguf", None, REFUSE),
    ("a FIFO named m.gguf", "fifo", REFUSE),
    ("8 GB sparse file", "sparse", REFUSE),
    ("valid file", "base", "accept"),
]


def _make(content):
    def make(d: Path) -> None:
        p = d / "m.gguf"
        if content is None:
            p.mkdir()
        elif content == "fifo":
            os.mkfifo(p)
        elif content == "sparse":
            with p.open("wb") as f:
                f.truncate(8 * 1024**3)
        else:
            p.write_bytes(models.base()["gguf"] if content == "base" else content)
        (d / "orig.gguf").write_bytes(models.base()["gguf"])

    return make


def _diff_oracle(work, run):
    if run.rc == 1 and "Traceback" not in run.err and run.out.strip():
        return ACCEPTED, "differs"  # the diff's verdict: the files differ, a correct answer
    return None


def cases(rng: random.Random, n: int) -> Iterator[Case]:
    for i in range(n):
        if i < len(SPECIAL):
            name, content, expect = SPECIAL[i]
            weights_may_change = False
        else:
            name, content, expect, weights_may_change = _mutate(rng)
        which = rng.choice(["load", "load", "load", "inspect", "diff"])
        if which == "load":
            yield Case("gguf", name, "aprcore.load", _make(content), lambda: entry.load("m.gguf"), expect,
                       lambda w, r, m=weights_may_change: models.loaded_as_written(r, m), time_s=30)
        elif which == "inspect":
            # inspect describes what it can: a bad config is a line of its output, not a refusal
            yield Case("gguf", name, "python -m aprcore inspect", _make(content),
                       lambda: entry.apr("inspect", "m.gguf"), EITHER, time_s=30)
        else:
            yield Case("gguf", name, "python -m aprcore diff", _make(content),
                       lambda: entry.apr("diff", "m.gguf", "orig.gguf", "--json"), EITHER, _diff_oracle,
                       time_s=60)
