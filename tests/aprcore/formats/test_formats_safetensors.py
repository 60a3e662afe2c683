"""The one safetensors module: validated headers, BF16 without torch, atomic writes."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from aprcore.formats import safetensors
from aprcore.formats.errors import FormatError


def _bf16_file(path, values: np.ndarray) -> None:
    """A safetensors file holding one BF16 tensor (the top 16 bits of each float32)."""
    raw = (values.astype(np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
    header = json.dumps({"w": {"dtype": "BF16", "shape": list(values.shape), "data_offsets": [0, len(raw)]}})
    header += " " * (-len(header) % 8)
    path.write_bytes(struct.pack("<Q", len(header)) + header.encode() + raw)


def test_bf16_reads_as_float32_without_torch(tmp_path):
    values = np.array([[1.0, -2.5], [0.15625, 2.0**120]], np.float32)  # all exact in bfloat16
    _bf16_file(tmp_path / "m.safetensors", values)
    info = safetensors.read_header(tmp_path / "m.safetensors")["w"]
    got = safetensors.read_tensor(tmp_path / "m.safetensors", info)
    assert got.dtype == np.float32 and np.array_equal(got, values)


def test_write_then_read_round_trips_and_leaves_no_temporary(tmp_path):
    t = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "ids": np.array([3, 1], np.int64)}
    safetensors.write_file(tmp_path / "m.safetensors", t)
    back = safetensors.read_files([tmp_path / "m.safetensors"])
    assert back["a"].tobytes() == t["a"].tobytes() and back["ids"].tolist() == [3, 1]
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "m.safetensors"
    safetensors.write_file(path, {"a": np.zeros(2, np.float32)})
    before = path.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 - safetensors' own error type for a bad value
        safetensors.write_file(path, {"a": object()})
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_a_tensor_in_two_shards_is_an_error(tmp_path):
    for name in ("model-1.safetensors", "model-2.safetensors"):
        safetensors.write_file(tmp_path / name, {"a": np.zeros(2, np.float32)})
    with pytest.raises(FormatError, match="also in another file"):
        safetensors.read_files(sorted(tmp_path.iterdir()))


def test_a_corrupt_header_is_a_format_error(tmp_path):
    (tmp_path / "m.safetensors").write_bytes(struct.pack("<Q", 10**9) + b"{}")
    with pytest.raises(FormatError, match="not a readable safetensors file"):
        safetensors.read_header(tmp_path / "m.safetensors")
