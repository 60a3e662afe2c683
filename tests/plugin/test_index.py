"""Loading through the parse cache: the same contract set, without parsing what is cached;
full parses only for files a run renders."""

from __future__ import annotations

import datetime
import shutil
from collections import Counter
from pathlib import Path

import pytest
from falsify_project import DEMO, PASSING

from pytest_falsify import contracts, engine, index, parse_cache, settings

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
FIELDS = ("id", "block", "line", "status", "status_key", "level", "evidence", "key", "word", "path")


def _corpus_settings() -> settings.Settings:
    import iniconfig

    ini = iniconfig.IniConfig(str(CORPUS / "aprender.ini"))
    return settings.from_values(lambda k: ini["pytest"].get(k), CORPUS / "aprender.ini")


def _view(cset: contracts.ContractSet):
    return ([(c.path, c.name, c.version, [tuple(getattr(e, f) for f in FIELDS) for e in c.entries])
             for c in cset.contracts], [str(e) for e in cset.errors], [str(n) for n in cset.notes])


@pytest.fixture
def parses(monkeypatch) -> Counter:
    """Counts full YAML parses per file."""
    seen: Counter = Counter()
    real = contracts.parse_text

    def counting(path, *a, **k):
        seen[Path(path).name] += 1
        return real(path, *a, **k)

    monkeypatch.setattr(contracts, "parse_text", counting)
    return seen


def test_a_cached_load_gives_the_full_loads_contract_set_and_parses_nothing_when_warm(tmp_path, parses):
    root = tmp_path / "contracts"
    shutil.copytree(CORPUS / "aprender", root)
    shutil.copytree(CORPUS / "aprender-errors", root / "errors")
    s = _corpus_settings()
    full = contracts.load_dir(root, settings=s)
    cache = tmp_path / "cache.json"
    cold = index.Index(s, cache).load(root)
    parses.clear()
    warm_index = index.Index(s, cache)
    warm = warm_index.load(root)
    assert _view(cold) == _view(full) == _view(warm)
    assert warm.errors and warm.notes  # the corpus's true errors and its non-contracts
    assert sum(parses.values()) == 0
    assert warm_index.cache.misses == 0
    assert all(not c.text and c.parsed is None for c in warm.contracts)


def test_other_settings_rebuild_every_record(tmp_path, parses):
    root = tmp_path / "contracts"
    shutil.copytree(CORPUS / "aprender", root)
    cache = tmp_path / "cache.json"
    index.Index(_corpus_settings(), cache).load(root)
    parses.clear()
    plain = index.Index(settings.Settings(), cache).load(root)  # no status map: errors
    assert _view(plain) == _view(contracts.load_dir(root))
    assert sum(parses.values()) > 0


def test_a_file_whose_values_json_cannot_hold_is_parsed_every_time(tmp_path, parses):
    root = tmp_path / "contracts"
    root.mkdir()
    (root / "demo.yaml").write_text(DEMO)
    (root / "dated.yaml").write_text(DEMO.replace("DEMO-00", "DATED-00").replace(
        "    discharge_status: DISCHARGED\n",
        "    discharge_status: DISCHARGED\n    evidence: {checked: 2026-01-01}\n"))
    cache = tmp_path / "cache.json"
    index.Index(None, cache).load(root)
    parses.clear()
    cset = index.Index(None, cache).load(root)
    assert parses == Counter({"dated.yaml": 1})
    assert _view(cset) == _view(contracts.load_dir(root))


def test_hydrate_reads_a_light_contract_and_refuses_one_that_changed(tmp_path):
    root = tmp_path / "contracts"
    root.mkdir()
    path = root / "demo.yaml"
    path.write_text(DEMO)
    cache = tmp_path / "cache.json"
    index.Index(None, cache).load(root)
    light = index.Index(None, cache).load(root).contracts[0]
    assert light.text == "" and light.parsed is None
    assert index.hydrate(light).text == DEMO and light.parsed is not None
    again = index.Index(None, cache).load(root).contracts[0]
    path.write_text(DEMO + "# edited\n")
    with pytest.raises(index.Changed):
        index.hydrate(again)


def test_a_light_contract_read_for_a_rewrite_is_light_again_after_it(tmp_path):
    # Its text and node tree served one rewrite; kept, they would outlive the write phase
    # (the plugin's contract set holds the contract) and every GC pass would scan them.
    root = tmp_path / "contracts"
    root.mkdir()
    (root / "demo.yaml").write_text(DEMO)
    cache = tmp_path / "cache.json"
    index.Index(None, cache).load(root)
    cset = index.Index(None, cache).load(root)
    result = {"ids": ["demo::FALSIFY-DEMO-001"], "outcome": "passed", "level": "algorithm",
              "test": "tests/test_demo.py::test_algorithm"}
    plan = engine.make_plan(cset, {result["test"]: result})
    rendered, problems = engine.render(cset, plan, datetime.date(2026, 12, 1))
    assert problems == [] and [r.path.name for r in rendered] == ["demo.yaml"]
    light = cset.contracts[0]
    assert light.text == "" and light.parsed is None


# --- in a pytest run (pytest's cache on, as users run it) ----------------------------------

def _run(project, *args):
    return project.pytester.runpytest_inprocess("-p", "pytest_falsify.plugin", *args)


def _cache(project) -> Path:
    return parse_cache.cache_file(project.path / ".pytest_cache")


def test_a_warm_run_parses_no_contract_and_check_reads_only_what_it_renders(project, parses,
                                                                           monkeypatch):
    project.contract()
    project.contract(DEMO.replace("DEMO-00", "OTHER-00"), name="other")
    project.tests(PASSING)
    assert _run(project, "--falsify=report").ret == 0
    assert _cache(project).is_file()
    parses.clear()
    hydrated: Counter = Counter()
    real = index.hydrate
    monkeypatch.setattr(index, "hydrate", lambda c: hydrated.update([c.path.name]) or real(c))
    for mode in ((), ("--falsify=report",), ("--falsify=check",)):
        result = _run(project, *mode)
        assert result.ret == (0 if not mode or mode[0].endswith("report") else 6)
    assert sum(parses.values()) == 0
    assert hydrated == Counter({"demo.yaml": 1})  # check's drift: the one file it renders


def test_check_parses_only_the_files_it_renders(project, parses):
    project.contract()
    project.contract(DEMO.replace("DEMO-00", "OTHER-00"), name="other")
    project.tests(PASSING)
    assert _run(project, "--falsify").ret == 0  # derive: demo changes, other does not
    parses.clear()
    assert _run(project, "--falsify=check").ret == 0
    assert sum(parses.values()) == 0  # written files were recorded in the cache


def test_a_corrupt_cache_is_ignored_and_rebuilt_by_a_run(project):
    project.contract()
    project.tests(PASSING)
    _cache(project).parent.mkdir(parents=True)
    _cache(project).write_bytes(b'{"format": 1, "records": {"x": ')
    assert _run(project, "--falsify").ret == 0
    assert b"discharge_status: DISCHARGED" in project.read()
    assert parse_cache.ParseCache(_cache(project), "").ignored != "not valid JSON"


def test_without_the_cacheprovider_every_run_parses(project, parses):
    project.contract()
    project.tests(PASSING)
    project.run("--falsify=report")  # -p no:cacheprovider
    project.run("--falsify=report")
    assert parses["demo.yaml"] == 2
