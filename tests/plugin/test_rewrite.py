"""The minimal-diff rewrite: only status, evidence, version and changelog bytes change."""

from __future__ import annotations

import datetime as dt
import difflib
import os
import threading

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from pytest_falsify.atomic import atomic_write, locked
from pytest_falsify.rewrite import EntryUpdate, RewriteError, bump_minor, rewrite_text

TODAY = dt.date(2026, 11, 22)
EVIDENCE = {"tests": [{"test": "tests/t.py::test_x[a-1]", "outcome": "passed", "level": "live",
                       "metrics": {"cosine": 0.9991}}]}


@st.composite
def contracts(draw):
    """Contract texts in the styles people write: comments, quotes, flow items, CRLF."""
    lines = []
    comment = st.sampled_from(["", "  # note", "   # keep: me"])
    if draw(st.booleans()):
        lines.append("# header comment")
    lines.append("metadata:")
    lines.append(f"  version: {draw(st.sampled_from(['1.3.0', '2.0', '0.9.12']))}{draw(comment)}")
    changelog = draw(st.sampled_from(["flow", "block", "none"]))
    if changelog == "flow":
        lines += ["  changelog:", "    - {version: 1.0.0, date: 2026-01-01, changes: [a]}"]
    elif changelog == "block":
        lines += ["  changelog:", "  - version: 1.0.0", "    changes:", "    - a"]
    lines.append("falsification_tests:")
    ids = []
    for i in range(draw(st.integers(1, 4))):
        fid = f"F-{i}"
        ids.append(fid)
        if draw(st.booleans()):
            lines.append("")
        if draw(st.booleans()):
            lines.append(f"  # about {fid}")
        if draw(st.booleans()):
            lines.append(f"  - {{id: {fid}, prediction: 'p{i}'}}")
            continue
        lines.append(f"  - id: {fid}")
        prediction = draw(st.sampled_from(["plain text", "'quoted: yes'", '"dq"']))
        lines.append(f"    prediction: {prediction}")
        key = draw(st.sampled_from(["discharge_status", "status", None]))
        if key:
            q = draw(st.sampled_from(["", "'", '"']))
            lines.append(f"    {key}: {q}UNBOUND{q}{draw(comment)}")
        if draw(st.booleans()):
            lines += ["    notes: |", "      block scalar", "      kept"]
        if draw(st.booleans()):
            lines.append("    binds_to: [x, y]   # aprender extra key")
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    return nl.join(lines) + nl, ids


def changed_lines(old: str, new: str) -> list[str]:
    sm = difflib.SequenceMatcher(a=old.splitlines(), b=new.splitlines(), autojunk=False)
    return [ln for op, i1, i2, _, _ in sm.get_opcodes() if op in ("replace", "delete")
            for ln in old.splitlines()[i1:i2]]


@pytest.mark.falsifier("FALSIFY-PLUGIN-005")
@given(contracts(), st.data())
def test_only_status_version_lines_are_replaced_and_data_changes_as_intended(case, data):
    text, ids = case
    chosen = data.draw(st.lists(st.sampled_from(ids), min_size=1, unique=True))
    updates = {i: EntryUpdate(i, None, "DISCHARGED", EVIDENCE) for i in chosen}
    new = rewrite_text(text, updates, TODAY)
    for line in changed_lines(text, new):
        assert "status:" in line or "version:" in line or line.lstrip().startswith("- {id:"), line
    before, after = yaml.safe_load(text), yaml.safe_load(new)
    for entry in after["falsification_tests"]:
        if entry["id"] in chosen:
            assert entry.get("discharge_status", entry.get("status")) == "DISCHARGED"
            assert entry["evidence"] == EVIDENCE
    untouched = [e for e in before["falsification_tests"] if e["id"] not in chosen]
    assert untouched == [e for e in after["falsification_tests"] if e["id"] not in chosen]
    assert ("\r\n" in text) == ("\r\n" in new) and new.count("\r\n") in (0, new.count("\n"))


@pytest.mark.falsifier("FALSIFY-PLUGIN-002")
@given(contracts())
def test_a_second_rewrite_with_the_same_updates_changes_nothing(case):
    text, ids = case
    updates = {i: EntryUpdate(i, None, "FALSIFIED", EVIDENCE) for i in ids}
    once = rewrite_text(text, updates, TODAY)
    assert rewrite_text(once, updates, TODAY) == once


@pytest.mark.falsifier("FALSIFY-PLUGIN-005")
def test_status_change_bumps_minor_version_and_names_transitions_in_changelog():
    text = ("metadata:\n  version: 1.3.0\n  changelog:\n    - {version: 1.3.0, date: 2026-05-03, changes: [x]}\n"
            "falsification_tests:\n  - id: A\n    prediction: p\n    discharge_status: UNBOUND\n")
    new = rewrite_text(text, {"A": EntryUpdate("A", "UNBOUND", "DISCHARGED", None)}, TODAY)
    meta = yaml.safe_load(new)["metadata"]
    assert meta["version"] == "1.4.0"
    assert meta["changelog"][-1] == {"version": "1.4.0", "date": TODAY,
                                     "changes": ["A: UNBOUND -> DISCHARGED (pytest-falsify)"]}


@pytest.mark.falsifier("FALSIFY-PLUGIN-005")
def test_evidence_only_change_keeps_the_version():
    text = "metadata:\n  version: 1.3.0\nfalsification_tests:\n  - id: A\n    prediction: p\n"
    new = rewrite_text(text, {"A": EntryUpdate("A", None, None, EVIDENCE)}, TODAY)
    assert "version: 1.3.0\n" in new and yaml.safe_load(new)["falsification_tests"][0]["evidence"] == EVIDENCE


def test_existing_evidence_block_is_replaced_not_duplicated():
    text = ("falsification_tests:\n  - id: A\n    prediction: p\n    evidence:\n      tests: []\n"
            "    if_fails: x   # stays\n")
    new = rewrite_text(text, {"A": EntryUpdate("A", None, None, EVIDENCE)}, TODAY)
    assert new.count("evidence:") == 1 and new.endswith("    if_fails: x   # stays\n")


def test_bom_free_utf8_text_with_unicode_survives():
    text = "metadata:\n  description: « GPU ≈ CPU »\nfalsification_tests:\n  - id: A\n    prediction: é\n"
    new = rewrite_text(text, {"A": EntryUpdate("A", None, "DISCHARGED", None)}, TODAY)
    assert new.startswith("metadata:\n  description: « GPU ≈ CPU »\n")


def test_an_alias_in_the_way_aborts_instead_of_editing_the_anchor():
    text = ("defaults: &d {discharge_status: UNBOUND}\n"
            "falsification_tests:\n  - id: A\n    prediction: p\n    discharge_status: *s\n") \
        .replace("*s", "&s UNBOUND") + "  - id: B\n    prediction: q\n    discharge_status: *s\n"
    with pytest.raises(RewriteError):
        rewrite_text(text, {"B": EntryUpdate("B", "UNBOUND", "DISCHARGED", None)}, TODAY)


@pytest.mark.parametrize(("old", "new"), [("1.3.0", "1.4.0"), ("1.9", "1.10"), ("0.1.7", "0.2.0"), ("v1", None)])
def test_bump_minor(old, new):
    assert bump_minor(old) == new


def test_atomic_write_replaces_whole_file_and_keeps_mode(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_bytes(b"old")
    os.chmod(p, 0o640)
    atomic_write(p, b"new")
    assert p.read_bytes() == b"new" and (p.stat().st_mode & 0o777) == 0o640
    assert [x.name for x in tmp_path.iterdir()] == ["c.yaml"]


@pytest.mark.falsifier("FALSIFY-PLUGIN-009")
def test_lock_serialises_writers(tmp_path):
    order = []

    def worker(name):
        with locked(tmp_path):
            order.append(f"{name}-in")
            order.append(f"{name}-out")

    with locked(tmp_path):
        threads = [threading.Thread(target=worker, args=(n,)) for n in "ab"]
        for t in threads:
            t.start()
        order.append("main")
    for t in threads:
        t.join()
    assert order[0] == "main"
    assert order[1][0] == order[2][0] and order[3][0] == order[4][0]


@pytest.mark.falsifier("FALSIFY-PLUGIN-009")
def test_hand_written_evidence_is_never_overwritten():
    text = "falsification_tests:\n  - id: A\n    prediction: p\n    evidence: see PR 123\n"
    with pytest.raises(RewriteError, match="hand-written content"):
        rewrite_text(text, {"A": EntryUpdate("A", None, "DISCHARGED", EVIDENCE)}, TODAY)
