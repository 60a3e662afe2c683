"""Bad model files: a clear FormatError naming the file and the problem, CLI exit 2,
never a hang, a huge allocation or a traceback. Plus bounded fuzzing of both readers
with mutated real files."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from _gguf_fixtures import TINY, random_weights  # noqa: E402
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save_file

from aprcore.cli import main as aprcore_main  # noqa: E402
from aprcore.formats import gguf_io  # noqa: E402
from aprcore.formats.errors import FormatError  # noqa: E402
from aprcore.formats.sources import open_source  # noqa: E402

CFG = TINY["tiny-qwen2"]


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("good")
    w = random_weights(CFG, seed=3)
    gguf_io.write_model(d / "m.gguf", CFG, w)
    gguf_io.write_model(d / "q.gguf", CFG.replace(hidden_size=64), w, quant="Q8_0")
    save_file(w, str(d / "m.safetensors"))
    return {k: (d / k).read_bytes() for k in ("m.gguf", "q.gguf", "m.safetensors")}


def _cli(*argv: str) -> int:
    return aprcore_main(argv)


def _expect_format_error(path: Path, fragment: str) -> None:
    with pytest.raises(FormatError) as e:
        gguf_io.read_model(path) if path.suffix == ".gguf" else [open_source(path).load(m.name)
                                                                  for m in open_source(path).tensors()]
    assert str(path) in str(e.value)
    assert fragment in str(e.value), str(e.value)


@pytest.mark.parametrize("cut", [0, 3, 10, 23, 100, 1000, -1000, -1])
def test_truncated_gguf_names_file_and_problem(good, tmp_path, cut, capsys):
    data = good["m.gguf"]
    p = tmp_path / "cut.gguf"
    p.write_bytes(data[:cut] if cut >= 0 else data[:len(data) + cut])
    _expect_format_error(p, "truncated")
    assert _cli("diff", str(p), str(p)) == 2
    assert _cli("inspect", str(p)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(p) in err


def test_wrong_magic(good, tmp_path):
    p = tmp_path / "magic.gguf"
    p.write_bytes(b"GGML" + good["m.gguf"][4:])
    _expect_format_error(p, "not a GGUF file")


def test_unsupported_version(good, tmp_path):
    p = tmp_path / "v.gguf"
    p.write_bytes(good["m.gguf"][:4] + struct.pack("<I", 7) + good["m.gguf"][8:])
    _expect_format_error(p, "unsupported GGUF version 7")


def _patch_tensor_field(data: bytes, tensor: str, field: str, value: int) -> bytes:
    """Rewrite one field of one tensor-table entry (dims[0], type or offset)."""
    raw = bytearray(data)
    name = tensor.encode()
    i = raw.index(struct.pack("<Q", len(name)) + name) + 8 + len(name)
    n_dims = struct.unpack_from("<I", raw, i)[0]
    pos = {"dim0": i + 4, "type": i + 4 + 8 * n_dims, "offset": i + 4 + 8 * n_dims + 4}[field]
    fmt = "<I" if field == "type" else "<Q"
    struct.pack_into(fmt, raw, pos, value)
    return bytes(raw)


def test_tensor_offset_past_the_end(good, tmp_path):
    p = tmp_path / "off.gguf"
    p.write_bytes(_patch_tensor_field(good["m.gguf"], "output_norm.weight", "offset", 1 << 40))
    _expect_format_error(p, "runs past the end")


def test_dimension_overflow(good, tmp_path):
    p = tmp_path / "dims.gguf"
    p.write_bytes(_patch_tensor_field(good["m.gguf"], "token_embd.weight", "dim0", 2**63 + 64))
    _expect_format_error(p, "overflow")


def test_unknown_quant_type(good, tmp_path):
    p = tmp_path / "type.gguf"
    p.write_bytes(_patch_tensor_field(good["m.gguf"], "token_embd.weight", "type", 4242))
    _expect_format_error(p, "unknown ggml type 4242")


def test_type_that_does_not_fit_the_row(good, tmp_path):
    # Q4_K needs rows of 256 weights; this embedding has rows of 64
    p = tmp_path / "rows.gguf"
    p.write_bytes(_patch_tensor_field(good["m.gguf"], "token_embd.weight", "type", 12))
    _expect_format_error(p, "not a multiple of its block size")


def test_shape_that_does_not_fit_the_config(good, tmp_path):
    p = tmp_path / "shape.gguf"
    p.write_bytes(_patch_tensor_field(good["m.gguf"], "blk.0.ffn_norm.weight", "dim0", 32))
    # half the bytes: the next tensor's data no longer follows it (llama.cpp's rule)
    _expect_format_error(p, "after 'blk.0.ffn_norm.weight'")


def test_huge_array_count_fails_fast_instead_of_looping(good, tmp_path):
    raw = bytearray(good["m.gguf"])
    key = b"tokenizer.ggml.scores"
    i = raw.index(struct.pack("<Q", len(key)) + key) + 8 + len(key) + 4 + 4  # type, item type
    struct.pack_into("<Q", raw, i, 2**62)
    p = tmp_path / "count.gguf"
    p.write_bytes(bytes(raw))
    _expect_format_error(p, "array 'tokenizer.ggml.scores'")


def test_huge_metadata_count(good, tmp_path):
    raw = bytearray(good["m.gguf"])
    struct.pack_into("<Q", raw, 16, 2**60)
    p = tmp_path / "kv.gguf"
    p.write_bytes(bytes(raw))
    _expect_format_error(p, "metadata count")


def test_unsupported_architecture(tmp_path):
    import gguf

    w = gguf.GGUFWriter(tmp_path / "bert.gguf", "bert")
    w.add_tensor("token_embd.weight", np.zeros((4, 32), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    _expect_format_error(tmp_path / "bert.gguf", "architecture 'bert' is not supported")


def test_safetensors_header_longer_than_the_file(good, tmp_path):
    raw = bytearray(good["m.safetensors"])
    struct.pack_into("<Q", raw, 0, len(raw) * 4)
    p = tmp_path / "len.safetensors"
    p.write_bytes(bytes(raw))
    _expect_format_error(p, "not a readable safetensors file")


@pytest.mark.parametrize("lie", ["offsets past the end", "shape larger than its bytes", "bad dtype"])
def test_lying_safetensors_header(good, tmp_path, lie, capsys):
    raw = good["m.safetensors"]
    n = struct.unpack_from("<Q", raw, 0)[0]
    header = json.loads(raw[8:8 + n])
    name = "model.norm.weight"
    if lie == "offsets past the end":
        header[name]["data_offsets"] = [header[name]["data_offsets"][0], len(raw) * 2]
    elif lie == "shape larger than its bytes":
        header[name]["shape"] = [header[name]["shape"][0] * 1000]
    else:
        header[name]["dtype"] = "Q4_K"
    body = json.dumps(header).encode()
    body += b" " * (-len(body) % 8)
    p = tmp_path / "lie.safetensors"
    p.write_bytes(struct.pack("<Q", len(body)) + body + raw[8 + n:])
    _expect_format_error(p, "not a readable safetensors file")
    assert _cli("diff", str(p), str(p)) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_missing_file_and_non_model_file(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    assert _cli("diff", str(tmp_path / "absent.gguf"), str(tmp_path / "notes.txt")) == 2
    assert _cli("inspect", str(tmp_path / "notes.txt")) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "not a model file" in err


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.sampled_from(["m.gguf", "q.gguf"]), data=st.data())
def test_fuzzed_gguf_reads_or_raises_format_error(good, tmp_path, which, data):
    raw = bytearray(good[which])
    # mutate the header and tensor table most (where the parser lives), the data less
    header_end = min(len(raw), 8192)
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, header_end - 1) | st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[:data.draw(st.integers(0, len(raw)))]
    p = tmp_path / "fuzz.gguf"
    p.write_bytes(bytes(raw))
    try:
        cfg, w = gguf_io.read_model(p)
    except FormatError as e:
        assert str(p) in str(e)
    else:
        assert all(v.dtype == np.float32 for v in w.values())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_safetensors_reads_or_raises_format_error(good, tmp_path, data):
    raw = bytearray(good["m.safetensors"])
    n = struct.unpack_from("<Q", raw, 0)[0]
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, 8 + n - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    p = tmp_path / "fuzz.safetensors"
    p.write_bytes(bytes(raw))
    try:
        src = open_source(p)
        for m in src.tensors():
            src.load(m.name)
            src.load_rows(m.name, 0, src.rows(m.name))
    except FormatError as e:
        assert str(p) in str(e)


# -- the tensor table must describe the data as llama.cpp lays it out (issue 11) ------------

def _tensor_offset(data: bytes, tensor: str) -> int:
    name = tensor.encode()
    i = bytes(data).index(struct.pack("<Q", len(name)) + name) + 8 + len(name)
    n_dims = struct.unpack_from("<I", data, i)[0]
    return struct.unpack_from("<Q", data, i + 4 + 8 * n_dims + 4)[0]


def test_a_tensor_pointing_at_another_tensors_bytes_is_refused(good, tmp_path):
    # q and o have one shape: before, this loaded with o_proj == q_proj
    q_offset = _tensor_offset(good["m.gguf"], "blk.0.attn_q.weight")
    p = tmp_path / "alias.gguf"
    p.write_bytes(_patch_tensor_field(good["m.gguf"], "blk.0.attn_output.weight", "offset", q_offset))
    _expect_format_error(p, "tensor 'blk.0.attn_output.weight' data offset")
    _expect_format_error(p, "overlaps earlier tensor data")


def test_misordered_tensor_data_is_refused(good, tmp_path):
    a = _tensor_offset(good["m.gguf"], "blk.0.attn_q.weight")
    b = _tensor_offset(good["m.gguf"], "blk.0.attn_output.weight")
    data = _patch_tensor_field(good["m.gguf"], "blk.0.attn_q.weight", "offset", b)
    p = tmp_path / "swap.gguf"
    p.write_bytes(_patch_tensor_field(data, "blk.0.attn_output.weight", "offset", a))
    _expect_format_error(p, "tensor data follows the tensor table in order")


def _patch_metadata(data: bytes, key: str, value_type: int | None = None, fmt: str | None = None,
                    value: object = None) -> bytes:
    """Rewrite the value type and/or the (scalar) value of one metadata key."""
    raw = bytearray(data)
    k = key.encode()
    i = raw.index(struct.pack("<Q", len(k)) + k) + 8 + len(k)
    if value_type is not None:
        struct.pack_into("<I", raw, i, value_type)
    if fmt is not None:
        struct.pack_into(fmt, raw, i + 4, value)
    return bytes(raw)


@pytest.mark.parametrize(("key", "field"), [("qwen2.attention.head_count", "num_attention_heads"),
                                            ("qwen2.attention.head_count_kv", "num_key_value_heads")])
def test_a_head_count_of_zero_is_a_format_error(good, tmp_path, key, field):
    p = tmp_path / "heads.gguf"
    p.write_bytes(_patch_metadata(good["m.gguf"], key, fmt="<I", value=0))
    _expect_format_error(p, f"{field} must be in 1..")


@pytest.mark.parametrize("key", ["qwen2.attention.head_count", "qwen2.rope.dimension_count",
                                 "qwen2.rope.freq_base"])
def test_a_hyperparameter_of_the_wrong_type_is_a_format_error(good, tmp_path, key):
    # same width, another type: the bytes would read as a different number
    is_float = key.endswith("freq_base")
    p = tmp_path / "typed.gguf"
    p.write_bytes(_patch_metadata(good["m.gguf"], key, value_type=4 if is_float else 6))
    _expect_format_error(p, f"metadata {key!r} has type {'uint32' if is_float else 'float32'}, "
                            f"expected {'float32' if is_float else 'uint32'}")


@pytest.mark.parametrize("key", ["qwen2.attention.layer_norm_rms_epsilon", "qwen2.rope.freq_base"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0, 0.0])
def test_eps_and_theta_must_be_finite_and_positive(good, tmp_path, key, value):
    p = tmp_path / "eps.gguf"
    p.write_bytes(_patch_metadata(good["m.gguf"], key, fmt="<f", value=value))
    _expect_format_error(p, f"metadata {key!r}")
    _expect_format_error(p, "must be a finite number > 0")


def test_a_fifo_named_like_a_gguf_is_refused_without_blocking(tmp_path):
    import os
    import subprocess
    import sys

    os.mkfifo(tmp_path / "pipe.gguf")
    code = "import sys; from aprcore.cli import main; sys.exit(main(['inspect', sys.argv[1]]))"
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "pipe.gguf")], capture_output=True,
                         text=True, timeout=120)  # it blocked in open() for ever before
    assert out.returncode == 2 and "not a regular file" in out.stderr, out.stderr


def test_tensors_beyond_the_block_count_are_refused(good, tmp_path):
    # before: block_count 1 on a 2-layer file loaded the first layer and dropped the second
    p = tmp_path / "blocks.gguf"
    p.write_bytes(_patch_metadata(good["m.gguf"], "qwen2.block_count", fmt="<I", value=1))
    _expect_format_error(p, "tensor 'blk.1.")
    _expect_format_error(p, "is beyond qwen2.block_count 1")


def test_quantizing_to_a_decode_only_legacy_type_is_refused_by_name():
    from aprcore import quant

    with pytest.raises(quant.QuantError, match="cannot quantize to 'Q4_1'; quantize to one of Q8_0, Q4_K, Q6_K"):
        quant.quantize(np.zeros((2, 32), np.float32), "Q4_1")
    with pytest.raises(quant.QuantError, match="unknown quant type 'Q3_K'"):
        quant.dequantize(np.zeros(10, np.uint8), "Q3_K", (1, 256))
