"""Byte-minimal edits of contract files: status, evidence, version and changelog only.

Why not ruamel.yaml round-trip: it re-indents and re-wraps whole files, so a status change
would produce a diff nobody can review. Instead the file is composed with PyYAML, whose
node marks give character offsets, and only the spans that must change are spliced, in
the style the file already uses. The result is re-parsed and compared with the intended
data; any other difference aborts the edit (the file is then left untouched).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import yamlsafe
from .contracts import BLOCKS, STATUS_KEYS

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?$")


class RewriteError(Exception):
    """The file could not be edited minimally; it is left as it is."""


@dataclass
class EntryUpdate:
    id: str
    old_status: str | None
    status: str | None  # None: keep
    evidence: dict | None  # None: keep

    @property
    def transition(self) -> bool:
        return self.status is not None and self.status != self.old_status


def bump_minor(version: str) -> str | None:
    """'1.3.0' -> '1.4.0', '1.3' -> '1.4'; None when the version is not of that shape."""
    m = _VERSION.match(version.strip())
    if not m:
        return None
    major, minor, patch = m.group(1), int(m.group(2)) + 1, m.group(3)
    return f"{major}.{minor}.0" if patch is not None else f"{major}.{minor}"


_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]*$")
# Reads as a number to some YAML parser (1e3 is a float in YAML 1.2): always quoted.
_NUMERIC = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_RESOLVER = yaml.resolver.Resolver()


def _flow(value: object) -> str | None:
    """Flow YAML of simple data, or None when PyYAML's emitter must decide.

    PyYAML's pure-Python representer costs ~0.1 ms a call, which is most of the time of
    rewriting 2,000 files; evidence records are simple, so they are emitted here. The
    rewrite re-parses its output, and a property test checks this against yaml.safe_load.
    """
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        text = repr(value)
        if "." not in text and "e" in text:  # YAML 1.1 floats need a dot: 1e-09 -> 1.0e-09
            text = text.replace("e", ".0e", 1)
        return text
    if isinstance(value, str):
        return _flow_str(value)
    if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        parts = []
        for k, v in value.items():
            fk, fv = (_flow(k) if isinstance(k, str) else None), _flow(v)
            if fk is None or fv is None:
                return None
            parts.append(f"{fk}: {fv}")
        return "{" + ", ".join(parts) + "}"
    if isinstance(value, list):
        items = [_flow(v) for v in value]
        return None if any(i is None for i in items) else "[" + ", ".join(items) + "]"  # type: ignore[arg-type]
    return None


@functools.lru_cache(maxsize=4096)
def _flow_str(value: str) -> str | None:
    if (_PLAIN.match(value) and not _NUMERIC.match(value)
            and _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == "tag:yaml.org,2002:str"):
        return value
    if value.isprintable() and value == value.strip() and value:
        return "'" + value.replace("'", "''") + "'"
    return None


def _dump(value: object, flow: bool) -> str:
    if flow:
        fast = _flow(value)
        if fast is not None:
            return fast
    out = yaml.dump(value, Dumper=_Dumper, default_flow_style=flow, sort_keys=False,
                    width=10**9, allow_unicode=True)
    if out.endswith("\n...\n"):
        out = out[:-5]
    return out.rstrip("\n")


def _block_lines(key: str, value: object) -> list[str]:
    """`key: value` as block lines; lists of mappings get one flow line per item, so an
    evidence record is one reviewable line of the diff."""
    if not isinstance(value, dict):
        return _dump({key: value}, flow=False).split("\n")
    lines = [f"{key}:"]
    for k, v in value.items():
        if isinstance(v, list) and v and all(isinstance(i, dict) for i in v):
            lines.append(f"  {k}:" if str(k).isidentifier() else f"  {_dump(k, flow=True)}:")
            lines.extend(f"  - {_dump(i, flow=True)}" for i in v)
        else:
            lines.extend("  " + ln for ln in _dump({k: v}, flow=False).split("\n"))
    return lines


def _node_end(node: yaml.Node) -> int:
    if isinstance(node, yaml.ScalarNode) or node.flow_style or not node.value:
        return node.end_mark.index
    last = node.value[-1]
    return _node_end(last[1] if isinstance(node, yaml.MappingNode) else last)


def _after_line(text: str, pos: int) -> int:
    """Index just after the line that holds `pos` (block scalars already end after it)."""
    if pos > 0 and text[pos - 1] == "\n":
        return pos
    i = text.find("\n", pos)
    return len(text) if i == -1 else i + 1


def _scalar_like(old: yaml.ScalarNode, new: str) -> str:
    style = old.style if old.style in ("'", '"') else ""
    return f"{style}{new}{style}"


class _Edit:
    def __init__(self, text: str) -> None:
        self.text = text
        self.nl = "\r\n" if "\r\n" in text else "\n"
        self.splices: list[tuple[int, int, str]] = []

    def replace(self, start: int, end: int, new: str) -> None:
        self.splices.append((start, end, new))

    def insert_lines(self, pos: int, lines: list[str], indent: int) -> None:
        pos = _after_line(self.text, pos)
        prefix = self.nl if pos == len(self.text) and self.text and not self.text.endswith("\n") else ""
        body = "".join(" " * indent + ln + self.nl for ln in lines)
        self.splices.append((pos, pos, prefix + body))

    def set_key(self, mapping: yaml.MappingNode, key: str, value: object, after: int | None) -> None:
        """Replace the value of `key` in `mapping`, or add the key, in the mapping's style."""
        pair = yamlsafe.mapping_get(mapping, key)
        if mapping.flow_style:
            flow_value = _dump(value, flow=True)
            if pair is not None:
                _, v = pair
                self.replace(v.start_mark.index, v.end_mark.index, flow_value)
            else:
                close = mapping.end_mark.index - 1
                sep = ", " if mapping.value else ""
                self.replace(close, close, f"{sep}{key}: {flow_value}")
            return
        indent = mapping.value[0][0].start_mark.column
        if isinstance(value, str):
            if pair is not None:
                _, v = pair
                if not isinstance(v, yaml.ScalarNode):
                    raise RewriteError(f"{key} is not a scalar")
                self.replace(v.start_mark.index, v.end_mark.index, _scalar_like(v, value))
            else:
                self.insert_lines(after if after is not None else _node_end(mapping),
                                  [f"{key}: {value}"], indent)
            return
        block = _block_lines(key, value)
        if pair is not None:
            k, v = pair
            end = _after_line(self.text, _node_end(v))
            pad = " " * indent
            body = block[0] + self.nl + "".join(pad + ln + self.nl for ln in block[1:])
            self.replace(k.start_mark.index, end, body)
        else:
            self.insert_lines(after if after is not None else _node_end(mapping), block, indent)

    def append_item(self, seq: yaml.SequenceNode, item: dict) -> None:
        if seq.flow_style or not seq.value:
            close = seq.end_mark.index - 1
            if self.text[close] != "]":
                raise RewriteError("changelog is neither a block nor a flow list")
            sep = ", " if seq.value else ""
            self.replace(close, close, sep + _dump(item, flow=True))
            return
        last = seq.value[-1]
        col = last.start_mark.column - 2  # the '- ' before the item
        if col < 0 or self.text[last.start_mark.index - 2] != "-":
            raise RewriteError("changelog items are not '- ' items")
        flow = bool(getattr(last, "flow_style", False)) and isinstance(last, yaml.MappingNode)
        if flow:
            lines = ["- " + _dump(item, flow=True)]
        else:
            dumped = _dump([item], flow=False).split("\n")
            lines = dumped
        self.insert_lines(_node_end(last), lines, col)

    def apply(self) -> str:
        out = self.text
        last_start = None
        # Same-position inserts keep the order they were made in: apply the later first.
        order = sorted(enumerate(self.splices), key=lambda s: (s[1][0], s[1][1], s[0]), reverse=True)
        for _, (start, end, new) in order:
            if last_start is not None and end > last_start:
                raise RewriteError("overlapping edits")
            out = out[:start] + new + out[end:]
            last_start = start
        return out


def rewrite_text(text: str, updates: Mapping[str, EntryUpdate], today: _dt.date,
                 tool: str = "pytest-falsify", parsed: tuple[yaml.Node, object] | None = None) -> str:
    """The contract text with `updates` applied; unchanged text when nothing changes.

    `parsed` is the (node tree, data) of `text` when the caller has it already.
    """
    if parsed is None:
        try:
            root = yamlsafe.compose(text)
            old = yamlsafe.construct(root)
        except yamlsafe.YamlProblem as exc:
            raise RewriteError(f"line {exc.line}: {exc.message}") from None
    else:
        root, old = parsed
    if not isinstance(root, yaml.MappingNode) or not isinstance(old, dict):
        raise RewriteError("not a contract mapping")
    # Copy on write: `expected` shares every untouched object with `old`, which stays intact.
    expected = dict(old)
    edit = _Edit(text)
    transitions: list[str] = []
    touched: set[tuple[str, int]] = set()  # (block, index) of the items edited
    for block in BLOCKS:
        pair = yamlsafe.mapping_get(root, block)
        if pair is None or not isinstance(pair[1], yaml.SequenceNode):
            continue
        expected[block] = items = list(expected[block])
        for idx, (item_node, item) in enumerate(zip(pair[1].value, items, strict=True)):
            if not isinstance(item, dict) or item.get("id") not in updates:
                continue
            item = items[idx] = dict(item)
            touched.add((block, idx))
            u = updates[item["id"]]
            key = next((k for k in STATUS_KEYS if k in item), "discharge_status")
            after = None
            if u.status is not None and item.get(key) != u.status:
                edit.set_key(item_node, key, u.status, None)
                spair = yamlsafe.mapping_get(item_node, key)
                after = _node_end(spair[1]) if spair else None
                transitions.append(f"{u.id}: {item.get(key) or 'UNBOUND'} -> {u.status}")
                item[key] = u.status
            if u.evidence is not None and item.get("evidence") != u.evidence:
                current = item.get("evidence")
                if current is not None and not (isinstance(current, dict) and "tests" in current):
                    raise RewriteError(
                        f"{u.id}: 'evidence' holds hand-written content the plugin would overwrite; "
                        "rename that key (e.g. to notes) and run again")
                if after is not None and yamlsafe.mapping_get(item_node, key) is None:
                    after = None  # status inserted at the end: put evidence there too
                edit.set_key(item_node, "evidence", u.evidence, after)
                item["evidence"] = u.evidence
    if transitions:
        _bump(edit, root, expected, transitions, today, tool)
    if not edit.splices:
        return text
    new_text = edit.apply()
    try:
        new_root = yamlsafe.compose(new_text, check=False)
        ok = _same(text, root, new_text, new_root, expected, touched, old)
    except yamlsafe.YamlProblem as exc:
        raise RewriteError(f"edit produced invalid YAML at line {exc.line}: {exc.message}") from None
    if not ok:
        raise RewriteError("edit changed more than the intended values")
    return new_text


def _equal(node: yaml.Node, want: object) -> bool:
    got = yamlsafe.construct(node)
    # Our rendered values load back as themselves, so the direct comparison is the fast
    # path; the YAML round trip of `want` only settles representation quirks.
    return got == want or got == _normalize(want)


def _same(old_text: str, old_root: yaml.MappingNode, new_text: str, new_root: yaml.Node,
          expected: dict, touched: set[tuple[str, int]], old: dict) -> bool:
    """Does the new document hold exactly `expected`?

    Edited entries and metadata are constructed and compared with what was intended. Every
    other part is compared by its source text, which the splices left byte-identical when
    all went well; if a slice differs, its data is compared instead. This is the same check
    as constructing both documents, at a fraction of the cost on 2,000 files.
    """
    if not isinstance(new_root, yaml.MappingNode) or len(new_root.value) != len(old_root.value):
        return False

    def same_text(a: yaml.Node, b: yaml.Node, want: object) -> bool:
        if old_text[a.start_mark.index:a.end_mark.index] == new_text[b.start_mark.index:b.end_mark.index]:
            return True
        return _equal(b, want)

    def same_mapping(a: yaml.Node, b: yaml.Node, was: object, want: object) -> bool:
        # Key by key: values we did not change must read the same, the others are built.
        if not (isinstance(a, yaml.MappingNode) and isinstance(b, yaml.MappingNode)
                and isinstance(was, dict) and isinstance(want, dict)):
            return _equal(b, want)
        olds = {k.value: v for k, v in a.value if isinstance(k, yaml.ScalarNode)}
        news = {k.value: v for k, v in b.value if isinstance(k, yaml.ScalarNode)}
        if len(news) != len(b.value) or set(news) != set(want):
            return False
        for k, nv in news.items():
            ov = olds.get(k)
            if ov is not None and want[k] is was.get(k):
                if not same_text(ov, nv, want[k]):
                    return False
            elif not _equal(nv, want[k]):
                return False
        return True

    for (ok_, ov), (nk, nv) in zip(old_root.value, new_root.value, strict=True):
        if not isinstance(nk, yaml.ScalarNode) or ok_.value != nk.value:
            return False
        key = nk.value
        want = expected.get(key)
        if key in BLOCKS and isinstance(ov, yaml.SequenceNode):
            if not isinstance(nv, yaml.SequenceNode) or len(nv.value) != len(ov.value):
                return False
            for idx, (oi, ni) in enumerate(zip(ov.value, nv.value, strict=True)):
                if (key, idx) in touched:
                    if not same_mapping(oi, ni, old[key][idx], want[idx]):
                        return False
                elif not same_text(oi, ni, want[idx]):
                    return False
        elif key == "metadata":
            if not same_mapping(ov, nv, old.get(key), want):
                return False
        elif not same_text(ov, nv, want):
            return False
    return True


def _normalize(data: object) -> object:
    # Round-trip through YAML so that our rendered values compare as the loader sees them.
    return yaml.load(_dump(data, flow=False), Loader=yamlsafe.Loader)


def _bump(edit: _Edit, root: yaml.MappingNode, expected: dict, transitions: list[str],
          today: _dt.date, tool: str) -> None:
    pair = yamlsafe.mapping_get(root, "metadata")
    meta = expected.get("metadata")
    if pair is None or not isinstance(pair[1], yaml.MappingNode) or not isinstance(meta, dict):
        return  # nowhere to record a version; the statuses are still written
    meta = expected["metadata"] = dict(meta)
    if isinstance(meta.get("changelog"), list):
        meta["changelog"] = list(meta["changelog"])
    mnode = pair[1]
    version = meta.get("version")
    new_version = bump_minor(version) if isinstance(version, str) else None
    if new_version is not None:
        edit.set_key(mnode, "version", new_version, None)
        meta["version"] = new_version
    entry = {"version": new_version or str(version) if version is not None else None,
             "date": today, "changes": [f"{t} ({tool})" for t in transitions]}
    if entry["version"] is None:
        del entry["version"]
    cpair = yamlsafe.mapping_get(mnode, "changelog")
    if cpair is not None and isinstance(cpair[1], yaml.SequenceNode) and isinstance(meta.get("changelog"), list):
        edit.append_item(cpair[1], entry)
        meta["changelog"].append(entry)
    elif cpair is None:
        edit.set_key(mnode, "changelog", [entry], None)
        meta["changelog"] = [entry]


# --- files ---------------------------------------------------------------------------

def atomic_write(path: Path, data: bytes) -> None:
    """Write via a temp file in the same directory, fsync, then os.replace."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(OSError):
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def locked(directory: Path, timeout: float = 120.0) -> Iterator[None]:
    """An exclusive lock on a contracts directory across processes.

    fcntl/msvcrt rather than the `filelock` package keeps the plugin's dependencies at
    pytest + pyyaml; the lock file `.falsify.lock` is git-ignored (*.lock).
    """
    import time

    lock_path = directory / ".falsify.lock"
    f = open(lock_path, "a+b")  # noqa: SIM115 - held for the with-block
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if os.name == "nt":  # pragma: no cover - exercised on Windows only
                    import msvcrt

                    f.seek(0)
                    msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
                else:
                    import fcntl

                    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"could not lock {lock_path} within {timeout:.0f}s") from None
                time.sleep(0.05)
        yield
    finally:
        f.close()  # closing releases the lock
