"""FALSIFY-QW2E-SHIP-003: the per-tensor sweep between an HF checkpoint and its GGUF.

Floors (docs/formats.md derives them):
- F32: identical, bit for bit (floor 1.0).
- Q8_0: cosine >= 0.9996. Per element |err| <= d/2 + 127*d*2^-11 with d = amax/127
  (rounding, plus the fp16 rounding of d), so per 32-block |e|/|x| <= sqrt(32) *
  (1/254 + 1/2048) = 0.0250 and cos >= sqrt(1 - 0.025^2) = 0.99969 for any weights whose
  block scales are normal fp16: a worst-case bound, not a statistical one.
- Q4_K: cosine >= 0.99. No worst-case bound exists (the scale search and 6-bit
  super-block scales can clip a sub-block), so the floor is statistical: init-scale
  Gaussian/t weights land at 0.997 (1 - cos = 2.5e-3); the floor allows 4x that.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from _gguf_fixtures import QUANTIZABLE, random_weights, tensor_span, write_hf_dir

from aprcore.cli import main as aprcore_main
from aprcore.formats import gguf_io
from aprcore.formats.diff import diff_files

FLOORS = {None: 1.0, "Q8_0": 0.9996, "Q4_K": 0.99}


@pytest.fixture(scope="module", params=["qwen2", "llama"])
def pair(request, tmp_path_factory):
    """An HF checkpoint and its GGUFs in F32, Q8_0 and Q4_K."""
    arch = request.param
    d = tmp_path_factory.mktemp(f"sweep_{arch}")
    cfg = QUANTIZABLE[arch]
    w = random_weights(cfg, seed=1)
    hf = write_hf_dir(d / "hf", cfg, w)
    ggufs = {}
    for qt in FLOORS:
        ggufs[qt] = d / f"model-{qt or 'F32'}.gguf"
        gguf_io.write_model(ggufs[qt], cfg, w, quant=qt)
    return cfg, w, hf, ggufs


def _run_cli(*argv: str) -> int:
    return aprcore_main(["diff", *argv])


@pytest.mark.falsifier("FALSIFY-QW2E-SHIP-003")
@pytest.mark.parametrize("qtype", [None, "Q8_0", "Q4_K"])
def test_sweep_passes_at_the_formats_floor(pair, qtype, record_property):
    cfg, _, hf, ggufs = pair
    r = diff_files(hf, ggufs[qtype], floor=FLOORS[qtype])
    cosines = [t.cosine for t in r.tensors]
    record_property("cosine", min(cosines))
    record_property("tensors", len(r.tensors))
    assert r.verdict == "PASS", [(t.name, t.status, t.cosine) for t in r.failing]
    assert not r.only_in_a and not r.only_in_b
    assert len(r.tensors) == len(gguf_io.expected_shapes(cfg))
    if qtype is None:
        assert all(t.status == "identical" for t in r.tensors)
    else:  # norms and biases stay F32 and so stay identical; the matrices are quantized
        quantized = [t for t in r.tensors if t.dtype_b == qtype]
        assert quantized and all(t.status == "pass" for t in quantized)


@pytest.mark.falsifier("FALSIFY-QW2E-SHIP-003")
@pytest.mark.parametrize("how", ["random bytes", "half zeroed", "rows swapped"])
def test_sweep_fails_naming_one_corrupted_q4k_tensor(pair, how, tmp_path, capsys):
    cfg, _, hf, ggufs = pair
    bad = tmp_path / "corrupt.gguf"
    shutil.copy(ggufs["Q4_K"], bad)
    off, n = tensor_span(bad, "blk.1.ffn_down.weight")
    raw = bytearray(bad.read_bytes())
    rng = np.random.default_rng(0)
    if how == "random bytes":
        raw[off:off + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    elif how == "half zeroed":
        raw[off:off + n // 2] = bytes(n // 2)
    else:  # the first and last rows trade places: every byte still a valid block
        row = n // cfg.hidden_size
        first, last = raw[off:off + row], raw[off + n - row:off + n]
        raw[off:off + row], raw[off + n - row:off + n] = last, first
    bad.write_bytes(bytes(raw))
    r = diff_files(hf, bad, floor=FLOORS["Q4_K"])
    assert r.verdict == "FAIL"
    assert [t.name for t in r.failing] == ["model.layers.1.mlp.down_proj.weight"]
    assert _run_cli(str(hf), str(bad), "--floor", "0.99") == 1
    assert "model.layers.1.mlp.down_proj.weight" in capsys.readouterr().out


@pytest.mark.falsifier("FALSIFY-QW2E-SHIP-003")
def test_f32_sweep_fails_on_a_single_changed_element(pair, tmp_path):
    cfg, w, hf, ggufs = pair
    bad = tmp_path / "one-ulp.gguf"
    shutil.copy(ggufs[None], bad)
    off, _ = tensor_span(bad, "blk.0.ffn_gate.weight")
    raw = bytearray(bad.read_bytes())
    v = np.frombuffer(raw[off:off + 4], np.float32)[0]
    raw[off:off + 4] = np.nextafter(v, np.float32(np.inf)).tobytes()
    bad.write_bytes(bytes(raw))
    r = diff_files(hf, bad, floor=1.0)
    assert [t.name for t in r.failing] == ["model.layers.0.mlp.gate_proj.weight"]
    assert r.failing[0].identical == r.failing[0].n - 1


@pytest.mark.falsifier("FALSIFY-QW2E-SHIP-003")
@pytest.mark.parametrize("tensor", ["model.layers.0.self_attn.o_proj.weight",  # square
                                    "model.layers.1.mlp.gate_proj.weight"])   # [512, 256]
def test_sweep_fails_on_a_transposed_tensor_unless_transpose_aware(pair, tensor, tmp_path):
    cfg, w, hf, ggufs = pair
    flipped = dict(w)
    flipped[tensor] = np.ascontiguousarray(w[tensor].T)
    hf_t = tmp_path / "hf_transposed"
    write_hf_dir(hf_t, cfg, flipped)  # an exporter that stored one weight as [in, out]
    r = diff_files(hf_t, ggufs[None], floor=1.0)
    assert r.verdict == "FAIL"
    assert [t.name for t in r.failing] == [tensor]
    assert _run_cli(str(hf_t), str(ggufs[None]), "--floor", "1") == 1
    aware = diff_files(hf_t, ggufs[None], floor=0.999, transpose_aware=True)
    assert aware.verdict == "PASS"
    assert [t.name for t in aware.tensors if t.status == "transposed"] == [tensor]


@pytest.mark.falsifier("FALSIFY-QW2E-SHIP-003", level="live")
@pytest.mark.skipif(not (os.environ.get("APRCORE_REAL_HF") and os.environ.get("APRCORE_REAL_GGUF")),
                    reason="set APRCORE_REAL_HF (HF directory) and APRCORE_REAL_GGUF (its GGUF) to run on a real pair")
def test_sweep_on_a_real_pair(record_property):
    floor = float(os.environ.get("APRCORE_REAL_FLOOR", "0.99"))
    r = diff_files(Path(os.environ["APRCORE_REAL_HF"]), Path(os.environ["APRCORE_REAL_GGUF"]), floor=floor)
    record_property("cosine", min(t.cosine for t in r.tensors if t.cosine is not None))
    record_property("parameters", r.parameters)
    assert r.verdict == "PASS", [(t.name, t.status, t.cosine) for t in r.failing][:10]
