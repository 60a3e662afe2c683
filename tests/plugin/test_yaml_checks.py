"""The loader's checks (yamlsafe.check_node) refuse the same documents, with the same
problem, whether the text has aliases (the walk that counts shared nodes) or not (the
plain walk of a tree)."""

from __future__ import annotations

import pytest

from pytest_falsify import yamlsafe

#: documents a contract may not be, with the problem's line and the start of its message
REFUSED = {
    "python-tag-on-a-value": ("a: 1\nb: !!python/object:os.system x\n", 2, "tag "),
    "python-tag-on-a-key": ("a: 1\n? !!python/name:os.system x\n: 2\n", 2, "tag "),
    "python-tag-on-a-list-item": ("a:\n  - 1\n  - !!python/str x\n", 3, "tag "),
    "custom-tag-on-a-mapping": ("a:\n  b: !thing {c: 1}\n", 2, "tag '!thing'"),
    "custom-tag-on-a-list-item": ("a:\n  - 1\n  - !thing [2]\n", 3, "tag '!thing'"),
    "custom-tag-on-the-root": ("!thing {a: 1}\n", 1, "tag '!thing'"),
    "custom-tag-on-a-root-scalar": ("!thing text\n", 1, "tag '!thing'"),
    "nested-duplicate-key": ("a:\n  - {b: 1, c: 2}\n  - b: 1\n    b: 2\n", 4,
                             "duplicate key 'b' (first at line 3)"),
    "too-deep": ("a: " + "[" * 202 + "]" * 202 + "\n", 1, "YAML nesting deeper than 200"),
}
#: an alias where it changes nothing else: the text then takes the alias-counting walk
_ALIAS = "zz_anchor: &anchor 1\nzz_alias: *anchor\n"


def _problem(text: str) -> tuple[int, str]:
    with pytest.raises(yamlsafe.YamlProblem) as exc:
        yamlsafe.compose(text)
    return exc.value.line, exc.value.message


@pytest.mark.parametrize(("text", "line", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_a_document_without_aliases_is_refused_with_its_problem(text, line, message):
    got_line, got = _problem(text)
    assert got_line == line and got.startswith(message)


@pytest.mark.parametrize(("text", "line", "message"),
                         [v for k, v in REFUSED.items() if "root" not in k],
                         ids=[k for k in REFUSED if "root" not in k])
def test_the_same_document_with_an_alias_is_refused_alike(text, line, message):
    assert _problem(text + _ALIAS) == _problem(text)


@pytest.mark.parametrize("text", ["a: 1\nb: [x, {c: d}]\n", "!!map {a: !!str 1, b: !!seq [1]}\n",
                                  "plain text\n", "a: ! 5\n", "base: {k: 1}\nuse: {<<: {j: 2}}\n"])
def test_a_plain_document_passes_both_walks(text):
    node = yamlsafe.compose(text, check=False)
    yamlsafe.check_node(node, aliases=False)
    yamlsafe.check_node(node, aliases=True)
