"""A contract file's own conventions, read from what it already holds.

The rewriter adds lines the way the file writes its existing ones, so a rewrite of a
project's contracts reads like a hand edit in that project: a changelog entry shaped like
its siblings (plain strings or mappings, `change` or `changes`, newest-first or
oldest-first, dates quoted alike), a status key named like its siblings' key, a gate's
`verdict` kept consistent with its status. Pure functions over nodes and data.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import yaml

from . import yamlemit

#: Status -> gate `verdict`, where an entry has one; "*" is every other status.
DEFAULT_VERDICTS = {"DISCHARGED": "pass", "FALSIFIED": "fail", "*": "pending"}

_VERSION_PREFIX = re.compile(r"^(v?)(\d+(?:\.\d+)+)(\s*\(\d{4}-\d{2}-\d{2}\)\s*[:\u2014\u2013-]?\s*"
                             r"|\s*[:\u2014\u2013-]+\s*|\s+)")
_DATE_PREFIX = re.compile(r"^(\d{4}-\d{2}-\d{2})(\s*[:\u2014\u2013-]+\s*|\s+)")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TEXT_KEYS = ("changes", "change")


def parse_verdicts(text: str) -> dict[str, str]:
    """`DISCHARGED=pass FALSIFIED=fail *=pending` (spaces, commas or lines) as a map."""
    out: dict[str, str] = {}
    for item in re.split(r"[\s,]+", text.strip()):
        if not item:
            continue
        status, sep, word = item.partition("=")
        if not sep or not status or not word:
            raise ValueError(f"falsify_verdict_map: {item!r} is not STATUS=word")
        out[status] = word
    out.setdefault("*", DEFAULT_VERDICTS["*"])
    return out


def verdict_for(status: str, current: object, verdicts: Mapping[str, str]) -> str:
    """The verdict word of `status`, in the letter case the entry already uses."""
    word = verdicts.get(status, verdicts.get("*", "pending"))
    if isinstance(current, str) and current.isupper():
        return word.upper()
    if isinstance(current, str) and current[:1].isupper() and current[1:].islower():
        return word.capitalize()
    return word


def sibling_status_key(items: Sequence[object], keys: Sequence[str], default: str) -> str:
    """The status key most entries of the block use (ties: the first one met)."""
    seen = Counter(k for it in items if isinstance(it, dict) for k in keys if k in it)
    if not seen:
        return default
    best = max(seen.values())
    for it in items:
        for k in keys:
            if isinstance(it, dict) and k in it and seen[k] == best:
                return k
    return default  # pragma: no cover - unreachable: some key has the best count


def quote_of(node: yaml.Node | None) -> str:
    return node.style if isinstance(node, yaml.ScalarNode) and node.style in ("'", '"') else ""


def _order_key(item: object) -> tuple | None:
    """(kind, value) a changelog item sorts by: its version, else its date."""
    if isinstance(item, dict):
        v = item.get("version")
        if v is not None:
            parts = re.findall(r"\d+", str(v))
            if parts:
                return (0, tuple(int(p) for p in parts))
        d = item.get("date")
        if d is not None:
            return (1, str(d)[:10])
        return None
    if isinstance(item, str):
        m = _VERSION_PREFIX.match(item)
        if m:
            return (0, tuple(int(p) for p in m.group(2).split(".")))
        m = _DATE_PREFIX.match(item)
        if m:
            return (1, m.group(1))
    return None


def newest_first(items: Sequence[object]) -> bool:
    """True when the changelog's first item is newer than its last one."""
    if len(items) < 2:
        return False
    a, b = _order_key(items[0]), _order_key(items[-1])
    return a is not None and b is not None and a[0] == b[0] and a[1] > b[1]


@dataclass
class Changelog:
    """How a changelog writes its entries, read from its newest entry (the template)."""

    newest_first: bool = False
    kind: str = "mapping"  # "mapping" or "string"
    flow: bool = True  # mapping items written as {…}
    keys: tuple[str, ...] = ("version", "date", "changes")
    text_key: str = "changes"
    text_list: bool = True  # the changes as a list (else one string)
    text_flow: bool = True  # that list written as […]
    quotes: tuple[tuple[str, str], ...] = ()  # key -> quote style of the template's scalars
    list_offset: int = 0  # block: column of the changes' '- ' minus the key's column
    string_quote: str = ""
    prefix: str = ""  # string kind: the template's text before the changes (with its version)

    @classmethod
    def of(cls, seq: yaml.SequenceNode | None, items: Sequence[object]) -> Changelog:
        if seq is None or not items or not seq.value:
            return cls()
        first = newest_first(items)
        node, item = (seq.value[0], items[0]) if first else (seq.value[-1], items[-1])
        if isinstance(item, str) and isinstance(node, yaml.ScalarNode):
            return cls(newest_first=first, kind="string", string_quote=quote_of(node), prefix=item)
        if not (isinstance(item, dict) and isinstance(node, yaml.MappingNode)):
            return cls(newest_first=first)
        text_key = next((k for k in _TEXT_KEYS if k in item), None)
        if text_key is None:
            text_key = next((k for k, v in item.items() if k not in ("version", "date")
                             and isinstance(v, (str, list))), "changes")
        keys = tuple(k for k in item if k in ("version", "date", text_key)) or cls.keys
        if text_key not in keys:
            keys += (text_key,)
        quotes = []
        text_list, text_flow, offset = True, True, 0
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                continue
            if isinstance(v, yaml.ScalarNode):
                quotes.append((k.value, quote_of(v)))
                if k.value == text_key:
                    text_list = False
            elif k.value == text_key and isinstance(v, yaml.SequenceNode):
                text_flow = bool(v.flow_style)
                if v.value:
                    quotes.append((text_key, quote_of(v.value[0])))
                    offset = v.value[0].start_mark.column - 2 - k.start_mark.column
        return cls(newest_first=first, kind="mapping", flow=bool(node.flow_style), keys=keys,
                   text_key=text_key, text_list=text_list, text_flow=text_flow, quotes=tuple(quotes),
                   list_offset=max(offset, 0))

    def entry(self, version: str | None, today: _dt.date, changes: list[str],
              flow_only: bool) -> tuple[list[str], object]:
        """(lines of the new item, its '- ' first; the data it loads as)."""
        if self.kind == "string":
            text = self._string(version, today, "; ".join(changes))
            return ["- " + yamlemit.scalar(text, self.string_quote)], text
        quotes = dict(self.quotes)
        data: dict[str, object] = {}
        spelled: dict[str, str] = {}
        for key in self.keys:
            q = quotes.get(key, "")
            if key == "version":
                if version is None:
                    continue
                data[key], spelled[key] = version, yamlemit.scalar(version, q)
            elif key == "date":
                iso = today.isoformat()
                data[key] = iso if q else today
                spelled[key] = yamlemit.scalar(iso, q) if q else iso
            elif key != self.text_key:
                continue
            elif self.text_list:
                data[key] = list(changes)
                spelled[key] = ""  # written below
            else:
                data[key] = "; ".join(changes)
                spelled[key] = yamlemit.scalar(data[key], q)  # type: ignore[arg-type]
        items = [yamlemit.scalar(c, quotes.get(self.text_key, "")) for c in changes]
        if self.flow or flow_only:
            parts = [f"{k}: {spelled[k] if spelled[k] else '[' + ', '.join(items) + ']'}"
                     for k in data]
            return ["- {" + ", ".join(parts) + "}"], data
        lines: list[str] = []
        for k in data:
            lead = "- " if not lines else "  "
            if spelled[k]:
                lines.append(f"{lead}{k}: {spelled[k]}")
            elif self.text_flow:
                lines.append(f"{lead}{k}: [{', '.join(items)}]")
            else:
                lines.append(f"{lead}{k}:")
                pad = "  " + " " * self.list_offset
                lines.extend(f"{pad}- {i}" for i in items)
        return lines, data

    def _string(self, version: str | None, today: _dt.date, changes: str) -> str:
        m = _VERSION_PREFIX.match(self.prefix)
        if m and version is not None:
            sep = _ISO_DATE.sub(today.isoformat(), m.group(3))
            return f"{m.group(1)}{version}{sep}{changes}"
        m = _DATE_PREFIX.match(self.prefix)
        if m:
            return f"{today.isoformat()}{m.group(2)}{changes}"
        return f"{version}: {changes}" if version is not None else changes
