"""Whole models to and from GGUF (qwen2 and llama architectures), the way llama.cpp reads them.

Writing goes through gguf's `GGUFWriter`, reading through its mmap-backed `GGUFReader`
after `gguf_check.scan` has bounds-checked the file. Each tensor is dequantized on its
own (never a copy of the whole file). Names, the ggml dimension order and llama's q/k
row permutation are in `names.py`.

What a file holds, so that llama.cpp loads it: `general.architecture`, the
`{arch}.context_length / embedding_length / block_count / feed_forward_length /
attention.head_count / attention.head_count_kv / rope.freq_base /
attention.layer_norm_rms_epsilon` keys, `general.file_type`, and the smallest tokenizer
llama.cpp accepts: `tokenizer.ggml.model = "llama"` with one token, score and type per
vocabulary entry (<unk>, <s>, </s>, byte tokens, then placeholders).
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
from gguf import GGUFWriter
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, LlamaFileType, TokenType
from gguf.quants import dequantize as gguf_dequantize

from .. import faults as _faults
from .. import quant as q
from ..config import ConfigError, ModelConfig
from ..weights import check_weights, expected_shapes
from . import atomic, gguf_check, names
from .errors import FormatError

QuantSpec = str | None | Mapping[str, str] | Callable[[str, tuple[int, ...]], str | None]

_FILE_TYPE = {
    None: LlamaFileType.ALL_F32,
    "F32": LlamaFileType.ALL_F32,
    "Q8_0": LlamaFileType.MOSTLY_Q8_0,
    "Q4_K": LlamaFileType.MOSTLY_Q4_K_S,  # all Q4_K, the nearest llama.cpp name
    "Q6_K": LlamaFileType.MOSTLY_Q6_K,
}
_OUR_QUANTS = set(q.QUANT_TYPES)


# -- choosing a type per tensor ---------------------------------------------------------

def tensor_type(hf_name: str, shape: tuple[int, ...], quant: QuantSpec) -> str:
    """The ggml type a tensor gets: norms, biases and 1-D tensors stay F32.

    A weight whose rows do not divide into the type's blocks falls back to Q8_0 (rows of
    32) and then to F32, as llama.cpp's quantizer falls back to a coarser-block type.
    """
    if len(shape) < 2 or names.is_norm_or_bias(hf_name):
        return "F32"
    if quant is None or isinstance(quant, str):
        want = quant
    elif callable(quant):
        want = quant(hf_name, shape)
    else:
        want = quant.get(hf_name)
    if want is None or want == "F32":
        return "F32"
    if want not in _OUR_QUANTS:
        raise ValueError(f"unsupported quant type {want!r}; use one of {', '.join(q.QUANT_TYPES)} or None")
    for t in (want, "Q8_0"):
        if shape[-1] % q.BLOCK_SIZES[t][0] == 0:
            return t
    return "F32"


class QuantFallback(ValueError):
    """A quant type was asked for and some tensors cannot take it (strict mode)."""


class QuantFallbackWarning(UserWarning):
    """A quant type was asked for and some tensors fell back to a coarser-block type."""


def plan_types(config: ModelConfig, quant: QuantSpec) -> dict[str, str]:
    """HF name -> the ggml type each tensor of a model of `config` is written as."""
    return {name: tensor_type(name, shape, quant) for name, shape in expected_shapes(config).items()}


def fallbacks(config: ModelConfig, quant: QuantSpec) -> list[str]:
    """One line per tensor class (the name without its layer) whose 2-D weights do not get
    the requested type, with the type they get and why; empty when every one does."""
    if not isinstance(quant, str) or quant == "F32":
        return []
    shapes, per_class = expected_shapes(config), {}
    for name, t in plan_types(config, quant).items():
        if len(shapes[name]) == 2 and t != quant and not names.is_norm_or_bias(name):
            cls = names.tensor_class(name)
            per_class.setdefault((cls, t, shapes[name][-1]), []).append(name)
    return [f"{cls}: {len(ns)} tensor(s) written as {t}: rows of {cols} weights are not a multiple "
            f"of {quant}'s {q.BLOCK_SIZES[quant][0]}" for (cls, t, cols), ns in per_class.items()]


def file_type(plan: Mapping[str, str]) -> LlamaFileType:
    """general.file_type of a file holding `plan`'s types: MOSTLY_<T> when every quantized
    tensor is T, ALL_F32 when none is, GUESSED for a mixture (no llama.cpp name fits)."""
    quantized = {t for t in plan.values() if t != "F32"}
    if not quantized:
        return LlamaFileType.ALL_F32
    return _FILE_TYPE[quantized.pop()] if len(quantized) == 1 else LlamaFileType.GUESSED


# -- writing ----------------------------------------------------------------------------

def _add_tokenizer(w: GGUFWriter, vocab_size: int) -> None:
    tokens: list[str] = []
    types: list[int] = []
    special = [("<unk>", TokenType.UNKNOWN), ("<s>", TokenType.CONTROL), ("</s>", TokenType.CONTROL)]
    for i in range(vocab_size):
        if i < 3:
            tok, tt = special[i]
        elif i < 3 + 256:
            tok, tt = f"<0x{i - 3:02X}>", TokenType.BYTE
        else:
            tok, tt = f"<tok{i}>", TokenType.NORMAL
        tokens.append(tok)
        types.append(int(tt))
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * vocab_size)
    w.add_token_types(types)
    w.add_unk_token_id(0)
    if vocab_size > 2:
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)


def write_model(path: str | os.PathLike[str], config: ModelConfig, weights: Mapping[str, np.ndarray],
                quant: QuantSpec = None, *, strict: bool = False) -> list[str]:
    """Write a GGUF llama.cpp can load. `quant`: None (F32), a type name for every 2-D
    weight, or a mapping / callable from HF name (and shape) to a type (mixed files).

    Weights whose rows do not fit the requested type fall back (`tensor_type`); each
    tensor class that does is named in a QuantFallbackWarning and in the returned lines,
    or, with `strict`, raises QuantFallback before anything is written. general.file_type
    is the type the file really holds (`file_type`)."""
    check_weights(config, weights, source="weights to write")
    notes = fallbacks(config, quant)
    if notes and strict:
        raise QuantFallback(f"{quant} does not fit every tensor: " + "; ".join(notes))
    for note in notes:
        warnings.warn(QuantFallbackWarning(note), stacklevel=2)
    with atomic.replacing(path) as tmp:
        _write(GGUFWriter(tmp, config.arch), config, weights, plan_types(config, quant))
    return notes


def _write(w: GGUFWriter, config: ModelConfig, weights: Mapping[str, np.ndarray],
           plan: dict[str, str]) -> None:
    arch = config.arch
    w.add_name("aprcore")
    w.add_context_length(config.max_position_embeddings)
    w.add_embedding_length(config.hidden_size)
    w.add_block_count(config.num_hidden_layers)
    w.add_feed_forward_length(config.intermediate_size)
    w.add_head_count(config.num_attention_heads)
    w.add_head_count_kv(config.num_key_value_heads)
    w.add_rope_freq_base(float(config.rope_theta))
    w.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    w.add_vocab_size(config.vocab_size)
    w.add_rope_dimension_count(config.head_dim)
    if config.head_dim != config.hidden_size // config.num_attention_heads:
        w.add_key_length(config.head_dim)
        w.add_value_length(config.head_dim)
    w.add_file_type(int(file_type(plan)))
    w.add_quantization_version(2)  # GGML_QNT_VERSION
    _add_tokenizer(w, config.vocab_size)
    for hf_name in expected_shapes(config):
        arr = np.ascontiguousarray(weights[hf_name], dtype=np.float32)
        arr = np.ascontiguousarray(names.to_gguf_layout(
            hf_name, arr, arch, config.num_attention_heads, config.num_key_value_heads))
        gname = names.hf_to_gguf(hf_name)
        assert gname is not None, hf_name
        t = plan[hf_name]
        if t == "F32":
            w.add_tensor(gname, arr)
        else:
            w.add_tensor(gname, q.quantize(arr, t), raw_dtype=GGMLQuantizationType[t])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# -- reading ----------------------------------------------------------------------------

def _f32_decimal(v: object) -> float:
    """GGUF stores these as float32: read back the shortest decimal that float32 holds
    (1e-6, not 9.99999997e-07), so a config survives a round trip unchanged."""
    return float(np.format_float_positional(np.float32(v), unique=True, trim="-"))


#: The GGUF value type of each hyperparameter key (after "{arch}."), as llama.cpp reads
#: them: its loader refuses a key of another type ("key has wrong type"), so do we. The
#: same width in another type (a float32 head count) would otherwise read as garbage.
_UINT32, _FLOAT32 = 4, 6
HPARAM_TYPES = {
    "context_length": _UINT32, "embedding_length": _UINT32, "block_count": _UINT32,
    "feed_forward_length": _UINT32, "attention.head_count": _UINT32,
    "attention.head_count_kv": _UINT32, "attention.key_length": _UINT32,
    "attention.value_length": _UINT32, "rope.dimension_count": _UINT32, "vocab_size": _UINT32,
    "rope.freq_base": _FLOAT32, "attention.layer_norm_rms_epsilon": _FLOAT32,
}
_TYPE_NAMES = {0: "uint8", 1: "int8", 2: "uint16", 3: "int16", 4: "uint32", 5: "int32", 6: "float32",
               7: "bool", 8: "string", 9: "array", 10: "uint64", 11: "int64", 12: "float64"}


def config_from_metadata(meta: Mapping[str, object], tensor_dims: Mapping[str, tuple[int, ...]],
                         path: str, types: Mapping[str, int] | None = None) -> ModelConfig:
    """A ModelConfig from GGUF metadata (keys as llama.cpp names them) and the tensor table.

    `types` (key -> GGUF value type, from the header scan) holds the hyperparameters to
    their spec types; a head count of 0 or a NaN, infinite or negative eps or theta is a
    FormatError naming the key (ModelConfig's checks, under the GGUF key's name).
    """
    arch_prefix = f"{meta.get('general.architecture')}."
    for rest, want in HPARAM_TYPES.items():  # also the keys aprcore does not read itself
        key = arch_prefix + rest
        if types is not None and key in types and types[key] != want:
            raise FormatError(path, f"metadata {key!r} has type {_TYPE_NAMES.get(types[key], types[key])}, "
                                    f"expected {_TYPE_NAMES[want]}")

    def get(key: str, default: object = ...) -> object:
        if key not in meta:
            if default is ...:
                raise FormatError(path, f"missing metadata key {key!r}")
            return default
        v = meta[key]
        if isinstance(v, gguf_check.ArrayValue):
            raise FormatError(path, f"metadata {key!r} is an array; per-layer values are not supported")
        return v

    arch = get("general.architecture")
    if arch not in ("qwen2", "llama"):
        raise FormatError(path, f"architecture {arch!r} is not supported (qwen2, llama)")
    if "token_embd.weight" not in tensor_dims:
        raise FormatError(path, "no token_embd.weight tensor")
    k = f"{arch}."
    heads = get(k + "attention.head_count")
    head_dim = get(k + "attention.key_length", None)
    emb = tensor_dims["token_embd.weight"]
    try:
        layers = int(get(k + "block_count"))
        hidden = int(get(k + "embedding_length"))
    except (TypeError, ValueError) as e:
        raise FormatError(path, f"metadata does not describe a model: {e}") from None
    # Bound the config by the tensor table before anything iterates over it: a corrupt
    # block_count of 2**31 must not make us build 2**31 layers of expected names.
    if not 0 < layers <= len(tensor_dims):
        raise FormatError(path, f"{k}block_count {layers} does not fit the {len(tensor_dims)} tensors in the file")
    beyond = sorted(n for n in tensor_dims if (m := re.match(r"blk\.(\d+)\.", n)) and int(m.group(1)) >= layers)
    if beyond:  # llama.cpp refuses a file with tensors its hyperparameters do not name
        raise FormatError(path, f"tensor {beyond[0]!r} is beyond {k}block_count {layers}")
    if len(emb) != 2 or emb[0] != hidden:
        raise FormatError(path, f"token_embd.weight dims {emb} do not fit {k}embedding_length {hidden}")
    for key, name in (("attention.layer_norm_rms_epsilon", "eps"), ("rope.freq_base", "theta")):
        v = get(k + key, 1.0)
        if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:  # by its GGUF key
            raise FormatError(path, f"metadata {k + key!r} ({name}) must be a finite number > 0, got {v}")
    try:
        return ModelConfig(
            arch=str(arch),
            vocab_size=int(get(k + "vocab_size", emb[-1])),
            hidden_size=hidden,
            intermediate_size=int(get(k + "feed_forward_length")),
            num_hidden_layers=layers,
            num_attention_heads=int(heads),
            num_key_value_heads=int(heads if _faults.on("gguf_kv_heads_ignored") is not None
                                    else get(k + "attention.head_count_kv", heads)),
            rms_norm_eps=_f32_decimal(get(k + "attention.layer_norm_rms_epsilon")),
            rope_theta=_f32_decimal(get(k + "rope.freq_base", 1_000_000.0 if arch == "qwen2" else 10_000.0)),
            max_position_embeddings=int(get(k + "context_length", 32768)),
            tie_word_embeddings="output.weight" not in tensor_dims,
            attention_bias="blk.0.attn_q.bias" in tensor_dims,
            head_dim=None if head_dim is None else int(head_dim),
        )
    except (ConfigError, TypeError, ValueError) as e:
        raise FormatError(path, f"metadata does not describe a model: {e}") from None


@dataclass(frozen=True)
class GGUFTensor:
    hf_name: str
    gguf_name: str
    shape: tuple[int, ...]  # HF (numpy) order
    type_name: str
    nbytes: int
    offset: int  # absolute file offset of the data


class GGUFModelFile:
    """A GGUF opened for per-tensor (and per-row-range) access under HF names.

    One read-only np.memmap of the file; each tensor is a view of it, dequantized (and,
    for llama q/k, un-permuted) on request. Nothing is copied until a tensor is asked for.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        hdr = gguf_check.scan(self.path)
        self.metadata = hdr.metadata
        self._types = hdr.types
        try:
            self._mm = np.memmap(self.path, dtype=np.uint8, mode="r")
        except (OSError, ValueError) as e:
            raise FormatError(self.path, f"cannot map: {e}") from None
        self.arch = self.metadata.get("general.architecture")
        self._heads = (0, 0)
        self._tensors: dict[str, GGUFTensor] = {}
        for e in hdr.tensors:
            t = GGUFTensor(names.to_hf_name(e.name), e.name, names.hf_shape(e.dims),
                           GGMLQuantizationType(e.type_id).name, e.nbytes, e.offset)
            if t.hf_name in self._tensors:
                raise FormatError(self.path, f"tensors {e.name!r} and {self._tensors[t.hf_name].gguf_name!r} "
                                             "map to the same name")
            self._tensors[t.hf_name] = t
        if self.arch == "llama":
            cfg = self.config()
            self._heads = (cfg.num_attention_heads, cfg.num_key_value_heads)

    def config(self) -> ModelConfig:
        dims = {t.gguf_name: tuple(reversed(t.shape)) for t in self._tensors.values()}
        return config_from_metadata(self.metadata, dims, self.path, self._types)

    def tensors(self) -> Iterator[GGUFTensor]:
        return iter(self._tensors.values())

    def names(self) -> list[str]:
        return list(self._tensors)

    def rows(self, hf_name: str) -> int:
        """Rows of the tensor in HF order (1 for a 1-D tensor)."""
        shape = self._tensors[hf_name].shape
        return shape[0] if len(shape) > 1 else 1

    def _permuted_heads(self, hf_name: str) -> int | None:
        """Heads this llama q/k tensor is un-permuted over on reading, else None."""
        if _faults._AMBIENT and "llama_qk_unpermuted" in _faults._AMBIENT:  # a fault, on purpose
            return None
        return names.permuted_heads(hf_name, str(self.arch), *self._heads)

    def row_align(self, hf_name: str) -> int:
        """Row ranges passed to `load_rows` must start at multiples of this (llama's
        q/k permutation works within blocks of head_dim rows)."""
        t = self._tensors[hf_name]
        heads = self._permuted_heads(hf_name)
        if heads and len(t.shape) > 1 and t.shape[0] % heads == 0:
            return t.shape[0] // heads
        return 1

    def packed_rows(self, hf_name: str) -> np.ndarray:
        """The stored (possibly quantized) bytes of a 2-D tensor, uint8 [rows, bytes_per_row],
        rows in HF order (llama's q/k permutation undone), for consumers that decode
        blocks themselves, such as the GPU's fused Q4_K kernels. A read-only copy of
        only this tensor's bytes."""
        t = self._tensors[hf_name]
        if len(t.shape) != 2:
            raise FormatError(self.path, f"{t.gguf_name} is not a 2-D tensor (shape {t.shape})")
        raw = np.asarray(self._mm[t.offset: t.offset + t.nbytes]).reshape(t.shape[0], -1)
        heads = self._permuted_heads(hf_name)
        if heads:
            raw = names.to_hf_layout(hf_name, raw, "llama", heads, heads)
        return np.ascontiguousarray(raw)

    def load(self, hf_name: str) -> np.ndarray:
        return self.load_rows(hf_name, 0, self.rows(hf_name))

    def load_rows(self, hf_name: str, r0: int, r1: int, out: np.ndarray | None = None) -> np.ndarray:
        """Rows [r0, r1) as float32 in HF layout (the whole tensor when it is 1-D).

        `out`: optional contiguous float32 scratch to decode into (the result is a view)."""
        t = self._tensors[hf_name]
        shape = t.shape
        if len(shape) == 1:
            r0, r1, row_shape, nrows = 0, 1, (), 1
        else:
            row_shape, nrows = shape[1:], shape[0]
        per_row = t.nbytes // nrows if nrows else 0
        raw = self._mm[t.offset + r0 * per_row: t.offset + r1 * per_row]
        out_shape = (r1 - r0, *row_shape) if len(shape) > 1 else shape
        arr = _decode(raw, t.type_name, out_shape, self.path, t.gguf_name, out)
        heads = self._permuted_heads(hf_name)
        if heads:
            if len(shape) > 1:  # rows [r0, r1) hold whole heads (row_align): permute those
                heads = (r1 - r0) // self.row_align(hf_name)
            try:
                arr = names.to_hf_layout(hf_name, arr, "llama", heads, heads)
            except ValueError:
                raise FormatError(self.path, f"tensor {t.gguf_name!r} of shape {shape} does not divide into "
                                             f"{self._heads} heads") from None
        return arr


def _decode(raw: np.ndarray, type_name: str, shape: tuple[int, ...], path: str, name: str,
            out: np.ndarray | None = None) -> np.ndarray:
    """Bytes of a tensor (or of whole rows of it) to float32 of `shape` (into `out` if given)."""
    if type_name in ("F32", "F16"):
        src = raw.view("<f4" if type_name == "F32" else "<f2").reshape(shape)
        n = src.size
        dst = np.empty(shape, np.float32) if out is None else out.reshape(-1)[:n].reshape(shape)
        np.copyto(dst, src, casting="unsafe" if type_name == "F16" else "same_kind")
        return dst
    if type_name in q.DEQUANT_TYPES:
        return q.dequantize(raw, type_name, shape, out=out)
    qt = GGMLQuantizationType[type_name]
    try:
        blk, ts = GGML_QUANT_SIZES[qt]
        data = np.ascontiguousarray(raw).reshape(-1, shape[-1] // blk * ts)
        return np.asarray(gguf_dequantize(data, qt), dtype=np.float32).reshape(shape)
    except NotImplementedError:
        raise FormatError(path, f"tensor {name!r} has type {type_name}, which cannot be dequantized") from None


def read_model(path: str | os.PathLike[str]) -> tuple[ModelConfig, dict[str, np.ndarray]]:
    """(config, HF-named float32 weights in HF [out, in] layout), dequantized.

    Tensors that are not part of a qwen2/llama decoder (e.g. `rope_freqs`) are ignored;
    missing or mis-shaped ones raise FormatError.
    """
    f = GGUFModelFile(path)
    cfg = f.config()
    expected = expected_shapes(cfg)
    weights = {name: f.load(name) for name in f.names() if name in expected}
    try:
        check_weights(cfg, weights, source=f"tensors of {f.path}")
    except ValueError as e:
        raise FormatError(None, str(e)) from None
    return cfg, weights
