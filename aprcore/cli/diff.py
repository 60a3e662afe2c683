"""`python -m aprcore diff A B [--transpose-aware] [--json] [--floor 0.999]`.

Exit codes: 0 every common tensor passes and none is missing; 1 a tensor is under the
floor, mismatched, or present in one file only; 2 bad input (unreadable or corrupt
file, bad arguments), reported as one line naming the file and the problem.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

from ..formats.diff import diff_files, format_report
from ..formats.errors import FormatError
from ..quant import QuantError
from . import HelpFormatter
from .args import unit_interval


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "diff", help="compare every tensor of two model files (GGUF, safetensors, HF directory)",
        description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("a", help="first model file or HF directory")
    p.add_argument("b", help="second model file or HF directory")
    p.add_argument("--floor", type=unit_interval, default=0.999,
                   help="minimum cosine per tensor (1 demands identical tensors)")
    p.add_argument("--transpose-aware", action="store_true",
                   help="accept tensors that match after a transpose (reported as 'transposed')")
    p.add_argument("--json", action="store_true", help="print a JSON report (no progress bar)")
    p.set_defaults(func=main)


def _emit(text: str) -> None:
    """Print, quietly tolerating a closed pipe (`... | head`)."""
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _finite(obj):
    """NaN and infinities become null: strict JSON readers reject them (status says why)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def main(args: argparse.Namespace) -> int:
    try:
        report = diff_files(args.a, args.b, floor=args.floor, transpose_aware=args.transpose_aware,
                            progress=not args.json)
    except (FormatError, QuantError) as e:
        print(f"aprcore diff: {e}", file=sys.stderr)
        return 2
    except MemoryError:
        print("aprcore diff: out of memory while reading a tensor", file=sys.stderr)
        return 2
    code = 0 if report.verdict == "PASS" else 1
    text = json.dumps(_finite(report.to_dict()), indent=1, allow_nan=False) if args.json else format_report(report)
    _emit(text)
    return code

