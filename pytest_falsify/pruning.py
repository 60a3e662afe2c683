"""When stored evidence may be pruned: only for a test that provably no longer exists. Pure.

A run sees what exists through collection, not through what it selected: the plugin
records, for every collector below the directory level (a test file, a class), the node
ids of the children that collector itself yielded, before any plugin filters them
(`--lf` filters a file's children at collection; `-k`, `-m`, `--deselect`, `--sw` and
other plugins deselect later; node-id arguments match after a file is collected whole).
A stored test that reported in this run exists (it is kept without a look at the disk:
the common case, every stored test of a full run). Any other stored test is gone when

- its file no longer exists, or
- the innermost collector above it that this run collected (a file, or a class inside
  it) no longer yields it, nor a collector that might hold it.

Anything else (the file was ignored, not collected, skipped whole by `--lf`, or the test
sits in a class this run did not descend into) proves nothing: the evidence stays.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

#: collector node id -> node ids of the children it yielded
Children = Mapping[str, Collection[str]]


def is_gone(test: str, children: Children, file_exists: Callable[[str], bool],
            ran: Collection[str] = ()) -> bool:
    """True only when `test` (a node id) provably no longer exists; `ran`: the node ids
    that reported in this run."""
    if test in ran:
        return False
    if not file_exists(test.split("::", 1)[0]):
        return True
    parent = _innermost_collected(test, children)
    if parent is None:
        return False
    yielded = children[parent]
    # Still yielded, or under a collector of `parent` this run did not descend into: the
    # test itself or one of its prefixes below `parent` is among the children (membership
    # per prefix, not a scan of every child: thousands of tests per file at scale).
    end = len(parent)
    while (end := test.find("::", end + 2)) > 0:
        if test[:end] in yielded:
            return False
    return test not in yielded


def _innermost_collected(test: str, children: Children) -> str | None:
    end = len(test)
    while (end := test.rfind("::", 0, end)) > 0:
        if test[:end] in children:
            return test[:end]
    return None
