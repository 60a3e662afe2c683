"""`python -m aprcore convert SRC DST [--quant TYPE]`: rewrite a model in another format.

SRC and DST are each an HF directory (config.json + model.safetensors) or a .gguf file,
so this writes a GGUF from an HF directory and an HF directory back from a GGUF (whose
quantized tensors are dequantized to float32). `--quant` quantizes the 2-D weights of a
GGUF it writes; a tensor whose rows do not divide into that type's blocks falls back to
Q8_0 or F32, and each tensor class that does is named on stderr (the file's
general.file_type says what it really holds), or with --strict-quant the conversion fails.

Exit status: 0 written, 2 bad input (a missing or unreadable SRC, an existing DST
without --force, a quant type for an HF directory).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from . import HelpFormatter
from .args import fail


def register(subparsers) -> None:
    from ..quant import QUANT_TYPES

    p = subparsers.add_parser("convert", help="convert between an HF directory and a GGUF file",
                              description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("src", help="HF directory or .gguf file to read")
    p.add_argument("dst", help="HF directory or .gguf file to write")
    p.add_argument("--quant", choices=QUANT_TYPES, default=None,
                   help="ggml type of the 2-D weights of a GGUF DST (None: F32)")
    p.add_argument("--strict-quant", action="store_true",
                   help="fail, writing nothing, when some tensors cannot take --quant")
    p.add_argument("--force", action="store_true", help="replace an existing DST")
    p.set_defaults(func=main)


def _fail(message: str) -> int:
    return fail("python -m aprcore convert", message)


def main(args: argparse.Namespace) -> int:
    from ..formats import is_gguf, load, save
    from ..formats.errors import FormatError

    src, dst = Path(args.src), Path(args.dst)
    if not src.exists():
        return _fail(f"{src}: no such file or directory")
    if dst.exists() and not args.force:
        return _fail(f"{dst} exists; pass --force to replace it")
    if args.quant is not None and not is_gguf(dst):
        return _fail(f"--quant {args.quant} needs a .gguf DST; HF directories hold float32")
    try:
        model = load(src)
    except (FormatError, OSError, ValueError) as e:
        return _fail(f"cannot read {src}: {e}")
    from ..formats.gguf_io import QuantFallback  # noqa: PLC0415

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            written = save(model, dst, quant=args.quant, strict_quant=args.strict_quant)
        except QuantFallback as e:
            return _fail(str(e))
    for w in caught:
        print(f"aprcore convert: {args.quant} fell back for {w.message}", file=sys.stderr)
    print(f"{src} -> {written} ({model.config.arch}, {model.config.num_parameters():,} parameters, "
          f"{args.quant or 'F32'})")
    return 0
