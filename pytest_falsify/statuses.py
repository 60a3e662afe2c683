"""Status words: the lattice the plugin derives, and a project's own words mapped into it.

Pure: the ini option `falsify_status_map` arrives here as its lines; the plugin and the
CLI read it their own way and pass the lines in. A project that says `MERGED` where we
say PARTIAL_ALGORITHM_LEVEL maps the word once; the word stays on disk, verbatim, until
the tool derives a different status for that entry.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

#: Statuses the plugin writes (the lattice of the verdict table).
DERIVED_STATUSES = (
    "UNBOUND",
    "PARTIAL_ALGORITHM_LEVEL",
    "DISCHARGED",
    "FALSIFIED",
    "BLOCKER_FIXTURE_ABSENT",
)
#: Statuses seen in aprender's contracts, accepted when set by hand.
HAND_STATUSES = ("PROPOSED", "FUNCTIONAL", "ACTIVE_WITH_LIVE_EVIDENCE")
KNOWN_STATUSES = DERIVED_STATUSES + HAND_STATUSES
#: Statuses that claim evidence: `check` flags them when no test binds the falsifier.
CLAIMING_STATUSES = ("PARTIAL_ALGORITHM_LEVEL", "DISCHARGED", "ACTIVE_WITH_LIVE_EVIDENCE", "FUNCTIONAL")

OPTION = "falsify_status_map"
_LINE = re.compile(r"^\s*([^=\s][^=]*?)\s*=\s*(\S+)\s*$")


@dataclass(frozen=True)
class MapProblem:
    """A line of the ini option that does not parse (reported like a contract error)."""

    line: str
    message: str
    fix: str


@dataclass(frozen=True)
class StatusMap:
    """A project's words -> known statuses. `WORD*` maps every status starting with WORD
    (a status followed by free text: `VERIFIED — 74.0 TFLOP/s on ...`)."""

    exact: dict[str, str] = field(default_factory=dict)
    prefixes: tuple[tuple[str, str], ...] = ()  # (prefix, status), longest prefix first
    lines: dict[str, str] = field(default_factory=dict)  # word or 'WORD*' -> its ini line

    def resolve(self, word: str) -> str | None:
        """The known status `word` stands for, or None when it is unknown."""
        if word in KNOWN_STATUSES:
            return word
        if word in self.exact:
            return self.exact[word]
        for prefix, status in self.prefixes:
            if word.startswith(prefix):
                return status
        return None

    def words(self) -> list[str]:
        return list(KNOWN_STATUSES) + list(self.exact) + [p for p, _ in self.prefixes]

    def unknown(self, word: str) -> tuple[str, str]:
        """(message, fix) for a word nothing maps: the nearest word, and the ini line that
        maps it (the project's own line for a mapped word, or the line to add)."""
        candidates = self.words()
        upper = {c.upper(): c for c in candidates}
        close = difflib.get_close_matches(word.upper(), list(upper), n=1, cutoff=0.5)
        nearest = upper[close[0]] if close else None
        add = f"or map it: {OPTION} = {word} = <{' | '.join(KNOWN_STATUSES)}>"
        if nearest is None:
            return f"unknown status {word!r}", f"use one of {', '.join(KNOWN_STATUSES)}; {add}"
        own = self.lines.get(nearest) or self.lines.get(nearest + "*")
        where = f" (your ini maps it: '{OPTION} = {own}')" if own else ""
        return f"unknown status {word!r}", f"did you mean {nearest}?{where} {add}"


def parse(lines: Iterable[str]) -> tuple[StatusMap, list[MapProblem]]:
    """The map of the ini lines `WORD = STATUS` / `WORD* = STATUS`; blank lines and
    `#` comments are ignored."""
    exact: dict[str, str] = {}
    prefixes: list[tuple[str, str]] = []
    own: dict[str, str] = {}
    problems: list[MapProblem] = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            problems.append(MapProblem(line, f"{OPTION}: cannot read {line!r}",
                                       "write one mapping per line: WORD = STATUS"))
            continue
        word, status = m.group(1), m.group(2)
        if status not in KNOWN_STATUSES:
            close = [k for k in KNOWN_STATUSES if k.startswith(status.upper())] or \
                difflib.get_close_matches(status, KNOWN_STATUSES, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]}? " if close else ""
            problems.append(MapProblem(line, f"{OPTION}: {word} maps to unknown status {status!r}",
                                       f"{hint}map to one of {', '.join(KNOWN_STATUSES)}"))
            continue
        if word in KNOWN_STATUSES:
            problems.append(MapProblem(line, f"{OPTION}: {word} is a known status already",
                                       "remove the line"))
            continue
        if word == "*":
            problems.append(MapProblem(line, f"{OPTION}: '*' alone would map every word",
                                       "give the prefix: VERIFIED* = DISCHARGED"))
            continue
        if word.endswith("*"):
            prefixes.append((word[:-1], status))
        else:
            exact[word] = status
        own[word] = line
    prefixes.sort(key=lambda p: -len(p[0]))
    return StatusMap(exact, tuple(prefixes), own), problems
