"""Writes in the file's own style: changelog shape, version home, status key, verdict."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from pytest_falsify.rewrite import EntryUpdate, rewrite_text

TODAY = dt.date(2026, 11, 22)
ENTRY = "falsification_tests:\n  - id: A\n    prediction: p\n    status: UNBOUND\n"


def discharge(text: str, fid: str = "A", status: str = "DISCHARGED", **kw) -> str:
    return rewrite_text(text, {fid: EntryUpdate(fid, None, status, None)}, TODAY, **kw)


def added_lines(old: str, new: str) -> list[str]:
    before = old.splitlines()
    return [ln for ln in new.splitlines() if ln not in before]


def test_a_changelog_of_plain_strings_kept_newest_first_gets_a_string_on_top():
    text = ("metadata:\n  version: 2.1.0\n  changelog:\n"
            '    - "2.1.0: FALSIFY-X-002 added"\n    - "2.0.0: first version"\n' + ENTRY)
    new = discharge(text)
    assert yaml.safe_load(new)["metadata"]["changelog"][0] == \
        "2.2.0: A: UNBOUND -> DISCHARGED (pytest-falsify)"
    assert '    - "2.2.0: A: UNBOUND -> DISCHARGED (pytest-falsify)"\n    - "2.1.0:' in new


def test_a_block_changelog_with_change_and_quoted_dates_gets_an_entry_alike():
    text = ("metadata:\n  version: 1.0.0\n  changelog:\n"
            "  - version: 1.0.0\n    date: '2026-01-01'\n    change: initial\n" + ENTRY)
    new = discharge(text)
    assert added_lines(text, new) == [
        "  version: 1.1.0", "  - version: 1.1.0", "    date: '2026-11-22'",
        "    change: 'A: UNBOUND -> DISCHARGED (pytest-falsify)'", "    status: DISCHARGED"]


def test_a_newest_first_block_changelog_with_an_indented_changes_list_gets_its_entry_first():
    text = ("metadata:\n  version: 1.1.0\n  changelog:\n"
            "    - date: 2026-02-01\n      version: 1.1.0\n      changes:\n        - second\n"
            "    - date: 2026-01-01\n      version: 1.0.0\n      changes:\n        - first\n" + ENTRY)
    new = discharge(text)
    assert ("  changelog:\n    - date: 2026-11-22\n      version: 1.2.0\n      changes:\n"
            "        - 'A: UNBOUND -> DISCHARGED (pytest-falsify)'\n    - date: 2026-02-01\n") in new


def test_the_version_is_bumped_at_the_top_level_where_the_file_keeps_it():
    text = "version: 1.2.0\nmetadata:\n  description: d\n" + ENTRY
    new = discharge(text)
    assert new.startswith("version: 1.3.0\nmetadata:\n  description: d\n")
    assert "version" not in yaml.safe_load(new)["metadata"]


def test_a_version_kept_in_both_places_stays_equal():
    text = "version: 1.2.0\nmetadata:\n  version: 1.2.0\n" + ENTRY
    data = yaml.safe_load(discharge(text))
    assert data["version"] == data["metadata"]["version"] == "1.3.0"


def test_a_new_status_key_is_named_like_its_siblings_key():
    text = ("falsification_tests:\n  - id: A\n    prediction: p\n"
            "  - id: B\n    prediction: q\n    status: PROPOSED\n"
            "  - id: C\n    prediction: r\n    status: PROPOSED\n")
    entry = yaml.safe_load(discharge(text))["falsification_tests"][0]
    assert entry["status"] == "DISCHARGED" and "discharge_status" not in entry


@pytest.mark.parametrize(("status", "verdict"), [
    ("DISCHARGED", "pass"), ("FALSIFIED", "fail"), ("PARTIAL_ALGORITHM_LEVEL", "pending")])
def test_a_gates_verdict_follows_its_status(status, verdict):
    text = ("gates:\n  - id: G\n    rule: r\n    status: UNBOUND\n    verdict: pending   # by hand\n"
            "  - id: H\n    rule: r\n    status: UNBOUND\n    verdict: pending\n")
    if status == "PARTIAL_ALGORITHM_LEVEL":
        text = text.replace("verdict: pending   #", "verdict: pass   #")
    new = discharge(text, "G", status)
    gate, other = yaml.safe_load(new)["gates"]
    assert gate["status"] == status and gate["verdict"] == verdict
    assert other["verdict"] == "pending"
    assert f"    verdict: {verdict}   # by hand\n" in new


def test_the_verdict_words_are_configurable():
    from pytest_falsify.rewrite import Options
    from pytest_falsify.style import parse_verdicts

    text = "gates:\n  - id: G\n    rule: r\n    status: UNBOUND\n    verdict: OPEN\n"
    opts = Options(verdicts=parse_verdicts("DISCHARGED=met FALSIFIED=broken *=open"))
    assert yaml.safe_load(discharge(text, "G", options=opts))["gates"][0]["verdict"] == "MET"


def test_a_status_kept_in_algorithm_evidence_is_written_there_and_never_twice():
    text = ("falsification_tests:\n  - id: A\n    prediction: p\n    algorithm_evidence:\n"
            "      status: PROPOSED\n      notes: prose, kept\n")
    new = discharge(text)
    entry = yaml.safe_load(new)["falsification_tests"][0]
    assert entry["algorithm_evidence"] == {"status": "DISCHARGED", "notes": "prose, kept"}
    assert "discharge_status" not in entry and "status" not in entry


def test_the_loader_reads_a_status_kept_in_algorithm_evidence(tmp_path):
    from pytest_falsify.contracts import load_dir

    (tmp_path / "c.yaml").write_text(
        "falsification_tests:\n  - id: A\n    prediction: p\n    algorithm_evidence:\n"
        "      status: PARTIAL_ALGORITHM_LEVEL\n")
    cset = load_dir(tmp_path)
    assert not cset.errors and cset.contracts[0].entries[0].status == "PARTIAL_ALGORITHM_LEVEL"


@pytest.mark.parametrize("text", [
    "metadata:\n  version: 2.1.0\n  changelog:\n    - \"2.1.0: x\"\n    - \"2.0.0: first\"\n" + ENTRY,
    "version: 1.2.0\nmetadata:\n  version: 1.2.0\n  changelog: ['1.2.0 - x']\n" + ENTRY,
    "metadata:\n  version: 1.0.0\n  changelog:\n  - version: 1.0.0\n    date: '2026-01-01'\n"
    "    change: initial\n" + ENTRY,
    "gates:\n  - id: A\n    rule: r\n    status: UNBOUND\n    verdict: pending\n",
])
def test_a_second_rewrite_in_the_files_style_changes_nothing(text):
    once = discharge(text)
    assert once != text and discharge(once) == once
