"""yamlsafe.construct builds plain contract data itself (fast) and leaves everything else to
PyYAML's SafeConstructor: for every document, the data (and every error) is PyYAML's."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pytest_falsify import yamlsafe

CORPUS = Path(__file__).resolve().parent.parent / "corpus"

DOCUMENTS = {
    "plain": "a: 1\nb: [x, 'y', \"z\"]\nc: {d: null, e: true, f: 1.5, g: ~}\n",
    "dates-and-ints": "2026-01-01: day\n7: seven\nwhen: 2026-12-01 10:00:00\nn: 0x1f\n",
    "binary": "blob: !!binary aGVsbG8=\n",
    "alias-shares-the-object": "base: &b {k: [1, 2]}\nuse: *b\nlist: &l [a]\nagain: *l\n",
    "merge-key": "base: &b {k: 1, j: 2}\nuse: {<<: *b, j: 3}\n",
    "merge-list": "a: &a {x: 1}\nb: &b {y: 2}\nc:\n  <<: [*a, *b]\n  z: 3\n",
    "value-key": "a: {=: 5}\n",
    "set": "s: !!set {a, b}\n",
    "omap": "o: !!omap [{a: 1}, {b: 2}]\n",
    "pairs": "p: !!pairs [{a: 1}, {a: 2}]\n",
    "str-tag-on-a-number": "v: !!str 5\nw: !!int '7'\n",
    "non-specific-tag": "v: ! 5\n",
    "empty-values": "a:\nb: []\nc: {}\nd: ''\n",
    "nested": "a:\n  - b:\n      - c: {d: [1, {e: f}]}\n",
    "top-level-list": "- 1\n- [2, 3]\n",
    "top-level-scalar": "just text\n",
}


def _pyyaml(node: yaml.Node) -> object:
    return yaml.constructor.SafeConstructor().construct_document(node)


def _outcome(fn, node):
    try:
        return "ok", fn(node)
    except Exception as exc:  # noqa: BLE001 - compared, not handled
        return "error", str(exc)


@pytest.mark.parametrize("text", DOCUMENTS.values(), ids=DOCUMENTS.keys())
def test_construct_gives_exactly_the_data_pyyaml_gives(text):
    node = yamlsafe.compose(text, check=False)
    ours, theirs = yamlsafe.construct(node), _pyyaml(yamlsafe.compose(text, check=False))
    assert ours == theirs and repr(ours) == repr(theirs)
    assert [type(v) for v in _leaves(ours)] == [type(v) for v in _leaves(theirs)]


def test_an_alias_gives_the_same_object_as_its_anchor_as_in_pyyaml():
    data = yamlsafe.construct(yamlsafe.compose(DOCUMENTS["alias-shares-the-object"]))
    assert data["use"] is data["base"] and data["again"] is data["list"]


@pytest.mark.parametrize("text", ["a: !!int abc\n", "a: 2026-13-45\n", "? [a, b]\n: c\n",
                                  "a: !!str {b: 1}\n", "a: !!seq {b: 1}\n", "a: !!map [1]\n", "{a: 1}: x\n"],
                         ids=["bad-int", "bad-date", "unhashable-key", "str-tag-on-a-mapping",
                              "seq-tag-on-a-mapping", "map-tag-on-a-list", "flow-key"])
def test_a_document_pyyaml_refuses_is_refused_with_pyyaml_s_reason(text):
    with pytest.raises(Exception) as theirs:  # noqa: PT011 - PyYAML raises bare errors too
        _pyyaml(yamlsafe.compose(text, check=False))
    with pytest.raises(yamlsafe.YamlProblem) as ours:
        yamlsafe.construct(yamlsafe.compose(text, check=False))
    if isinstance(theirs.value, yaml.constructor.ConstructorError):
        assert ours.value.message == f"YAML value error: {theirs.value.problem}"
        assert ours.value.line == theirs.value.problem_mark.line + 1
    else:
        assert ours.value.message.startswith("YAML value error: ") and ours.value.line == 1


@pytest.mark.parametrize("path", sorted(CORPUS.rglob("*.yaml")),
                         ids=lambda p: str(p.relative_to(CORPUS)))
def test_every_corpus_file_constructs_as_pyyaml_constructs_it(path):
    text = path.read_text(encoding="utf-8")
    try:
        node = yamlsafe.compose(text, check=False)
        theirs = _pyyaml(yamlsafe.compose(text, check=False))
    except Exception:  # noqa: BLE001 - a corpus error case: not data to compare
        pytest.skip("does not compose or construct in PyYAML")
    ours = yamlsafe.construct(node)
    assert ours == theirs and repr(ours) == repr(theirs)


def _leaves(data: object) -> list:
    if isinstance(data, dict):
        return [x for k, v in data.items() for x in (k, *_leaves(v))]
    if isinstance(data, (list, tuple, set)):
        return [x for v in data for x in _leaves(v)]
    return [data]
