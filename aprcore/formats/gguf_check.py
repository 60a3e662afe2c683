"""A bounded scan of a GGUF header, run before gguf's reader sees the file.

gguf's `GGUFReader` trusts the counts in the file: an array that claims 2**60 items
makes it loop for ever (each read past the end returns an empty slice and the offset
stops moving), a dimension product silently overflows uint64, and an unknown tensor
type raises a bare ValueError. This scan walks the same structure with every count
checked against the bytes that remain, so a truncated or lying file fails fast with a
`FormatError` naming the file, the offset and the problem; only then does the real
reader run. It reads the header through mmap and never allocates by a count it read.
"""

from __future__ import annotations

import mmap
import os
import stat
import struct
from dataclasses import dataclass, field

from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

from .. import faults as _faults
from .errors import FormatError

GGUF_MAGIC = b"GGUF"
_SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9
_MAX_DIMS = 4  # GGML_MAX_DIMS
_MAX_NAME = 1 << 16
_MAX_ELEMENTS = 1 << 50


@dataclass(frozen=True)
class ArrayValue:
    """An array metadata value, summarized (its items are not materialized)."""

    item_type: int
    count: int


@dataclass
class TensorEntry:
    name: str
    dims: tuple[int, ...]  # ggml order, fastest first
    type_id: int
    offset: int  # absolute file offset of the data
    nbytes: int


@dataclass
class HeaderScan:
    version: int
    alignment: int
    data_start: int
    file_size: int
    tensors: list[TensorEntry] = field(default_factory=list)
    metadata: dict[str, object] = field(default_factory=dict)  # scalars, strings, ArrayValue
    types: dict[str, int] = field(default_factory=dict)  # key -> GGUF value type


class _Cursor:
    def __init__(self, buf: mmap.mmap | bytes, path: str) -> None:
        self.buf = buf
        self.size = len(buf)
        self.off = 0
        self.path = path

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.off + n > self.size:
            raise FormatError(
                self.path,
                f"truncated or corrupt GGUF: {what} at offset {self.off} needs {n} bytes, "
                f"{max(0, self.size - self.off)} remain",
            )

    def unpack(self, fmt: str, what: str) -> int | float:
        n = struct.calcsize(fmt)
        self.need(n, what)
        (v,) = struct.unpack_from(fmt, self.buf, self.off)
        self.off += n
        return v

    def string(self, what: str, limit: int | None = None) -> str:
        n = int(self.unpack("<Q", f"{what} length"))
        if limit is not None and n > limit:
            raise FormatError(self.path, f"{what} at offset {self.off - 8} claims {n} bytes (limit {limit})")
        self.need(n, what)
        raw = bytes(self.buf[self.off:self.off + n])
        self.off += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(self.path, f"{what} at offset {self.off - n} is not valid UTF-8") from None


def _skip_value(c: _Cursor, vtype: int, key: str, depth: int = 0) -> object:
    """Skip (and for scalars and strings return) one value; arrays are bounds-checked."""
    if vtype in _SCALAR:
        fmt = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
               10: "<Q", 11: "<q", 12: "<d"}[vtype]
        return c.unpack(fmt, f"value of {key!r}")
    if vtype == _STRING:
        return c.string(f"string value of {key!r}")
    if vtype == _ARRAY:
        if depth > 2:
            raise FormatError(c.path, f"array value of {key!r} nests deeper than 3 levels")
        itype = int(c.unpack("<I", f"array type of {key!r}"))
        count = int(c.unpack("<Q", f"array length of {key!r}"))
        remaining = c.size - c.off
        if itype in _SCALAR:
            nbytes = count * _SCALAR[itype]
            c.need(nbytes, f"array {key!r} of {count} items")
            c.off += nbytes
            return ArrayValue(itype, count)
        if itype not in (_STRING, _ARRAY):
            raise FormatError(c.path, f"array {key!r} has unknown item type {itype}")
        # every string or array item needs at least 8 bytes: bound the loop before it runs
        if count * 8 > remaining:
            raise FormatError(c.path, f"array {key!r} claims {count} items, more than the {remaining} bytes left can hold")
        if itype == _STRING:  # tight loop: lengths only (a vocabulary holds 10^5 strings)
            off, size, buf = c.off, c.size, c.buf
            unpack = struct.unpack_from
            done = 0
            while done < count and off + 8 <= size:
                off += 8 + unpack("<Q", buf, off)[0]
                done += 1
            if off > size or done < count:
                raise FormatError(c.path, f"array {key!r} of {count} strings runs past the end of the file")
            c.off = off
            return ArrayValue(itype, count)
        for _ in range(count):
            _skip_value(c, itype, key, depth + 1)
        return ArrayValue(itype, count)
    raise FormatError(c.path, f"metadata {key!r} has unknown value type {vtype}")


def scan(path: str | os.PathLike[str]) -> HeaderScan:
    """Validate a GGUF file's header, tensor table and data bounds; raise FormatError."""
    p = os.fspath(path)
    try:
        st = os.stat(p)
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block the open, a directory fail it
            raise FormatError(p, "not a regular file")
        size = st.st_size
        f = open(p, "rb")
    except OSError as e:
        raise FormatError(p, f"cannot open: {e.strerror or e}") from None
    with f:
        if size < 24:
            raise FormatError(p, f"truncated: {size} bytes, a GGUF header needs at least 24")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            return _scan(_Cursor(mm, p), size)


def _scan(c: _Cursor, size: int) -> HeaderScan:
    magic = bytes(c.buf[0:4])
    if magic != GGUF_MAGIC:
        raise FormatError(c.path, f"not a GGUF file: magic {magic!r}, expected {GGUF_MAGIC!r}")
    c.off = 4
    version = int(c.unpack("<I", "version"))
    if version not in (2, 3):
        if version & 0xFFFF == 0:
            raise FormatError(c.path, "big-endian GGUF files are not supported")
        raise FormatError(c.path, f"unsupported GGUF version {version} (supported: 2, 3)")
    n_tensors = int(c.unpack("<Q", "tensor count"))
    n_kv = int(c.unpack("<Q", "metadata count"))
    remaining = size - c.off
    if n_kv * 13 > remaining:  # key length (8) + >= 1 key byte + type (4)
        raise FormatError(c.path, f"metadata count {n_kv} cannot fit in the {remaining} bytes left")
    if n_tensors * 25 > remaining:  # name length (8) + 1 + n_dims (4) + type (4) + offset (8)
        raise FormatError(c.path, f"tensor count {n_tensors} cannot fit in the {remaining} bytes left")
    alignment = 32
    metadata: dict[str, object] = {}
    types: dict[str, int] = {}
    for _ in range(n_kv):
        key = c.string("metadata key", _MAX_NAME)
        if key in metadata:
            raise FormatError(c.path, f"duplicate metadata key {key!r}")
        vtype = int(c.unpack("<I", f"type of {key!r}"))
        value = _skip_value(c, vtype, key)
        metadata[key] = value
        types[key] = vtype
        if key == "general.alignment":
            if vtype != 4 or not isinstance(value, int) or value <= 0 or value & (value - 1):
                raise FormatError(c.path, f"general.alignment must be a power-of-two uint32, got {value!r}")
            alignment = value
    entries = []
    names: set[str] = set()
    for _ in range(n_tensors):
        name = c.string("tensor name", _MAX_NAME)
        if name in names:
            raise FormatError(c.path, f"duplicate tensor {name!r}")
        names.add(name)
        n_dims = int(c.unpack("<I", f"dimension count of {name!r}"))
        if not 1 <= n_dims <= _MAX_DIMS:
            raise FormatError(c.path, f"tensor {name!r} has {n_dims} dimensions (1 to {_MAX_DIMS} allowed)")
        dims = tuple(int(c.unpack("<Q", f"dimension of {name!r}")) for _ in range(n_dims))
        n = 1
        for d in dims:
            n *= d
        if n > _MAX_ELEMENTS or any(d > _MAX_ELEMENTS for d in dims):
            raise FormatError(c.path, f"tensor {name!r} dimensions {dims} overflow")
        type_id = int(c.unpack("<I", f"type of tensor {name!r}"))
        try:
            qtype = GGMLQuantizationType(type_id)
            block, type_size = GGML_QUANT_SIZES[qtype]
        except (ValueError, KeyError):
            raise FormatError(c.path, f"tensor {name!r} has unknown ggml type {type_id}") from None
        if dims[0] % block:
            raise FormatError(
                c.path, f"tensor {name!r} of type {qtype.name} has rows of {dims[0]}, not a multiple of its block size {block}"
            )
        rel = int(c.unpack("<Q", f"data offset of {name!r}"))
        if rel % alignment:
            raise FormatError(c.path, f"tensor {name!r} data offset {rel} is not aligned to {alignment}")
        entries.append(TensorEntry(name, dims, type_id, rel, n // block * type_size))
    data_start = c.off + (-c.off % alignment)
    for e in entries:
        e.offset += data_start
        if e.offset + e.nbytes > size:
            raise FormatError(
                c.path,
                f"tensor {e.name!r} data [{e.offset}, {e.offset + e.nbytes}) runs past the end of the "
                f"file ({size} bytes): truncated or corrupt",
            )
    # llama.cpp (gguf.cpp, gguf_init_from_file_impl) requires each tensor's data to start
    # exactly at the aligned end of the previous one, in table order: that rules out
    # overlapping ranges (two tensors sharing bytes would load as copies of each other),
    # misordered ones and gaps. The same rule, naming both tensors.
    expected = data_start
    for prev, e in zip([None, *entries], entries, strict=False):  # (previous, this)
        if e.offset != expected and _faults.on("gguf_tensor_order_unchecked") is None:
            after = f"after {prev.name!r} (its data ends at {expected})" if prev else f"at the data start ({expected})"
            problem = "overlaps earlier tensor data" if e.offset < expected else "leaves a gap"
            raise FormatError(
                c.path, f"tensor {e.name!r} data offset {e.offset - data_start} {problem}: it must start "
                        f"{after}; tensor data follows the tensor table in order, as llama.cpp requires")
        expected += e.nbytes + (-e.nbytes % alignment)
    return HeaderScan(version, alignment, data_start, size, entries, metadata, types)
