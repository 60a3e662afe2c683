"""`falsify html OUT/`: the static HTML dashboard of the contracts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._common import BadInput, contracts_dir, load_contracts, project_root

HELP = "write the static HTML dashboard (overview, a page per contract and claim, history)"
DESCRIPTION = ("Write a static, self-contained site under OUT/ (open OUT/index.html from file://,\n"
               "or upload the folder as a CI artifact): every contract with its tally, the\n"
               "claims that need attention, a page per contract and per claim with its\n"
               "evidence, and each claim's status and metrics over the git history.\n"
               "Needs the [html] extra (Jinja2).\n\n"
               "example:\n  falsify html site/ && xdg-open site/index.html")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", type=Path, help="output folder (created; pages in it are replaced)")
    p.add_argument("--no-history", action="store_true", help="skip reading the git history")
    p.add_argument("--max-commits", type=int, default=200, metavar="N",
                   help="read at most N commits of history (default: %(default)s)")
    p.add_argument("--history-timeout", type=float, default=60.0, metavar="S",
                   help="stop reading history after S seconds (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    from ..dashboard import DashboardError, build_site  # noqa: PLC0415 - optional extra

    if args.max_commits < 1 or args.history_timeout <= 0:
        raise BadInput("--max-commits and --history-timeout must be positive")
    cset = load_contracts(args)
    bar = _progress()
    try:
        pages, note = build_site(cset, contracts_dir(args), args.out, with_history=not args.no_history,
                                 max_commits=args.max_commits, timeout=args.history_timeout,
                                 progress=bar, root=project_root(args))
    except DashboardError as exc:
        raise BadInput(str(exc)) from None
    except OSError as exc:
        raise BadInput(f"{args.out}: {exc.strerror or exc}") from None
    finally:
        if bar is not None:
            bar.close()
    if note:
        print(f"note: {note}", file=sys.stderr)
    print(f"wrote {len(pages)} page(s) to {args.out}/ (open {args.out / 'index.html'})")
    return 0


class _Bar:
    """tqdm over the file versions read from git (shown on a terminal only)."""

    def __init__(self) -> None:
        from tqdm import tqdm  # noqa: PLC0415 - part of the [html] extra

        self.bar = tqdm(desc="history", unit="version", disable=None, leave=False, file=sys.stderr)

    def __call__(self, done: int, total: int) -> None:
        self.bar.total = total
        self.bar.n = done
        self.bar.refresh() if done == total or done % 50 == 0 else None

    def close(self) -> None:
        self.bar.close()


def _progress() -> _Bar | None:
    try:
        return _Bar()
    except ImportError:
        return None
