"""Each falsifier's status and metrics over the commits that touched its contract.

Read with plain `git` subprocesses, bounded: one `git log` lists the commits (at most
`max_commits`) and the contract files each touched, one `git cat-file --batch` streams
every version's text, and the whole read stops at `timeout` seconds (what was read by
then is kept, and the caller is told the history is cut). A tree that is not a git
checkout, or a machine without git, has no history: that is not an error.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..contracts import Settings, contract_key, parse_text
from .model import Point

_SEP = "\x1e"


@dataclass
class History:
    #: (contract key, entry id) -> points, oldest first
    points: dict[tuple[str, str], list[Point]] = field(default_factory=dict)
    commits: int = 0
    note: str = ""  # why the history is empty or cut, for the terminal


def _git(args: list[str], cwd: Path, timeout: float, stdin: bytes | None = None) -> bytes | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True,
                             timeout=max(timeout, 0.1), check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def _metrics(records: object) -> dict[str, float]:
    out: dict[str, float] = {}
    if not isinstance(records, list):
        return out
    for r in records:
        m = r.get("metrics") if isinstance(r, dict) else None
        if isinstance(m, dict):
            for k, v in m.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in out:
                    out[str(k)] = float(v)
    return out


def read(contracts_dir: Path, max_commits: int = 200, timeout: float = 60.0,
         progress: Callable[[int, int], None] | None = None,
         settings: Settings | None = None) -> History:
    """The history of every contract under `contracts_dir` (see the module docstring);
    each past version is read with the loader `settings` of today's contracts."""
    deadline = time.monotonic() + timeout
    contracts_dir = contracts_dir.resolve()
    top = _git(["rev-parse", "--show-toplevel"], contracts_dir, timeout)
    if top is None:
        return History(note="no git history (not a git checkout, or git is missing)")
    root = Path(top.decode().strip())
    rel = PurePosixPath(contracts_dir.relative_to(root).as_posix())
    log = _git(["log", f"--max-count={max_commits}", f"--format={_SEP}%H%x09%cs", "--name-only",
                "--no-renames", "--", str(rel)], root, deadline - time.monotonic())
    if log is None:
        return History(note="git log failed; no history")
    commits: list[tuple[str, str, list[str]]] = []
    for chunk in log.decode("utf-8", "replace").split(_SEP)[1:]:
        head, *files = chunk.strip("\n").split("\n")
        sha, _, date = head.partition("\t")
        commits.append((sha, date, [f for f in files if f.strip()]))
    commits.reverse()  # oldest first
    wanted = [(sha, date, f, contract_key(root / f, contracts_dir)) for sha, date, files in commits
              for f in files if PurePosixPath(f).suffix in (".yaml", ".yml")]
    hist = History(commits=len(commits))
    if not wanted:
        return hist
    batch = "".join(f"{sha}:{f}\n" for sha, _, f, _ in wanted).encode()
    blob = _git(["cat-file", "--batch"], root, deadline - time.monotonic(), stdin=batch)
    if blob is None:
        hist.note = f"history cut: git did not answer within {timeout:.0f} s"
        return hist
    pos = 0
    for n, (sha, date, f, key) in enumerate(wanted):
        if progress:
            progress(n + 1, len(wanted))
        nl = blob.find(b"\n", pos)
        header = blob[pos:nl].decode("utf-8", "replace").split()
        pos = nl + 1
        if len(header) < 3 or header[1] != "blob":
            continue  # deleted in that commit ("missing")
        size = int(header[2])
        text = blob[pos:pos + size].decode("utf-8", "replace")
        pos += size + 1
        contract, _, _ = parse_text(root / f, text, settings, key=key)
        if contract is None:
            continue
        for e in contract.entries:
            ev = e.evidence.get("tests") if isinstance(e.evidence, dict) else None
            hist.points.setdefault((key, e.id), []).append(
                Point(sha[:12], date, e.status or "UNBOUND", _metrics(ev)))
        if time.monotonic() > deadline:
            hist.note = f"history cut after {n + 1} of {len(wanted)} file versions ({timeout:.0f} s)"
            break
    return hist
