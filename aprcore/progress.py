"""Progress bars for long work: tqdm on stderr, with rate and ETA, only on a terminal."""

from __future__ import annotations

import shutil
import sys

from tqdm import tqdm


def bar(total: int, unit: str, *, enabled: bool = True, initial: int = 0) -> tqdm:
    """A bar over `total` units (drawn only when `enabled` and stderr is a terminal, so pipes,
    logs and JSON output stay clean); `initial` units are already done (a resumed run)."""
    # A terminal that reports no size (a fresh pty says 0 x 0, which tqdm reads as no room
    # for any bar) gets 100 x 20 instead of an empty bar.
    cols, rows = shutil.get_terminal_size((100, 20))
    return tqdm(total=total, initial=initial, unit=unit, file=sys.stderr, ncols=cols, nrows=rows,
                disable=None if enabled else True)
