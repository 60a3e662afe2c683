"""Byte-minimal edits of contract files: status, evidence, version and changelog only.

Why not ruamel.yaml round-trip: it re-indents and re-wraps whole files, so a status change
would produce a diff nobody can review. Instead the file is composed with PyYAML, whose
node marks give character offsets, and only the spans that must change are spliced, in
the style the file already uses (see style.py). The result is re-parsed and compared with
the intended data; any other difference aborts the edit (the file is then left untouched).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import yaml

from . import style, yamlemit, yamlsafe
from .contracts import BLOCKS, STATUS_KEYS, status_path

_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?$")
_MERGE_TAG = "tag:yaml.org,2002:merge"


class RewriteError(Exception):
    """The file could not be edited minimally; it is left as it is."""


@dataclass
class EntryUpdate:
    id: str
    old_status: str | None
    status: str | None  # None: keep
    evidence: dict | None  # None: keep (keys the plugin owns inside `evidence:`)

    @property
    def transition(self) -> bool:
        return self.status is not None and self.status != self.old_status


@dataclass(frozen=True)
class Options:
    """Project settings of the rewrite (ini options of the plugin)."""

    tool: str = "pytest-falsify"
    verdicts: Mapping[str, str] = field(default_factory=lambda: dict(style.DEFAULT_VERDICTS))

    @classmethod
    def from_ini(cls, get: Callable[[str], object]) -> Options:
        """From the ini options (`get(name)`: the value, or ''/None when unset); raises
        ValueError with the option's name on a bad value."""
        text = get("falsify_verdict_map")
        if not text:
            return cls()
        if isinstance(text, list):
            text = " ".join(map(str, text))
        return cls(verdicts=style.parse_verdicts(str(text)))


def bump_minor(version: str) -> str | None:
    """'1.3.0' -> '1.4.0', '1.3' -> '1.4'; None when the version is not of that shape."""
    m = _VERSION.match(version.strip())
    if not m:
        return None
    major, minor, patch = m.group(1), int(m.group(2)) + 1, m.group(3)
    return f"{major}.{minor}.0" if patch is not None else f"{major}.{minor}"


def _node_end(node: yaml.Node) -> int:
    if isinstance(node, yaml.ScalarNode) or node.flow_style or not node.value:
        return node.end_mark.index
    last = node.value[-1]
    return _node_end(last[1] if isinstance(node, yaml.MappingNode) else last)


def _last_scalar(node: yaml.Node) -> yaml.Node:
    while not isinstance(node, yaml.ScalarNode) and not node.flow_style and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, yaml.MappingNode) else last
    return node


def _after_line(text: str, pos: int) -> int:
    """Index just after the line that holds `pos` (block scalars already end after it)."""
    if pos > 0 and text[pos - 1] == "\n":
        return pos
    i = text.find("\n", pos)
    return len(text) if i == -1 else i + 1


def _line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def _scalar_like(old: yaml.ScalarNode, new: str) -> str:
    style_ = old.style if old.style in ("'", '"') else ""
    return yamlemit.scalar(new, style_) if style_ else new


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def shared_nodes(root: yaml.Node) -> set[int]:
    """ids of the nodes reached more than once (through an alias or a merge key), and of
    everything under them: editing one of them would change every place that uses it."""
    seen: set[int] = set()
    shared: set[int] = set()

    def mark(node: yaml.Node) -> None:
        stack = [node]
        while stack:
            n = stack.pop()
            if id(n) in shared:
                continue
            shared.add(id(n))
            if isinstance(n, yaml.MappingNode):
                stack.extend(x for pair in n.value for x in pair)
            elif isinstance(n, yaml.SequenceNode):
                stack.extend(n.value)

    stack = [root]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            mark(n)
            continue
        seen.add(id(n))
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                if k.tag == _MERGE_TAG:  # not flattened yet: what it merges is shared
                    mark(v)
                stack.extend((k, v))
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)
    return shared


class _Edit:
    def __init__(self, text: str, shared: set[int]) -> None:
        self.text = text
        self.shared = shared
        self.nl = "\r\n" if "\r\n" in text else "\n"
        self.splices: list[tuple[int, int, str]] = []
        self.context = ""  # the entry being edited, for messages

    def guard(self, what: str, *nodes: yaml.Node | None) -> None:
        """Refuse to edit a node that is reached through an alias or merge key."""
        for node in nodes:
            if node is None:
                continue
            pairs = node.value if isinstance(node, yaml.MappingNode) else ()
            if id(node) in self.shared or any(
                    id(k) in self.shared or k.tag == _MERGE_TAG for k, _ in pairs):
                raise RewriteError(
                    f"{what} (line {_line(node)}) is shared through a YAML anchor/alias or "
                    "merge key ('<<'); editing it would change the entries that use it too: "
                    "write it out in full")
            for k, _ in pairs if "?" in self.text else ():
                before = self.text[_line_start(self.text, k.start_mark.index):k.start_mark.index]
                before = before.rstrip(" \t")
                if before.endswith("?") and (len(before) == 1 or before[-2] in " \t-{,["):
                    raise RewriteError(f"{what} (line {_line(k)}) uses an explicit '? key'; "
                                       "write it as 'key: value'")

    def replace(self, start: int, end: int, new: str) -> None:
        self.splices.append((start, end, new))

    def insert_lines(self, pos: int, lines: list[str], indent: int) -> None:
        pos = _after_line(self.text, pos)
        prefix = self.nl if pos == len(self.text) and self.text and not self.text.endswith("\n") else ""
        body = "".join(" " * indent + ln + self.nl for ln in lines)
        self.splices.append((pos, pos, prefix + body))

    def insert_before_line(self, pos: int, lines: list[str], indent: int) -> None:
        start = _line_start(self.text, pos)
        self.splices.append((start, start, "".join(" " * indent + ln + self.nl for ln in lines)))

    def _flow_sep(self, close: int, empty: bool) -> str:
        """', ' before a new last item of a flow collection, or ' ' after a trailing comma."""
        if empty:
            return ""
        return " " if self.text[:close].rstrip().endswith(",") else ", "

    def set_key(self, mapping: yaml.MappingNode, key: str, value: object, after: int | None) -> None:
        """Replace the value of `key` in `mapping`, or add the key, in the mapping's style."""
        pair = yamlsafe.mapping_get(mapping, key)
        if pair is not None and id(pair[1]) in self.shared:
            raise RewriteError(
                f"{self.context}{key} (line {_line(pair[1])}) is shared through a YAML "
                "anchor/alias; editing it would change every place that uses it: write the "
                "value out in full")
        if mapping.flow_style:
            flow_value = yamlemit.dump(value, flow=True)
            if pair is not None:
                _, v = pair
                self.replace(v.start_mark.index, v.end_mark.index, flow_value)
            else:
                close = mapping.end_mark.index - 1
                sep = self._flow_sep(close, not mapping.value)
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
                                  [f"{key}: {yamlemit.scalar(value)}"], indent)
            return
        block = yamlemit.block_lines(key, value)
        if pair is not None:
            k, v = pair
            end = _after_line(self.text, _node_end(v))
            pad = " " * indent
            body = block[0] + self.nl + "".join(pad + ln + self.nl for ln in block[1:])
            self.replace(k.start_mark.index, end, body)
        else:
            self.insert_lines(after if after is not None else _node_end(mapping), block, indent)

    def add_item(self, seq: yaml.SequenceNode, lines: list[str], first: bool) -> None:
        """Add an item (`lines`, the first starting '- ') as the first or last of `seq`."""
        if seq.flow_style or not seq.value:
            if len(lines) != 1 or self.text[seq.end_mark.index - 1] != "]":
                raise RewriteError("changelog is neither a block nor a flow list")
            item = lines[0][2:]
            if first and seq.value:
                at = self.text.index("[", seq.start_mark.index) + 1
                self.replace(at, at, f"{item}, ")
            else:
                close = seq.end_mark.index - 1
                self.replace(close, close, self._flow_sep(close, not seq.value) + item)
            return
        near = seq.value[0] if first else seq.value[-1]
        col = near.start_mark.column - 2  # the '- ' before the item
        if col < 0 or self.text[near.start_mark.index - 2] != "-":
            raise RewriteError("changelog items are not '- ' items")
        if first:
            self.insert_before_line(near.start_mark.index, lines, col)
        else:
            self.insert_lines(_node_end(near), lines, col)

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


def unrewritable(text: str) -> str | None:
    """Why a text cannot be spliced at all, or None."""
    cr = text.count("\r")
    if cr and cr != text.count("\r\n"):
        return ("line endings are bare CR ('\\r', old Mac style) or mixed; save the file "
                "with LF or CRLF line endings")
    return None


def rewrite_text(text: str, updates: Mapping[str, EntryUpdate], today: _dt.date,
                 tool: str | None = None, parsed: tuple[yaml.Node, object] | None = None,
                 options: Options | None = None) -> str:
    """The contract text with `updates` applied; unchanged text when nothing changes.

    `parsed` is the (node tree, data) of `text` when the caller has it already.
    Raises RewriteError, saying why, when the file cannot be edited safely.
    """
    return rewrite(text, updates, today, tool, parsed, options)[0]


def rewrite(text: str, updates: Mapping[str, EntryUpdate], today: _dt.date,
            tool: str | None = None, parsed: tuple[yaml.Node, object] | None = None,
            options: Options | None = None) -> tuple[str, yaml.Node | None, object]:
    """rewrite_text, plus the node tree of the new text, composed with the loader's
    checks, and its data (both None when unchanged), so the caller can hand them to the
    loader: the data is what the verification proved the new text holds (see `_verified`)."""
    opts = options or Options()
    if tool is not None:
        opts = Options(tool, opts.verdicts)
    why = unrewritable(text)
    if why:
        raise RewriteError(why)
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
    # Nodes are shared only through anchors: without '&' in the text there are none.
    shared = shared_nodes(root) if "&" in text else set()
    # Copy on write: `expected` shares every untouched object with `old`, which stays intact.
    expected = dict(old)
    edit = _Edit(text, shared)
    transitions: list[str] = []
    touched: set[tuple[str, int]] = set()  # (block, index) of the items edited
    for block in BLOCKS:
        pair = yamlsafe.mapping_get(root, block)
        if pair is None or not isinstance(pair[1], yaml.SequenceNode):
            continue
        expected[block] = items = list(expected[block])
        new_key = style.sibling_status_key(items, STATUS_KEYS, "discharge_status")
        for idx, (item_node, item) in enumerate(zip(pair[1].value, items, strict=True)):
            if not isinstance(item, dict) or item.get("id") not in updates:
                continue
            u = updates[item["id"]]
            if not _changes(item, u, opts):
                continue
            edit.guard(f"{u.id}: its entry", item_node)
            item = items[idx] = dict(item)
            touched.add((block, idx))
            _edit_entry(edit, item_node, item, u, new_key, opts, transitions)
    if transitions:
        _bump(edit, root, expected, transitions, today, opts.tool)
    if not edit.splices:
        return text, None, None
    _check_eof(text, root, edit)
    new_text = edit.apply()
    try:
        new_root = yamlsafe.compose(new_text)  # with the loader's checks (limits, tags, keys)
        if shared:  # text compare cannot see through aliases: compare the resolved data
            got = _built(new_root, expected)
        else:
            got = _verified(text, root, new_text, new_root, expected, touched, old)
    except yamlsafe.YamlProblem as exc:
        raise RewriteError(f"the new text would not load: line {exc.line}: {exc.message}") from None
    if got is _WRONG:
        raise RewriteError("edit changed more than the intended values")
    return new_text, new_root, got


def _status_at(item: dict, path: tuple[str, ...]) -> object:
    return item[path[0]].get(path[1]) if len(path) == 2 else item.get(path[0])


def _changes(item: dict, u: EntryUpdate, opts: Options) -> bool:
    path = status_path(item)
    status = _status_at(item, path) if path else None
    if u.status is not None and status != u.status:
        return True
    if u.evidence is not None:
        ev = item.get("evidence")
        have = ev if isinstance(ev, dict) else {}
        if ev is not None and not isinstance(ev, dict) or any(have.get(k) != v for k, v in u.evidence.items()):
            return True
    final = u.status if u.status is not None else status
    verdict = item.get("verdict")
    return (isinstance(verdict, str) and isinstance(final, str)
            and verdict != style.verdict_for(final, verdict, opts.verdicts))


def _edit_entry(edit: _Edit, node: yaml.MappingNode, item: dict, u: EntryUpdate, new_key: str,
                opts: Options, transitions: list[str]) -> None:
    """Status (where the entry keeps it), verdict and evidence of one entry."""
    edit.context = f"{u.id}: "
    path = status_path(item) or (new_key,)
    # Inside an existing evidence mapping first: its lines may end where the entry ends,
    # and inserts at one position keep the order they are made in.
    new_evidence = _edit_evidence(edit, node, item, u)
    after = None
    status = _status_at(item, path)
    if u.status is not None and status != u.status:
        if len(path) == 2:  # kept in a nested block: written there, never a second key
            sub_node = yamlsafe.mapping_get(node, path[0])[1]  # type: ignore[index]
            edit.guard(f"{u.id}: {path[0]}", sub_node)
            edit.set_key(sub_node, path[1], u.status, None)  # type: ignore[arg-type]
            item[path[0]] = dict(item[path[0]], **{path[1]: u.status})
        else:
            edit.set_key(node, path[0], u.status, None)
            spair = yamlsafe.mapping_get(node, path[0])
            after = _node_end(spair[1]) if spair else None
            item[path[0]] = u.status
        transitions.append(f"{u.id}: {status or 'UNBOUND'} -> {u.status}")
        status = u.status
    verdict = item.get("verdict")
    if isinstance(verdict, str) and isinstance(status, str):
        want = style.verdict_for(status, verdict, opts.verdicts)
        if want != verdict:
            edit.set_key(node, "verdict", want, None)
            item["verdict"] = want
    if new_evidence is not None:
        if after is not None and yamlsafe.mapping_get(node, path[0]) is None:
            after = None  # status inserted at the end: put evidence there too
        edit.set_key(node, "evidence", new_evidence, after)
        item["evidence"] = new_evidence


def _edit_evidence(edit: _Edit, node: yaml.MappingNode, item: dict, u: EntryUpdate) -> dict | None:
    """Edit the plugin's keys inside an existing `evidence:` mapping (hand-written keys
    and comments there survive); returns the evidence to add when the entry has none."""
    if u.evidence is None:
        return None
    current = item.get("evidence")
    if current is not None and not isinstance(current, dict):
        raise RewriteError(
            f"{u.id}: 'evidence' holds hand-written content (not a mapping) the plugin would "
            "overwrite; rename that key (e.g. to notes) and run again")
    if all((current or {}).get(k) == v for k, v in u.evidence.items()):
        return None
    epair = yamlsafe.mapping_get(node, "evidence")
    if not current or epair is None or not isinstance(epair[1], yaml.MappingNode):
        return dict(u.evidence)
    edit.guard(f"{u.id}: evidence", epair[1])
    for k, v in u.evidence.items():
        if current.get(k) != v:
            edit.set_key(epair[1], k, v, None)
    item["evidence"] = dict(current, **u.evidence)
    return None


def _check_eof(text: str, root: yaml.Node, edit: _Edit) -> None:
    """A block scalar that ends the file without a newline would gain one from any edit
    after it (its value changes): refuse, and say how to fix it."""
    if text.endswith("\n"):
        return
    last = _last_scalar(root)
    if isinstance(last, yaml.ScalarNode) and last.style in ("|", ">") and any(
            end > last.start_mark.index for _, end, _ in edit.splices):
        raise RewriteError(f"the file ends inside a block scalar (line {_line(last)}) with no "
                           "final newline; add a newline at the end of the file")


#: what `_built` and `_verified` return when the new text does not hold what was intended
_WRONG = object()
_STR = "tag:yaml.org,2002:str"


def _built(node: yaml.Node, want: object) -> object:
    """The data of `node` when it is `want` (as the loader reads it), else _WRONG."""
    got = yamlsafe.construct(node)
    # Our rendered values load back as themselves, so the direct comparison is the fast
    # path; the YAML round trip of `want` only settles representation quirks.
    return got if got == want or got == _normalize(want) else _WRONG


def _plain_keys(node: yaml.MappingNode) -> bool:
    """Every key a plain string (no merge key, no int or date key): the mapping's data is
    then {key text: value}, and can be put together value by value."""
    return all(isinstance(k, yaml.ScalarNode) and k.tag == _STR for k, _ in node.value)


def _verified(old_text: str, old_root: yaml.MappingNode, new_text: str, new_root: yaml.Node,
              expected: dict, touched: set[tuple[str, int]], old: dict) -> object:
    """The new document's data when it holds exactly `expected`, else _WRONG.

    Edited entries and metadata are constructed and compared with what was intended. Every
    other part is compared by its source text, which the splices left byte-identical when
    all went well (its data is then the old data, shared: the same text composes to the
    same data; the caller has no aliases); if a slice differs, its data is constructed and
    compared instead. This is the same check as constructing both documents, at a fraction
    of the cost on 2,000 files, and its result is the new document's data, so the loader's
    re-validation of the new text need not construct it again.
    """
    if (not isinstance(new_root, yaml.MappingNode) or len(new_root.value) != len(old_root.value)
            or not _plain_keys(new_root)):
        return _built(new_root, expected) if isinstance(new_root, yaml.MappingNode) else _WRONG

    def same_text(a: yaml.Node, b: yaml.Node, want: object) -> object:
        if old_text[a.start_mark.index:a.end_mark.index] == new_text[b.start_mark.index:b.end_mark.index]:
            return want
        return _built(b, want)

    def same_mapping(a: yaml.Node, b: yaml.Node, was: object, want: object) -> object:
        # Key by key: values we did not change must read the same, the others are built.
        if not (isinstance(a, yaml.MappingNode) and isinstance(b, yaml.MappingNode)
                and isinstance(was, dict) and isinstance(want, dict) and _plain_keys(b)):
            return _built(b, want)
        olds = {k.value: v for k, v in a.value}
        if len(b.value) != len(want) or any(k.value not in want for k, _ in b.value):
            return _WRONG
        out = {}
        for k, nv in b.value:
            ov = olds.get(k.value)
            # Unchanged values are the old objects (copy on write), changed ones are new.
            unchanged = ov is not None and want[k.value] is was.get(k.value, _WRONG)
            got = same_text(ov, nv, want[k.value]) if unchanged else _built(nv, want[k.value])
            if got is _WRONG:
                return _WRONG
            out[k.value] = got
        return out

    data = {}
    for (ok_, ov), (nk, nv) in zip(old_root.value, new_root.value, strict=True):
        if ok_.value != nk.value:
            return _WRONG
        key = nk.value
        want = expected.get(key)
        if key in BLOCKS and isinstance(ov, yaml.SequenceNode):
            if not isinstance(nv, yaml.SequenceNode) or len(nv.value) != len(ov.value):
                return _WRONG
            items = []
            for idx, (oi, ni) in enumerate(zip(ov.value, nv.value, strict=True)):
                if (key, idx) in touched:
                    got = same_mapping(oi, ni, old[key][idx], want[idx])
                else:
                    got = same_text(oi, ni, want[idx])
                if got is _WRONG:
                    return _WRONG
                items.append(got)
            got = items
        elif key == "metadata":
            got = same_mapping(ov, nv, old.get(key), want)
        else:
            got = same_text(ov, nv, want)
        if got is _WRONG:
            return _WRONG
        data[key] = got
    return data


def _normalize(data: object) -> object:
    # Round-trip through YAML so that our rendered values compare as the loader sees them.
    return yaml.load(yamlemit.dump(data, flow=False), Loader=yamlsafe.Loader)


def _bump(edit: _Edit, root: yaml.MappingNode, expected: dict, transitions: list[str],
          today: _dt.date, tool: str) -> None:
    """Bump the version where the file keeps it and add a changelog entry in its style."""
    mpair = yamlsafe.mapping_get(root, "metadata")
    mnode = mpair[1] if mpair is not None and isinstance(mpair[1], yaml.MappingNode) else None
    if mnode is not None and isinstance(expected.get("metadata"), dict):
        meta = expected["metadata"] = dict(expected["metadata"])
    else:
        mnode, meta = None, None
    # Where the version lives: metadata.version, a top-level version, or both (kept equal).
    homes = [(n, d) for n, d in ((mnode, meta), (root, expected))
             if n is not None and d is not None and "version" in d]
    versions = [str(d["version"]) for _, d in homes if isinstance(d["version"], str)]
    bumped = [b for b in map(bump_minor, versions) if b is not None]
    new_version = max(bumped, key=_version_key) if bumped else None
    for node, data in homes:
        if new_version is not None and data["version"] != new_version:
            edit.guard("the version", yamlsafe.mapping_get(node, "version")[1])  # type: ignore[index]
            edit.set_key(node, "version", new_version, None)
            data["version"] = new_version
    version = new_version or (str(homes[0][1]["version"]) if homes else None)
    changes = [f"{t} ({tool})" for t in transitions]
    # Where the changelog lives: under metadata, else at the top level, else a new one
    # under metadata (nothing is added to a file without metadata).
    for node, data in ((mnode, meta), (root, expected)):
        if node is None or data is None or "changelog" not in data:
            continue
        cnode = yamlsafe.mapping_get(node, "changelog")[1]  # type: ignore[index]
        items = data["changelog"]
        if not isinstance(cnode, yaml.SequenceNode) or not isinstance(items, list):
            return  # a changelog that is not a list is left alone
        edit.guard("the changelog", cnode)
        shape = style.Changelog.of(cnode, items)
        lines, entry = shape.entry(version, today, changes, flow_only=bool(cnode.flow_style)
                                   or not cnode.value)
        edit.add_item(cnode, lines, first=shape.newest_first)
        data["changelog"] = [entry, *items] if shape.newest_first else [*items, entry]
        return
    if mnode is not None and meta is not None:
        entry = {"version": version, "date": today, "changes": changes}
        if version is None:
            del entry["version"]
        edit.set_key(mnode, "changelog", [entry], None)
        meta["changelog"] = [entry]


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))
