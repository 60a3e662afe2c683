"""Safe, bounded YAML composition shared by the loader and the rewriter.

Why a module of its own: both reading contracts and editing them need the same
guarantees (safe tags only, duplicate keys refused, alias expansion bounded, one
document per file) and the same character offsets, so they must compose the same way.
libyaml (CSafeLoader) is used when present because it is ~10x faster on the 2,000-file
benchmark; its marks count characters exactly like the pure-Python loader's.
"""

from __future__ import annotations

import contextlib
import types

import yaml

from .walk import MAX_FILE_BYTES  # noqa: F401 - the file size limit, defined where files are read

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SCALAR = yaml.ScalarNode
#: longest scalar whose tag `Loader.resolve` remembers, and how many it remembers at most
#: (then it forgets them all): bounded whatever the input (a hostile file holds millions
#: of unique scalars); the dates, numbers and words that contracts repeat are short
MEMO_CHARS, MEMO_SIZE = 32, 4096


def cheap_resolver(base: type) -> type:
    """`base` (one of PyYAML's safe loaders) composing ~25% faster, with exactly its tags
    (a property test compares them with `base`'s own, for the C and the Python loader).

    The composer calls back into Python for every node: `resolve` for its tag and
    `descend_resolver`/`ascend_resolver` around it. Those two only serve path resolvers,
    which the class has none of (its own empty table), so they do nothing here. A plain
    scalar's tag then depends on its value alone (PyYAML's `BaseResolver.resolve`): it is
    `str` unless an implicit resolver is registered for its first character (digits,
    signs, `.`, `~`, `<`, `=`, and the first letters of yes/no/true/false/on/off/null),
    and for those PyYAML's own `resolve` decides, once per short value (the class's
    `tags` memo).
    The resolver table is the class's own copy, taken here, read-only: another library
    adding resolvers to PyYAML's loaders cannot change what a contract holds.
    """
    table = types.MappingProxyType({k: list(v) for k, v in base.yaml_implicit_resolvers.items()})
    # A wildcard resolver (none in PyYAML's safe loaders) would match whatever the first
    # character: then every plain scalar goes to PyYAML's resolve.
    by_first = None not in table
    plain, resolve = base.DEFAULT_SCALAR_TAG, base.resolve
    # Without path resolvers, a collection's tag is its kind's default (PyYAML's resolve
    # falls through to it): one call fewer into PyYAML per mapping and sequence.
    collection = {yaml.MappingNode: base.DEFAULT_MAPPING_TAG,
                  yaml.SequenceNode: base.DEFAULT_SEQUENCE_TAG}
    tags: dict[str, str] = {}  # value -> tag, for plain scalars PyYAML's resolve decides

    class CheapResolver(base):
        yaml_implicit_resolvers = table
        yaml_path_resolvers = types.MappingProxyType({})

        def descend_resolver(self, current_node, current_index) -> None:
            pass  # only path resolvers need it, and there are none

        def ascend_resolver(self) -> None:
            pass

        def resolve(self, kind, value, implicit):
            if kind is _SCALAR:
                if not implicit[0]:
                    return plain
                if by_first and (value[0] if value else "") not in table:
                    return plain
                if len(value) <= MEMO_CHARS:
                    tag = tags.get(value)
                    if tag is None:
                        if len(tags) >= MEMO_SIZE:
                            tags.clear()
                        tag = tags[value] = resolve(self, kind, value, implicit)
                    return tag
                return resolve(self, kind, value, implicit)
            return collection[kind]

    CheapResolver.tags = tags  # type: ignore[attr-defined]
    CheapResolver.__name__ = CheapResolver.__qualname__ = f"Cheap{base.__name__}"
    return CheapResolver


#: the loader every compose uses: libyaml's safe loader when present, PyYAML's otherwise
Loader = cheap_resolver(_BaseLoader)

#: Most nodes a document may expand to once aliases are followed (billion-laughs guard).
MAX_EXPANDED_NODES = 200_000
#: Texts longer than this have their events counted before any node is built: a node
#: costs ~300 bytes, so a 4 MB flow list would otherwise take ~600 MB before the count
#: above could refuse it. Below this size a document cannot reach that many nodes.
PRECOUNT_CHARS = 256 * 1024


class YamlProblem(Exception):
    """A YAML-level problem with a 1-based line and a one-line fix."""

    def __init__(self, line: int, message: str, fix: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message
        self.fix = fix


def decode(data: bytes) -> tuple[str, bool]:
    """Bytes to text; returns (text, had_bom). Line endings are kept as they are."""
    bom = data.startswith(b"\xef\xbb\xbf")
    return data[3:].decode("utf-8") if bom else data.decode("utf-8"), bom


def compose(text: str, check: bool = True) -> yaml.Node | None:
    """Compose one document into a node tree, refusing what a contract may not hold.

    `check=False` only for text this package has just produced from checked text.
    """
    if len(text) > PRECOUNT_CHARS:
        _count_events(text)
    loader = Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.composer.ComposerError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else 1
            if "expected a single document" in str(exc):
                raise YamlProblem(line, "more than one YAML document in a contract file",
                                  "keep one contract per file; remove the '---' separator") from None
            raise YamlProblem(line, f"YAML error: {exc.problem}", "fix the anchor/alias") from None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = exc.problem or "invalid YAML"
            if exc.context_mark is not None and exc.context:
                if "end of stream" in problem:  # an unclosed quote/bracket: point at its start
                    mark = exc.context_mark
                problem += f" ({exc.context} at line {exc.context_mark.line + 1})"
            line = mark.line + 1 if mark else 1
            raise YamlProblem(line, f"YAML syntax error: {problem}",
                              "check indentation, colons and quotes on this line") from None
        except yaml.YAMLError as exc:
            raise YamlProblem(1, f"YAML error: {exc}", "save the file as plain UTF-8 text") from None
    finally:
        loader.dispose()
    if node is not None and check:
        check_node(node, aliases="*" in text)  # an alias is written '*name'
    return node


def _count_events(text: str) -> None:
    """Refuse a document of more than MAX_EXPANDED_NODES events, in constant memory.

    The parser's events are dropped as they come, so nothing grows with the input; the
    syntax errors are left to the composer, which reports them with their lines.
    """
    loader = Loader(text)
    n = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            n += 1
            if n > MAX_EXPANDED_NODES:
                raise YamlProblem(event.start_mark.line + 1,
                                  f"more than {MAX_EXPANDED_NODES} YAML nodes "
                                  f"(limit MAX_EXPANDED_NODES)",
                                  "split the contract; a contract holds a few hundred nodes")
    except yaml.YAMLError:
        pass
    finally:
        loader.dispose()


_STD = "tag:yaml.org,2002:"
_STD_SCALARS = frozenset(_STD + t for t in ("str", "int", "float", "bool", "null", "timestamp",
                                          "binary", "merge", "value"))


def _bad_tag(tag: str) -> bool:
    return tag.startswith(_STD + "python/") or not (tag.startswith(_STD) or tag in ("!", "?"))


_STD_COLLECTIONS = frozenset(_STD + t for t in ("map", "seq", "omap", "pairs", "set"))


def _refuse_tag(node: yaml.Node) -> None:
    raise YamlProblem(node.start_mark.line + 1, f"tag {node.tag!r} is not allowed in a contract",
                      "remove the tag; contracts hold plain YAML data only")


def _refuse_depth(node: yaml.Node) -> None:
    raise YamlProblem(node.start_mark.line + 1, "YAML nesting deeper than 200 levels",
                      "flatten the structure")


def _duplicate(key: yaml.Node, first: yaml.Node) -> YamlProblem:
    return YamlProblem(key.start_mark.line + 1,
                       f"duplicate key {key.value!r} (first at line {first.start_mark.line + 1})",
                       "remove or rename one of the two keys; YAML would keep only the last")


def check_node(root: yaml.Node, aliases: bool = True) -> None:
    """Refuse non-standard tags, duplicate keys and alias expansion beyond the bound.

    `aliases=False`: the document has no alias (its text has no '*'), so every node is
    reached once and the tree is walked without the memo that counts shared nodes (~25%
    less time: the check of every loaded and written file); the same checks, the same
    problems."""
    if aliases:
        _check_shared(root)
    elif not isinstance(root, yaml.ScalarNode):
        _check_tree(root, 0)
    elif root.tag not in _STD_SCALARS and _bad_tag(root.tag or ""):
        _refuse_tag(root)


def _check_tree(node: yaml.Node, depth: int) -> int:
    """check_node of a collection node of a document without aliases; its node count."""
    if depth > 200:
        _refuse_depth(node)
    if node.tag not in _STD_COLLECTIONS and _bad_tag(node.tag or ""):
        _refuse_tag(node)
    total = 1
    std, scalar = _STD_SCALARS, yaml.ScalarNode
    if isinstance(node, yaml.MappingNode):
        # Each key, then its value, in document order, a duplicate key refused where it
        # comes (so the first problem is the one the alias walk reports first). A loop,
        # not a generator of the nodes: a generator's resume per node cost a third of the
        # walk.
        seen: dict[str, yaml.Node] = {}
        for k, v in node.value:
            if isinstance(k, scalar):
                if k.value in seen:
                    raise _duplicate(k, seen[k.value])
                seen[k.value] = k
                if k.tag not in std and _bad_tag(k.tag or ""):
                    _refuse_tag(k)
                total += 1
            else:
                total += _check_tree(k, depth + 1)
            if isinstance(v, scalar):
                if v.tag not in std and _bad_tag(v.tag or ""):
                    _refuse_tag(v)
                total += 1
            else:
                total += _check_tree(v, depth + 1)
    else:
        for child in node.value:
            if isinstance(child, scalar):  # nearly every node: checked inline, no call
                if child.tag not in std and _bad_tag(child.tag or ""):
                    _refuse_tag(child)
                total += 1
            else:
                total += _check_tree(child, depth + 1)
    if total > MAX_EXPANDED_NODES:
        raise YamlProblem(node.start_mark.line + 1, f"more than {MAX_EXPANDED_NODES} YAML nodes "
                          "(limit MAX_EXPANDED_NODES)",
                          "split the contract; a contract holds a few hundred nodes")
    return total


def _check_shared(root: yaml.Node) -> None:
    """check_node of a document that may have aliases."""
    _shared_size(root, 0, {})


def _shared_size(node: yaml.Node, depth: int, sizes: dict[int, int]) -> int:
    """The expanded node count of `node`, checked; `sizes`: the counts of the collections
    seen so far, by identity (0: still being counted). A module function, not a closure:
    a nested function calling itself is a reference cycle."""
    if isinstance(node, yaml.ScalarNode):  # the hot path: most nodes are scalars
        if node.tag not in _STD_SCALARS and _bad_tag(node.tag or ""):
            _refuse_tag(node)
        return 1
    # Memoized by node identity: an alias is the same node object seen twice, so this
    # counts the *expanded* size without expanding anything.
    key = id(node)
    if key in sizes:
        if sizes[key] == 0:  # still being counted: the alias points at an ancestor
            raise YamlProblem(node.start_mark.line + 1,
                              "a recursive alias (an anchor used inside itself)",
                              "copy the data instead; contracts hold plain, finite data")
        return sizes[key]
    if depth > 200:
        _refuse_depth(node)
    sizes[key] = 0  # in progress
    if _bad_tag(node.tag or ""):
        _refuse_tag(node)
    total = 1
    # Scalars with a standard tag (nearly every node) are counted inline: a call each
    # was most of the check's time.
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, yaml.Node] = {}
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                if k.value in seen:
                    raise _duplicate(k, seen[k.value])
                seen[k.value] = k
                total += 1 if k.tag in _STD_SCALARS else _shared_size(k, depth + 1, sizes)
            else:
                total += _shared_size(k, depth + 1, sizes)
            if isinstance(v, yaml.ScalarNode) and v.tag in _STD_SCALARS:
                total += 1
            else:
                total += _shared_size(v, depth + 1, sizes)
    else:
        for item in node.value:
            if isinstance(item, yaml.ScalarNode) and item.tag in _STD_SCALARS:
                total += 1
            else:
                total += _shared_size(item, depth + 1, sizes)
    if total > MAX_EXPANDED_NODES:
        raise YamlProblem(node.start_mark.line + 1,
                          f"aliases expand to more than {MAX_EXPANDED_NODES} nodes",
                          "remove the recursive anchors/aliases (a 'billion laughs' document)")
    sizes[key] = total
    return total


_STR, _MAP, _SEQ = _STD + "str", _STD + "map", _STD + "seq"
#: key tags whose mapping SafeConstructor rewrites (merge keys, '=' value keys)
_SPECIAL_KEYS = frozenset((_STD + "merge", _STD + "value"))


class _Unusual(Exception):
    """A node the plain-data builder leaves to PyYAML's SafeConstructor."""


def _plain(node: yaml.Node, memo: dict[int, object], scalars: yaml.constructor.SafeConstructor) -> object:
    """The data of `node` when it is plain: mappings, lists and scalars with their standard
    tags. A scalar that is not a string is built by `scalars` (PyYAML's own code), an alias
    gives the same object as its anchor (as SafeConstructor does); anything else (a
    merge key, a set, an omap, a tag on the wrong kind of node) raises _Unusual."""
    cls = node.__class__
    if cls is yaml.ScalarNode:
        return node.value if node.tag == _STR else scalars.construct_object(node)
    key = id(node)
    if key in memo:
        return memo[key]
    if cls is yaml.MappingNode and node.tag == _MAP:
        data = memo[key] = {}
        for k, v in node.value:
            if k.__class__ is not yaml.ScalarNode or k.tag in _SPECIAL_KEYS:
                raise _Unusual
            data[k.value if k.tag == _STR else scalars.construct_object(k)] = _plain(v, memo, scalars)
        return data
    if cls is yaml.SequenceNode and node.tag == _SEQ:
        items = memo[key] = []
        for item in node.value:
            items.append(_plain(item, memo, scalars))
        return items
    raise _Unusual


def construct(node: yaml.Node) -> object:
    """Plain Python data of a node checked by :func:`compose`.

    Contracts are plain data, which `_plain` builds in one pass, ~3x faster than PyYAML's
    SafeConstructor (its generic two-phase construction costs ~1.5 us a node: half of a
    2,000-file load). Whatever `_plain` does not build, and every error, goes to
    SafeConstructor, so the data and the messages are exactly PyYAML's.
    """
    try:
        with contextlib.suppress(_Unusual, Exception):
            return _plain(node, {}, yaml.constructor.SafeConstructor())
        # A bare SafeConstructor: creating a CSafeLoader per call would set up a parser too.
        return yaml.constructor.SafeConstructor().construct_document(node)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise YamlProblem(mark.line + 1 if mark else 1, f"YAML value error: {exc.problem}",
                          "use plain YAML scalars, lists and mappings") from None
    except Exception:  # noqa: BLE001 - PyYAML's scalar constructors raise bare errors
        # ValueError (2026-13-45, !!int abc, a 5,000-digit int), KeyError (!!bool maybe),
        # AttributeError (!!timestamp x): none carries a mark, so find the scalar again.
        raise _bad_scalar(node) from None


def _bad_scalar(root: yaml.Node) -> YamlProblem:
    """The problem of the first scalar of `root` that does not construct."""
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            try:
                yaml.constructor.SafeConstructor().construct_object(node)
            except Exception as exc:  # noqa: BLE001 - see construct()
                kind = (node.tag or "").rsplit(":", 1)[-1]
                value = node.value if len(node.value) <= 40 else node.value[:37] + "..."
                # (the int-digits message ends in advice for Python programmers: cut it)
                reason = str(exc).split(";")[0] if isinstance(exc, ValueError) else "not a valid value"
                return YamlProblem(node.start_mark.line + 1,
                                   f"YAML value error: {value!r} is not a valid {kind} ({reason})",
                                   "quote the value to keep it as text, or correct it")
        elif isinstance(node, yaml.MappingNode):
            stack.extend(x for pair in reversed(node.value) for x in reversed(pair))
        else:
            stack.extend(reversed(node.value))
    return YamlProblem(root.start_mark.line + 1, "YAML value error: a value does not construct",
                       "use plain YAML scalars, lists and mappings")


def mapping_get(node: yaml.Node | None, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    """(key node, value node) of `key` in a mapping node, or None."""
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return k, v
    return None
