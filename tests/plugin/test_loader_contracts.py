"""The loader on aprender's variety (pure: no pytest run): keys, qualified ids, excludes,
non-contracts and the `falsification:` block."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from falsify_project import CORPUS

from pytest_falsify import contracts, settings
from pytest_falsify.cli._project import LOADERS, locate

pytestmark = pytest.mark.falsifier("FALSIFY-LOAD-004")


def corpus_settings() -> settings.Settings:
    ini = CORPUS / "aprender.ini"
    return settings.from_values(LOADERS["pytest.ini"](ini).get, ini)


@pytest.fixture(scope="module")
def corpus() -> contracts.ContractSet:
    return contracts.load_dir(CORPUS / "aprender", settings=corpus_settings())


def write(tmp_path: Path, name: str, text: str) -> None:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text), encoding="utf-8")


def test_the_corpus_loads_without_errors(corpus):
    assert [str(e) for e in corpus.errors] == []


@pytest.mark.falsifier("FALSIFY-LOAD-005")
def test_contracts_are_keyed_by_their_relative_path_without_suffix(corpus):
    keys = {c.key for c in corpus.contracts}
    assert {"kernels/softmax-v1", "reference/softmax-v1", "top-version-v1"} <= keys


@pytest.mark.falsifier("FALSIFY-LOAD-003")
def test_the_same_id_in_three_contracts_has_three_qualified_ids(corpus):
    assert corpus.qids_of["FALSIFY-AL-003"] == [
        "algebra/linear-algebra-v1::FALSIFY-AL-003", "attention/attention-lemmas-v1::FALSIFY-AL-003",
        "training/adam-lemmas-v1::FALSIFY-AL-003"]
    assert "FALSIFY-AL-003" not in corpus.by_id  # only unambiguous bare ids


@pytest.mark.falsifier("FALSIFY-LOAD-003")
def test_resolve_names_the_qualified_choices_of_an_ambiguous_id(corpus):
    qid, why = corpus.resolve("FALSIFY-SM-001")
    assert qid is None and why.endswith(
        "qualify it as one of: kernels/softmax-v1::FALSIFY-SM-001, reference/softmax-v1::FALSIFY-SM-001")


@pytest.mark.falsifier("FALSIFY-LOAD-003")
def test_resolve_suggests_the_key_without_suffix(corpus):
    _, why = corpus.resolve("kernels/softmax-v1.yaml::FALSIFY-SM-001")
    assert "kernels/softmax-v1::FALSIFY-SM-001" in why


@pytest.mark.falsifier("FALSIFY-LOAD-003")
def test_resolve_suggests_close_qualified_ids_for_a_typo(corpus):
    _, why = corpus.resolve("kernels/softmax-v1::FALSIFY-SM-01")
    assert "closest known: kernels/softmax-v1::FALSIFY-SM-001" in why


def test_status_words_are_mapped_and_kept_verbatim(corpus):
    e = corpus.by_qid["kernels/apr-cpu-vs-gpu-output-parity-v1::FALSIFY-CPU-GPU-005"]
    assert e.status == "DISCHARGED" and e.word.startswith("VERIFIED — 74.0 TFLOP/s")


def test_a_status_kept_only_in_algorithm_evidence_is_read_there(corpus):
    e = corpus.by_qid["nested-status-v1::FALSIFY-NS-001"]
    assert (e.status, e.word, e.status_key) == ("PARTIAL_ALGORITHM_LEVEL", "IMPLEMENTED",
                                                "algorithm_evidence.status")


def test_a_falsification_block_of_entries_with_ids_is_read_as_falsifiers(corpus):
    e = corpus.by_qid["falsification-entries-v1::FALSIFY-FB-001"]
    assert e.block == "falsification" and e.status == "PARTIAL_ALGORITHM_LEVEL"


def test_stubs_and_prose_falsification_blocks_are_notes(corpus):
    notes = {n.path.name: n.message for n in corpus.notes}
    assert notes["falsification-stub-v1.yaml"] == "'falsification' holds an empty stub: ignored"
    assert "prose scenarios" in notes["given-when-then-v1.yaml"]


def test_comment_only_and_schema_files_are_skipped_with_a_note(corpus):
    notes = {n.path.name: n.message for n in corpus.notes}
    assert "comments only" in notes["_schema.yaml"]
    assert "without metadata, falsification_tests or gates" in notes["contract.schema.yaml"]


def test_the_version_is_read_at_the_top_level_when_metadata_has_none(corpus):
    by_key = {c.key: c for c in corpus.contracts}
    assert by_key["top-version-v1"].version == "0.4.0"
    assert by_key["both-versions-v1"].version == "2.0.0"


def test_exclude_globs_skip_files_before_they_are_read(tmp_path):
    write(tmp_path, "drafts/wip.yaml", "falsification_tests:\n  - {id: F-1}\n  - {id: F-1}\n")
    write(tmp_path, "ok.yaml", "falsification_tests:\n  - {id: F-1, prediction: a}\n")
    cset = contracts.load_dir(tmp_path, settings=settings.Settings(exclude=("drafts/*",)))
    assert cset.errors == [] and cset.excluded == 1 and list(cset.by_qid) == ["ok::F-1"]
    assert contracts.load_dir(tmp_path).errors  # without the exclude, the draft is read


def test_a_glob_without_slash_matches_file_names_in_any_folder(tmp_path):
    write(tmp_path, "a/b/_index.yaml", "falsification_tests: 3\n")
    cset = contracts.load_dir(tmp_path, settings=settings.Settings(exclude=("_index.yaml",)))
    assert cset.errors == [] and cset.excluded == 1


def test_a_misspelled_falsification_block_is_still_an_error(tmp_path):
    write(tmp_path, "c.yaml", "falsifcation_tests:\n  - {id: F-1, prediction: a}\n")
    assert [e.message for e in contracts.load_dir(tmp_path).errors] == [
        "unknown block 'falsifcation_tests'"]


def test_keys_use_slashes_and_drop_a_yml_suffix(tmp_path):
    assert contracts.contract_key(tmp_path / "a" / "b" / "c-v1.yml", tmp_path) == "a/b/c-v1"


def test_the_cli_reads_the_loader_settings_from_the_config_pytest_uses(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\nfalsify_contracts = spec\n"
                                         "falsify_exclude =\n    drafts/*\n"
                                         "falsify_status_map =\n    MERGED = DISCHARGED\n")
    (tmp_path / "sub").mkdir()
    found = locate(tmp_path / "sub")
    loaded = settings.from_values(found.options.get, found.inipath)
    assert found.contracts_dir() == tmp_path / "spec" and loaded.exclude == ("drafts/*",)
    assert loaded.status_map.resolve("MERGED") == "DISCHARGED"


def test_linelists_from_pyproject_are_lists(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\nfalsify_status_map = ["VERIFIED* = DISCHARGED"]\n')
    found = locate(tmp_path)
    loaded = settings.from_values(found.options.get, found.inipath)
    assert loaded.status_map.resolve("VERIFIED on H100") == "DISCHARGED"


def test_a_second_path_to_the_same_file_is_an_error_and_read_once(tmp_path):
    write(tmp_path, "real.yaml", "falsification_tests:\n  - {id: F-1, prediction: a}\n")
    (tmp_path / "alias.yaml").symlink_to(tmp_path / "real.yaml")
    cset = contracts.load_dir(tmp_path)
    assert list(cset.by_qid) == ["real::F-1"]
    [err] = cset.errors
    assert err.path.name == "alias.yaml" and "same file as" in err.message
