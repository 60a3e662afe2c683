"""yamlsafe.Loader composes as PyYAML's safe loader does: the same nodes with the same tags,
marks and styles, and the same errors, with its tag memo cold, warm or overflowing; and
so does the same resolver on PyYAML's pure-Python loader (where libyaml is missing)."""

from __future__ import annotations

import re

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_falsify import yamlsafe

#: characters that reach every implicit resolver (bool, int, float, null, timestamp, merge,
#: value) and the syntax around them
_CHARS = "0123456789+-._:eExXoObBtTfFyYnNuUlLsSrR~<=aA "
_SCALARS = st.text(alphabet=_CHARS, max_size=14) | st.sampled_from(
    ["yes", "No", "TRUE", "off", "null", "~", "", "0x1f", "0o17", "1_000", ".inf", "-.NaN",
     "1e3", "2026-12-01", "2026-12-01 10:00:00", "2001-12-14t21:59:43.10-05:00", "<<", "=",
     "190:20:30", "0b101", "+1", "-0", "6.8523015e+5"])
_FORMS = ("- {}", "{}: x", "k{i}: {}", "- '{}'", "- \"{}\"", "- [{}, {}]", "- !!str {}", "- ! {}",
          "- ! [{}]", "- ! {{k{i}: {}}}")


def _tree(node: yaml.Node | None) -> object:
    """Everything of a node tree the loader, the rewriter and the checks read."""
    if node is None:
        return None
    marks = (node.start_mark.index, node.end_mark.index, node.start_mark.line)
    if isinstance(node, yaml.ScalarNode):
        return ("scalar", node.tag, node.value, node.style, marks)
    if isinstance(node, yaml.MappingNode):
        return ("map", node.tag, node.flow_style, marks,
                [(_tree(k), _tree(v)) for k, v in node.value])
    return ("seq", node.tag, node.flow_style, marks, [_tree(i) for i in node.value])


def _composed(text: str, loader: type) -> object:
    load = loader(text)
    try:
        return "ok", _tree(load.get_single_node())
    except yaml.YAMLError as exc:
        return "error", str(exc)
    finally:
        load.dispose()


def _document(lines: list[tuple[int, str]]) -> str:
    return "".join(_FORMS[form].format(s, s, i=i) + "\n" for i, (form, s) in enumerate(lines))


#: (ours, PyYAML's): the loader every compose uses, and the resolver on the Python loader
PAIRS = [(yamlsafe.Loader, yamlsafe._BaseLoader)] + (
    [(yamlsafe.cheap_resolver(yaml.SafeLoader), yaml.SafeLoader)]
    if yamlsafe._BaseLoader is not yaml.SafeLoader else [])


@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=[t.__name__ for _, t in PAIRS])
@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.tuples(st.integers(0, len(_FORMS) - 1), _SCALARS), min_size=1,
                      max_size=12))
def test_every_node_composes_with_pyyaml_s_tag_mark_and_style(ours, theirs, lines):
    text = _document(lines)
    expected = _composed(text, theirs)
    assert _composed(text, ours) == expected  # memo cold for these values
    assert _composed(text, ours) == expected  # and warm


def test_the_tag_memo_stays_bounded_and_right_when_it_overflows():
    values = [str(n) if n % 3 else f"{n}.5" for n in range(3 * yamlsafe.MEMO_SIZE)]
    text = "".join(f"- {v}\n" for v in values) + "- yes\n- 2026-12-01\n"
    assert _composed(text, yamlsafe.Loader) == _composed(text, yamlsafe._BaseLoader)
    assert 0 < len(yamlsafe.Loader.tags) <= yamlsafe.MEMO_SIZE


def test_a_long_scalar_is_resolved_but_not_remembered():
    long_number = "1" * (yamlsafe.MEMO_CHARS + 1)
    yamlsafe.Loader.tags.clear()
    assert _composed(f"- {long_number}\n", yamlsafe.Loader) == _composed(
        f"- {long_number}\n", yamlsafe._BaseLoader)
    assert long_number not in yamlsafe.Loader.tags


def test_a_resolver_another_library_adds_to_pyyaml_does_not_change_a_contract():
    base = yamlsafe._BaseLoader
    had_own = "yaml_implicit_resolvers" in base.__dict__
    saved = base.__dict__.get("yaml_implicit_resolvers")
    yaml.add_implicit_resolver("tag:example.com,2026:word", re.compile("^hello$"), ["h"],
                               Loader=base)
    try:
        assert _composed("- hello\n", base)[1][4][0][1] == "tag:example.com,2026:word"
        assert _composed("- hello\n", yamlsafe.Loader)[1][4][0][1] == "tag:yaml.org,2002:str"
    finally:
        if had_own:
            base.yaml_implicit_resolvers = saved
        else:
            del base.yaml_implicit_resolvers
    with pytest.raises(AttributeError):  # and its own table cannot be added to
        yamlsafe.Loader.add_implicit_resolver("tag:example.com,2026:x", re.compile("^x$"), ["x"])
