"""Model files: `load` and `save` for every format aprcore reads and writes.

A path ending in `.gguf` goes through `gguf_io` (imported only then, so gguf stays
optional for code that never touches a GGUF); anything else is an HF directory
(config.json + safetensors, `hf`). The other modules: `errors` (the one FormatError),
`names` (HF <-> ggml tensor names and layouts), `gguf_check` (bounds-checked GGUF
header scan), `safetensors` (the one safetensors reader and atomic writer), `sources`
(per-tensor readers for the diff sweep), `diff` (the tensor-by-tensor comparison).

The tokenizer stored with the model (GGUF metadata, or the directory's tokenizer.json)
rides along as `model.tokenizer` (None where the file carries none that
`aprcore.tokenizer` builds), and `save` writes it back into HF directories.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..model import Model


def is_gguf(path: str | Path) -> bool:
    return str(path).lower().endswith(".gguf")


def load(path: str | Path) -> Model:
    """The model stored at `path`: an HF directory or a .gguf file."""
    from ..model import Model  # noqa: PLC0415 - the model imports nothing from formats

    if is_gguf(path):
        from . import gguf_io  # noqa: PLC0415 - lazy: gguf is optional

        config, weights = gguf_io.read_model(path)
    else:
        from .hf import read_hf_dir  # noqa: PLC0415

        config, weights = read_hf_dir(path)
    from ..tokenizer import load_tokenizer  # noqa: PLC0415

    model = Model(config, weights)
    model.tokenizer = load_tokenizer(path)
    return model


def save(model: Model, path: str | Path, quant: str | None = None, *, strict_quant: bool = False) -> Path:
    """Write `model` to `path`: a .gguf file (optionally quantized) or an HF directory.

    A `quant` that some tensors' rows do not fit falls back for them (a coarser-block type,
    named per tensor class in a `gguf_io.QuantFallbackWarning`), or with `strict_quant`
    raises `gguf_io.QuantFallback` and writes nothing."""
    if is_gguf(path):
        from . import gguf_io  # noqa: PLC0415

        gguf_io.write_model(path, model.config, model.weights, quant=quant, strict=strict_quant)
        return Path(path)
    if quant is not None:
        raise ValueError(f"quant={quant!r} needs a .gguf path; HF directories hold float32")
    from .hf import write_hf_dir  # noqa: PLC0415

    out = write_hf_dir(path, model.config, model.weights)
    if model.tokenizer is not None:
        model.tokenizer.save_hf(out)
    return out
