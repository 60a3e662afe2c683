"""Loading through the parse cache: the same contract set, without parsing what is cached;
full parses only for files a run renders."""

from __future__ import annotations

import datetime
import gc
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from falsify_project import DEMO, PASSING

from pytest_falsify import contracts, engine, index, parse_cache, plugin, settings

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


def _corpus_with_errors(tmp_path: Path) -> Path:
    root = tmp_path / "contracts"
    shutil.copytree(CORPUS / "aprender", root)
    shutil.copytree(CORPUS / "aprender-errors", root / "errors")
    return root


def test_a_cached_load_gives_the_full_loads_contract_set_and_parses_nothing_when_warm(tmp_path, parses):
    root = _corpus_with_errors(tmp_path)
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


def _ids(cset) -> tuple:
    return (sorted(cset.qids if isinstance(cset, contracts.IdSet) else cset.by_qid),
            {k: list(v) for k, v in cset.qids_of.items()}, [str(e) for e in cset.errors])


def test_the_id_index_gives_the_full_loads_ids_and_errors_and_needs_no_parse_cache_when_warm(
        tmp_path, parses):
    root = _corpus_with_errors(tmp_path)
    s = _corpus_settings()
    full = contracts.load_dir(root, settings=s)
    cache = tmp_path / "cache.json"
    cold = index.Index(s, cache).load_ids(root)
    cache.unlink()  # a warm run reads the id index alone
    parses.clear()
    warm = index.Index(s, cache).load_ids(root)
    assert _ids(cold) == _ids(full) == _ids(warm)
    assert full.errors  # the corpus's true errors come back too
    assert sum(parses.values()) == 0


def test_the_id_index_sees_a_changed_file_and_is_written_anew(tmp_path, parses):
    root = tmp_path / "contracts"
    root.mkdir()
    (root / "demo.yaml").write_text(DEMO)
    cache = tmp_path / "cache.json"
    index.Index(settings.Settings(), cache).load_ids(root)
    (root / "demo.yaml").write_text(DEMO.replace("FALSIFY-DEMO-003", "FALSIFY-DEMO-004"))
    parses.clear()
    ids = index.Index(settings.Settings(), cache).load_ids(root)
    assert "demo::FALSIFY-DEMO-004" in ids.qids and "demo::FALSIFY-DEMO-003" not in ids.qids
    assert parses == Counter({"demo.yaml": 1})
    parses.clear()
    again = index.Index(settings.Settings(), cache).load_ids(root)
    assert _ids(again) == _ids(ids) and sum(parses.values()) == 0


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


def _record_of(tmp_path, evidence: str):
    path = tmp_path / "c.yaml"
    path.write_text(DEMO.replace("    discharge_status: DISCHARGED\n",
                                 f"    discharge_status: DISCHARGED\n    evidence: {evidence}\n"))
    return index.to_record(*contracts.load_bytes(path, path.read_bytes(), settings.Settings(), "c"))


@pytest.mark.parametrize("evidence", [
    "{checked: 2026-01-01}", "{at: 2026-01-01 10:00:00}", "{x: .nan}", "{x: .inf}", "{x: -.inf}",
    "{1: one}", "{true: yes}", "{~: none}", "{1.5: x}", "{blob: !!binary aGVsbG8=}",
    "{s: !!set {a, b}}", "{tests: [{test: t, when: 2026-01-01}]}",
], ids=["date", "datetime", "nan", "inf", "minus-inf", "int-key", "bool-key", "null-key",
        "float-key", "bytes", "set", "nested-date"])
def test_a_record_json_would_not_give_back_equal_is_not_kept(tmp_path, evidence):
    assert _record_of(tmp_path, evidence) is None


@pytest.mark.parametrize("evidence", [
    "{tests: [{test: t, outcome: passed, metrics: {n: 3, r: 0.5, big: 123456789012345678901234567890,"
    " ok: true, none: null, list: [1, [2, {a: b}]]}}]}", "{}", "{note: ''}",
])
def test_a_record_of_plain_json_data_is_kept_and_survives_json(tmp_path, evidence):
    rec = _record_of(tmp_path, evidence)
    assert rec is not None and json.loads(json.dumps(rec)) == rec


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


def test_a_write_keeps_neither_its_edits_nor_the_cache_records_once_they_are_on_disk(
        tmp_path, parses):
    # Kept, they would outlive the write phase (the session holds the plan and the index)
    # and every full collection of the GC would scan them until the session ends.
    root = tmp_path / "contracts"
    root.mkdir()
    (root / "demo.yaml").write_text(DEMO)
    idx = index.Index(None, tmp_path / "cache.json")
    cset = idx.load(root)
    result = {"ids": ["demo::FALSIFY-DEMO-001"], "outcome": "passed", "level": "algorithm",
              "test": "tests/test_demo.py::test_algorithm"}
    plan, written, problems = engine.write(
        root, lambda: idx.load(root, previous=cset), {result["test"]: result}, None,
        datetime.date(2026, 12, 1), written_hook=idx.written)
    assert problems == [] and written == [root / "demo.yaml"]
    assert plan.updates == {} and [str(t) for t in plan.transitions] == [
        "demo::FALSIFY-DEMO-001: UNBOUND -> DISCHARGED"]
    assert idx._cache is None  # its records are on disk
    parses.clear()
    assert idx.load(root).by_qid["demo::FALSIFY-DEMO-001"].status == "DISCHARGED"
    assert parses == Counter()  # the written file, from the cache the write saved


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


def test_a_run_without_a_mode_binds_an_id_added_since_the_last_run(project):
    project.contract()
    project.tests(PASSING)
    assert _run(project, "-W", "error::pytest.PytestWarning").ret == 0  # writes the id index
    project.contract(DEMO.replace("FALSIFY-DEMO-003", "FALSIFY-DEMO-009"))
    # A new module, not the old one edited: its same-size edit in the same second could
    # meet a stale rewritten-bytecode cache (pytest 8 keys it by mtime and size).
    (project.path / "test_demo.py").unlink()
    project.tests(PASSING.replace("FALSIFY-DEMO-003", "FALSIFY-DEMO-009"), name="test_demo2")
    result = _run(project, "-W", "error::pytest.PytestWarning")
    assert result.ret == 0, result.stdout.str()
    assert "unknown falsifier id" not in result.stdout.str()


MODE_MODULES = ("pytest_falsify.recording", "pytest_falsify.engine", "pytest_falsify.rewrite")


def test_a_run_without_a_mode_loads_none_of_the_modes_modules(project):
    """What a plain run pays for: binding against the id index, not the modes' machinery."""
    project.contract()
    project.tests(PASSING)
    project.pytester.makeconftest(f"""
import sys

def pytest_sessionfinish(session):
    loaded = [m for m in {MODE_MODULES!r} if m in sys.modules]
    (session.config.rootpath / "loaded.txt").write_text(" ".join(loaded))
""")
    assert project.subprocess().ret == 0
    assert (project.path / "loaded.txt").read_text() == ""
    assert project.subprocess("--falsify=report").ret == 0
    assert (project.path / "loaded.txt").read_text().split() == list(MODE_MODULES)


def test_a_run_keeps_none_of_its_results_after_it_ends(project):
    """pytest keeps its plugins alive until the process exits, and the interpreter's final
    collections would rescan whatever they hold: the session lets go at unconfigure."""
    project.contract()
    project.tests(PASSING)
    rec = project.pytester.inline_run("-p", "pytest_falsify.plugin", "--falsify=report")
    config = rec.getcalls("pytest_sessionfinish")[0].session.config
    session = config.pluginmanager.get_plugin("falsify-session")
    assert session.results == {} and session.cset is None and session.index is None
    assert session.plan is None and session.sources is None
    # nor the bindings it stashed on pytest's items, which pytest keeps to the exit too
    items = rec.getcalls("pytest_collection_finish")[0].session.items
    assert items and not any(plugin._INFO in item.stash for item in items)


def test_the_bindings_reports_carry_to_the_end_are_nothing_the_cyclic_gc_scans(project):
    """pytest keeps every report to the end of the run, and each bound test's report carries
    its binding: one dict per test, which the run's full collections (and the final ones)
    would scan if it held a list. Its ids are a tuple of strings: the GC untracks both."""
    project.contract()
    project.tests(PASSING)
    rec = project.pytester.inline_run("-p", "pytest_falsify.plugin", "--falsify=report")
    carried = [r.falsify for r in rec.getreports("pytest_runtest_logreport")
               if getattr(r, "falsify", None) is not None]
    assert carried
    gc.collect()
    assert not any(gc.is_tracked(b) for b in carried)


def test_a_plainly_passing_test_keeps_no_result_of_its_own_until_the_end(project):
    """During the run, a test whose call passed with nothing to record is kept as its
    binding alone (no dict per test through the run); one with a metric has its result."""
    project.contract()
    project.tests(PASSING)
    project.pytester.makeconftest("""
seen, kept = [], {}

def pytest_configure(config):
    seen.append(config)

def pytest_runtest_logfinish(nodeid):
    results = seen[0].pluginmanager.get_plugin("falsify-session").results
    kept[nodeid.rsplit("::", 1)[1]] = "outcome" in results[nodeid]

def pytest_sessionfinish(session):
    (session.config.rootpath / "kept.txt").write_text(repr(sorted(kept.items())))
""")
    project.pytester.inline_run("-p", "pytest_falsify.plugin", "--falsify=report").assertoutcome(passed=3)
    assert (project.path / "kept.txt").read_text() == repr(
        [("test_algorithm", True), ("test_guard", False), ("test_live", False)])


def test_a_run_keeps_none_of_its_traced_lines_after_it_ends(project):
    """The tracer is a plugin of its own, which pytest keeps alive to the exit (in the
    history of pytest_plugin_registered): it lets go of the lines and the source index."""
    project.contract()
    project.tests(PASSING)
    rec = project.pytester.inline_run("-p", "pytest_falsify.plugin", "--falsify")
    tracer = next(c.plugin for c in rec.getcalls("pytest_plugin_registered")
                  if c.plugin_name == "falsify-tracer")  # it traced this run
    assert tracer.tracer is None and tracer.index is None


def _garbage_cycles(work) -> int:
    """The objects `work()` left in reference cycles (freed only by the cyclic GC)."""
    gc.collect()
    gc.disable()
    try:
        work()
        return gc.collect()
    finally:
        gc.enable()


# Garbage in a cycle lives until a full collection, and each full collection of the run
# scans it: the loader's walk and the source parse are freed by refcounting alone.

def test_the_contracts_walk_leaves_no_reference_cycle(tmp_path):
    from pytest_falsify import walk

    (tmp_path / "sub").mkdir()
    for name in ("a.yaml", "sub/b.yaml"):
        (tmp_path / name).write_text("metadata: {}\n")
    found: list = []
    assert _garbage_cycles(lambda: found.append(walk.contract_files_stat(tmp_path))) == 0
    assert [p.name for p, _ in found[0][0]] == ["a.yaml", "b.yaml"]


def test_parsing_a_source_file_leaves_no_reference_cycle():
    from pytest_falsify.fingerprint import FileIndex

    source = "class A:\n    def f(self):\n        return 1\n\n\ndef g():\n    assert A().f()\n"
    FileIndex.parse(source)  # its first call imports the vacuity lint: a module is cycles
    parsed: list = []
    assert _garbage_cycles(lambda: parsed.append(FileIndex.parse(source))) == 0
    assert [name for _, _, name in parsed[0].spans] == ["A.f", "g"]


def test_checking_a_document_with_aliases_leaves_no_reference_cycle():
    from pytest_falsify import yamlsafe

    text = "base: &b {x: 1}\nitems:\n  - *b\n  - *b\n"
    yamlsafe.compose(text)
    composed: list = []
    assert _garbage_cycles(lambda: composed.append(yamlsafe.compose(text))) == 0
    assert composed[0].value[1][1].value[0] is composed[0].value[0][1]  # the alias walk ran
