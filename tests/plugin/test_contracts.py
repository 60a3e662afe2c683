"""Contract loading and validation: every error names file:line and a fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pytest_falsify import contracts

pytestmark = pytest.mark.falsifier("FALSIFY-PLUGIN-006")


def load(tmp_path: Path, text: str, name: str = "c.yaml") -> contracts.ContractSet:
    (tmp_path / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return contracts.load_dir(tmp_path)


def only_error(cset: contracts.ContractSet) -> contracts.ContractError:
    assert len(cset.errors) == 1, [str(e) for e in cset.errors]
    return cset.errors[0]


def test_our_format_loads_with_levels_and_statuses(tmp_path):
    cset = load(tmp_path, """\
        metadata: {version: 1.0.0}
        falsification_tests:
          - id: F-1
            prediction: p
            discharge_level: algorithm
            discharge_status: DISCHARGED
        gates:
          - id: GATE-1
            description: d
        """)
    assert cset.errors == []
    assert cset.by_id["F-1"].level == "algorithm" and cset.by_id["F-1"].status == "DISCHARGED"
    assert cset.by_id["GATE-1"].block == "gates" and cset.by_id["GATE-1"].level == "live"


def test_aprender_aliases_and_status_key_are_read(tmp_path):
    cset = load(tmp_path, """\
        metadata: {version: 2.1.0, status: PROPOSED}
        falsification_tests:
          - id: FALSIFY-QW2-001
            description: r
            expected: e
            command: cargo test
            fails_if: x
            status: PARTIAL_ALGORITHM_LEVEL
            algorithm_evidence: {note: kept}
            binds_to: [a]
        """)
    entry = cset.by_id["FALSIFY-QW2-001"]
    assert cset.errors == []
    assert entry.status == "PARTIAL_ALGORITHM_LEVEL" and entry.status_key == "status"
    assert entry.data["algorithm_evidence"] == {"note": "kept"}


def test_yaml_syntax_error_names_the_line(tmp_path):
    err = only_error(load(tmp_path, "metadata:\n  version: 1.0\nfalsification_tests: [\n"))
    assert err.line == 4 and "syntax" in err.message and err.fix


def test_duplicate_yaml_key_is_an_error(tmp_path):
    err = only_error(load(tmp_path, """\
        falsification_tests:
          - id: F-1
            prediction: a
            prediction: b
        """))
    assert err.line == 4 and "duplicate key 'prediction'" in err.message


def test_duplicate_id_within_one_file_names_both_lines(tmp_path):
    err = only_error(load(tmp_path, "falsification_tests:\n  - {id: F-1, prediction: a}\n"
                                    "  - {id: F-1, prediction: b}\n"))
    assert err.line == 3 and "duplicate falsifier id 'F-1' (also at line 2)" in err.message


def test_unknown_status_suggests_the_closest(tmp_path):
    err = only_error(load(tmp_path, """\
        falsification_tests:
          - id: F-1
            prediction: a
            discharge_status: DISCHARGD
        """))
    assert err.line == 4 and "DISCHARGD" in err.message and "did you mean DISCHARGED" in err.fix


def test_missing_id_and_prediction_are_errors(tmp_path):
    cset = load(tmp_path, "falsification_tests:\n  - {prediction: a}\n  - {id: F-2}\n")
    assert [e.message for e in cset.errors] == ["entry of 'falsification_tests' has no id",
                                               "F-2: no prediction"]


def test_misspelled_block_name_is_an_error(tmp_path):
    err = only_error(load(tmp_path, "falsification_test:\n  - {id: F-1, prediction: a}\n"))
    assert "unknown block 'falsification_test'" in err.message and "falsification_tests" in err.fix


def test_python_object_tag_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    err = only_error(load(tmp_path, f"""\
        metadata: !!python/object/apply:os.system ["touch {marker}"]
        falsification_tests: []
        """))
    assert "python/object" in err.message and not marker.exists()


def test_alias_bomb_is_refused(tmp_path):
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    prev = "a"
    for name in "bcdefghij":
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
        prev = name
    err = only_error(load(tmp_path, "\n".join(lines) + "\n"))
    assert "aliases expand" in err.message


def test_several_documents_are_refused(tmp_path):
    err = only_error(load(tmp_path, "metadata: {}\n---\nmetadata: {}\n"))
    assert "more than one YAML document" in err.message


def test_error_text_has_file_line_and_fix(tmp_path):
    err = only_error(load(tmp_path, "falsification_tests:\n  - {id: F-1}\n"))
    text = str(err)
    assert text.startswith(f"{tmp_path / 'c.yaml'}:2: F-1: no prediction") and "fix: " in text


def test_closest_ids_for_a_typo(tmp_path):
    cset = load(tmp_path, "falsification_tests:\n  - {id: FALSIFY-QW2-001, prediction: a}\n")
    assert cset.closest("FALSIFY-QW2-01") == ["FALSIFY-QW2-001"]
