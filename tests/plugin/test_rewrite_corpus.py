"""Every file of the aprender-shaped corpus, rewritten: only owned lines change, in its
style, and a second rewrite changes 0 bytes (tests/corpus/README.md lists the variety)."""

from __future__ import annotations

import datetime as dt
import difflib
import re
from pathlib import Path

import pytest
import yaml

from pytest_falsify import yamlsafe
from pytest_falsify.contracts import BLOCKS
from pytest_falsify.rewrite import EntryUpdate, rewrite, rewrite_text

CORPUS = Path(__file__).parents[1] / "corpus" / "aprender"
TODAY = dt.date(2026, 11, 22)
EVIDENCE = {"tests": [{"test": "tests/t.py::test_x", "outcome": "passed", "level": "live"}]}
#: The only lines a rewrite may replace or remove: status, verdict and version lines.
OWNED = re.compile(r"^\s*(- )?(status|discharge_status|verdict|version): ")


def contracts() -> list[Path]:
    out = []
    for p in sorted(CORPUS.rglob("*.yaml")):
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
        if isinstance(data, dict) and any(isinstance(data.get(b), list) for b in BLOCKS):
            out.append(p)
    return out


def ids(text: str) -> list[str]:
    data = yamlsafe.construct(yamlsafe.compose(text))
    return [e["id"] for b in BLOCKS for e in data.get(b) or () if isinstance(e, dict) and "id" in e]


@pytest.mark.parametrize("path", contracts(), ids=lambda p: str(p.relative_to(CORPUS)))
def test_a_corpus_file_changes_only_owned_lines_and_a_second_rewrite_changes_nothing(path):
    text = path.read_text(encoding="utf-8")
    updates = {i: EntryUpdate(i, None, "DISCHARGED", EVIDENCE) for i in ids(text)}
    once = rewrite_text(text, updates, TODAY)
    removed = [ln[1:] for ln in difflib.unified_diff(text.splitlines(), once.splitlines(),
                                                     lineterm="", n=0)
               if ln.startswith("-") and not ln.startswith("---")]
    assert all(OWNED.match(ln) for ln in removed), removed
    data = yaml.safe_load(once)
    for block in BLOCKS:
        for entry in data.get(block) or ():
            if not isinstance(entry, dict) or "id" not in entry:
                continue  # prose scenarios (given/when/then), not entries
            keys = [k for k in ("status", "discharge_status") if k in entry]
            ae = entry.get("algorithm_evidence")
            nested = ae.get("status") if isinstance(ae, dict) else None
            assert len(keys) + (nested is not None) == 1, entry  # never a second status key
    assert_same_style(yaml.safe_load(text), data)
    assert rewrite_text(once, updates, TODAY) == once


@pytest.mark.parametrize("path", contracts(), ids=lambda p: str(p.relative_to(CORPUS)))
def test_the_data_a_rewrite_hands_the_loader_is_what_its_new_text_reads_as(path):
    # The loader re-validates a new text with the data the rewrite's verification built
    # (old values where the text is unchanged, constructed ones where it changed)
    # instead of constructing the document again: it must be the same data, key order too.
    text = path.read_text(encoding="utf-8")
    updates = {i: EntryUpdate(i, None, "DISCHARGED", EVIDENCE) for i in ids(text)}
    new, root, data = rewrite(text, updates, TODAY)
    fresh = yamlsafe.construct(yamlsafe.compose(new))
    assert data == fresh and repr(data) == repr(fresh)


def changelog(data: dict) -> list:
    meta = data.get("metadata") or {}
    return meta.get("changelog") or data.get("changelog") or []


def assert_same_style(before: dict, after: dict) -> None:
    """The version stays where it was kept, the new changelog entry is shaped like its
    siblings (type, keys, date type) and sits where the list's order puts it."""
    for where_before, where_after in ((before, after), (before.get("metadata") or {},
                                                          after.get("metadata") or {})):
        assert ("version" in where_before) == ("version" in where_after)
    old, new = changelog(before), changelog(after)
    if not old:
        return
    newest_first = old[0] != old[-1] and str(old[0]) > str(old[-1])
    added = new[0] if newest_first else new[-1]
    assert added not in old and len(new) == len(old) + 1
    template = old[0] if newest_first else old[-1]
    assert type(added) is type(template)
    if isinstance(added, dict):
        assert set(added) <= set(template), (added, template)
        if "date" in added:
            assert type(added["date"]) is type(template["date"])
