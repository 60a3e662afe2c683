"""pytest hooks of pytest-falsify (thin: the work lives in the other modules).

Results travel on the test reports (`report.falsify`, builtin types only), so under
pytest-xdist the controller sees everything and is the only process that writes.

PYTEST_DONT_REWRITE: this module asserts nothing a user needs explained, and opting out
of assertion rewriting keeps `-p pytest_falsify.plugin` quiet where the module is already
imported unrewritten (an editable install loaded through its entry point lists no module
files for pytest to mark, so a later `-p` warned "Module already imported so cannot be
rewritten", one extra warning in every in-process pytester run).
"""

from __future__ import annotations

import functools
import gc
import os
from pathlib import Path

import pytest

from . import (
    activation,
    engine,
    evidence,
    falsifiable,
    findings,
    fixtures,
    freshness,
    gate,
    gpu,
    gpu_pinning,
    index,
    junit,
    mutants,
    outcome,
    parse_cache,
    pruning,
    report,
    rootdir,
    settings,
    signing,
    summary,
    tracing,
    vacuity,
)
from . import fingerprint as F
from . import verdict as V
from .blocking import Blocked
from .contracts import LEVELS, ContractError, ContractSet, bulk, load_dir
from .records import Binding, BindingRun, TestResult
from .rewrite import Options

MODES = ("write", "check", "report", "mutants")
#: Modes that rewrite contracts (mutants mode is write mode plus the faulted reruns).
WRITING = ("write", "mutants")
_FREEZE_AT = 200  # contracts
_INFO = pytest.StashKey[Binding]()

_PROPS_AT_CALL = pytest.StashKey[int]()


def _tells(item: pytest.Item, rep) -> bool:
    """Whether a phase report of a bound test can change its result: the call, a setup or
    teardown that did not pass, and a teardown that carries mutants results or metrics
    recorded after the call. A passing setup or teardown adds nothing, and skipping it
    saves two thirds of the per-report work (and the dicts every report would keep)."""
    if rep.when == "call":
        item.stash[_PROPS_AT_CALL] = len(item.user_properties)
        return True
    if not rep.passed:
        return True
    return rep.when == "teardown" and (
        mutants.RESULTS in item.stash
        or len(item.user_properties) > item.stash.get(_PROPS_AT_CALL, 0))
#: our options that take a value; as a separate argument pytest misreads it (rootdir.py)
_VALUE_OPTIONS = ("--contracts", "--falsify-report", "--falsify-gpus", "--falsify-html")
#: Our ini options and command-line options (dest names): setting any of them, or having a
#: contracts directory, is what makes a project use the plugin (activation.py).
INI_OPTIONS = (settings.CONTRACTS, settings.EXCLUDE, settings.STATUS_MAP, "falsify_verdict_map",
               "falsify_report_key", "falsify_gpus", activation.GATING_FLAG,
               "falsify_fingerprint", "falsify_require_faults", "falsify_dirty_is_stale")
CLI_OPTIONS = ("falsify", "contracts", "falsify_report", "falsify_html", "falsify_strict",
               "run_ignored", "require_gpu", "falsify_gpus", "falsify_fingerprint")
_WRITE_EXIT = (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED)


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("falsify", "contract statuses derived from tests (pytest-falsify)")
    # No argparse `choices`: `--falsify tests/` must survive the early parse so that
    # pytest_load_initial_conftests can split it; the mode is validated in configure.
    g.addoption("--falsify", nargs="?", const="write", default=None, metavar="MODE",
                help="derive falsifier statuses: write (default) rewrites contracts, check fails "
                     "on drift, report only reports, mutants writes and reruns the bound tests "
                     "under their declared faults")
    g.addoption("--contracts", default=None, metavar="DIR",
                help="contracts directory (default: ini falsify_contracts, else 'contracts')")
    g.addoption("--falsify-report", default=None, metavar="PATH", help="write a JSON run report")
    g.addoption("--falsify-html", default=None, metavar="DIR",
                help="write the HTML dashboard of the contracts after the run (needs the [html] extra)")
    g.addoption("--falsify-strict", action="store_true",
                help="a claimed status no test binds (check), a status set by hand that the "
                     "evidence does not support, stale evidence, a VACUOUS DISCHARGED "
                     "falsifier and a test that cannot fail are errors")
    g.addoption("--run-ignored", action="store_true",
                help="run tests marked gpu or ignored (skipped by default)")
    g.addoption("--require-gpu", action="store_true",
                help="with --run-ignored: no CUDA device is an error, not a skip")
    g.addoption("--falsify-gpus", default=None, metavar="auto|N|0,1,...",
                help="pin each xdist worker to its own GPU through CUDA_VISIBLE_DEVICES "
                     "(auto: every GPU; N: the first N; or a list); default: ini falsify_gpus")
    g.addoption("--falsify-fingerprint", default=None, choices=("auto", "on", "off"),
                help="fingerprint the code each bound test runs (coverage.py); auto: on in "
                     "write and mutants modes and in report mode with --falsify-report, "
                     "where the evidence is kept; off in check")
    # Defaults are "not set" values: a set option is what turns the plugin on (activation.py).
    parser.addini(settings.CONTRACTS, settings.INI_HELP[settings.CONTRACTS], default="")
    for name in (settings.EXCLUDE, settings.STATUS_MAP):
        parser.addini(name, settings.INI_HELP[name], type="linelist", default=[])
    parser.addini("falsify_report_key", "env:NAME: the environment variable holding the HMAC key "
                  "that signs JSON reports; `falsify apply` then refuses unsigned ones", default="")
    parser.addini("falsify_fingerprint", "auto|on|off: see --falsify-fingerprint (default: auto)",
                  default="")
    parser.addini("falsify_require_faults", "--falsify-strict also refuses DISCHARGED for a "
                  "falsifier with no proven fault (unproven) (default: false)", type="bool")
    # A string, not type="bool": an unset bool reads as False, and this one defaults to true.
    parser.addini("falsify_dirty_is_stale", "evidence recorded from uncommitted code is stale "
                  "(true|false, default: true)", default="")
    parser.addini("falsify_verdict_map", "status -> gate verdict words written by pytest-falsify "
                  "(default: DISCHARGED=pass FALSIFIED=fail *=pending)", default="")
    parser.addini("falsify_gpus", "GPUs to pin xdist workers to (auto|N|0,1,...); empty: no pinning",
                  default="")
    parser.addini(activation.GATING_FLAG, "skip gpu/ignored tests unless --run-ignored (default: "
                  "on when the project has contracts or sets a falsify option)", type="bool",
                  default=None)


def pytest_addhooks(pluginmanager) -> None:
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


@pytest.hookimpl(tryfirst=True)  # before pytest's own impl reads rootdir and confcutdir
def pytest_load_initial_conftests(early_config, parser, args: list[str]) -> None:
    rootdir.repair(early_config, args, _VALUE_OPTIONS)
    _split_falsify_mode(args)
    # Before any conftest or test module can touch CUDA in this process.
    gpu.pin(early_config)


def _split_falsify_mode(args: list[str]) -> None:
    # `--falsify tests/` would make argparse read "tests/" as the mode: spell it out.
    out: list[str] = []
    it = iter(range(len(args)))
    for i in it:
        if args[i] != "--falsify":
            out.append(args[i])
        elif i + 1 < len(args) and args[i + 1] in MODES:
            out.append(f"--falsify={args[i + 1]}")
            next(it)
        else:
            out.append("--falsify=write")
    args[:] = out


def pytest_configure(config: pytest.Config) -> None:
    if not activation.in_use(_contracts_dir(config).exists(),
                             (config.getini(n) for n in INI_OPTIONS),
                             (getattr(config.option, n, None) for n in CLI_OPTIONS)):
        return  # inert: the run is exactly as with -p no:falsify
    session = FalsifySession(config)
    lines = ["falsifier(*ids, level='algorithm'): bind this test to contract falsifiers "
             "(level 'live' = real backend or artifact)",
             "slow: long-running test, deselect with -m 'not slow'"]
    if session.gpu_gating:
        lines += ["gpu(count=1): needs `count` CUDA devices; skipped unless --run-ignored "
                  "(evidence level live)",
                  "ignored: opt-in test; skipped unless --run-ignored"]
    for line in lines:
        config.addinivalue_line("markers", line)
    config.pluginmanager.register(fixtures, "falsify-fixtures")
    config.pluginmanager.register(session, "falsify-session")


def _parse_cache_path(config: pytest.Config, name: str = parse_cache.FILE_NAME) -> Path | None:
    """A cache file inside pytest's cache directory; None without the cacheprovider."""
    cache = getattr(config, "cache", None)
    if cache is None:
        return None
    try:
        return cache.mkdir("falsify") / name
    except OSError:  # an unwritable cache directory: run without the cache
        return None


def _contracts_dir(config: pytest.Config) -> Path:
    if config.option.contracts:
        return Path(config.option.contracts).resolve()
    ini = config.getini("falsify_contracts") or "contracts"
    base = config.inipath.parent if config.inipath else config.rootpath
    return (base / ini).resolve()


class FalsifySession:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        opt = config.option
        if opt.falsify is not None and opt.falsify not in MODES:
            raise pytest.UsageError(f"--falsify={opt.falsify}: use one of {', '.join(MODES)}")
        self.mode: str | None = opt.falsify or ("report" if opt.falsify_report or opt.falsify_html else None)
        self.dir = _contracts_dir(config)
        try:
            self.options = Options.from_ini(config.getini)
            self.trust = signing.Trust.from_ini(config.getini("falsify_report_key"))
        except ValueError as exc:
            raise pytest.UsageError(f"pytest-falsify: {exc}") from None
        self.gpu_gating = activation.gpu_gating(True, config.getini(activation.GATING_FLAG))
        self.is_worker = hasattr(config, "workerinput")
        self._first_collector = not self.is_worker or config.workerinput.get("workerid") == "gw0"
        self._worker_lost = False
        self.results: dict[str, TestResult] = {}
        self.crashed: list[str] = []
        self.collect_errors = 0
        #: collector node id -> the children it yielded, unfiltered (see pruning.py)
        self.children: dict[str, list[str]] = {}
        self.gpu_not_run: set[str] = set()  # GPU tests that skipped
        self.plan: engine.Plan | None = None
        self.written: list[Path] = []
        self.problems: list[str] = []
        self.diffs: list[str] = []
        self.failed_check = False
        self.html_note = ""
        self.new_failures: set[str] = set()  # node ids of failed reports (any phase)
        self.still_falsified: list[dict] = []
        self.decision: gate.Gate | None = None
        self.cset: ContractSet | None = None
        self.tracer: tracing.TestTracer | None = None
        #: node id -> the code the bound test ran (this process's tracer, or the workers')
        self.fingerprints: dict[str, dict[str, str]] = {}
        self.fault_runner: mutants.FaultRunner | None = None
        self.lint: dict[str, str] = {}  # node id -> vacuity flag
        self.falsifiable: list[falsifiable.FalsifiableState] = []
        self.stale: list[freshness.StaleClaim] = []
        self.errors: list[ContractError] = []  # contract errors found at configure
        self._frozen = False
        self.settings = settings.from_values(config.getini, config.inipath)
        self.index = index.Index(self.settings, _parse_cache_path(config))
        #: the run's Python sources (lint, fingerprints, staleness), parsed once, cached
        self.sources = F.SourceIndex(config.rootpath, F.source_cache(
            _parse_cache_path(config, F.SOURCE_CACHE_FILE)) if self.mode is not None else None)
        if self.mode is not None or self.dir.exists():
            # Contract errors never raise here: they must not stop the tests (a warning
            # block without --falsify; the falsify modes skip or fail on them at the end).
            # Through the parse cache: a warm run parses no file (docs/design.md).
            self.cset = self.index.load(self.dir)
            self.errors = list(self.cset.errors)
            if self.mode not in WRITING + ("check",):  # nothing is rendered: drop the text
                for c in self.cset.contracts:  # and node trees of files parsed just now
                    c.text, c.parsed = "", None
            if len(self.cset.contracts) >= _FREEZE_AT:
                # Thousands of parsed contracts are ~1M long-lived objects; without this,
                # every full GC collection during a 10,000-test run rescans them (the
                # plugin's overhead on the benchmark went from 1.9x to ~1.1x). Undone at
                # unconfigure.
                gc.freeze()
                self._frozen = True
            if config.pluginmanager.hasplugin("pytester"):
                # In-process pytester runs may trace: coverage.py must be imported once,
                # outside them (tracing.preload). A run that traces imports it when its
                # tracer starts; anywhere else the import is 40 ms for nothing.
                tracing.preload()
            self._start_fingerprints()

    def _start_fingerprints(self) -> None:
        choice = (self.config.option.falsify_fingerprint or self.config.getini("falsify_fingerprint")
                  or "auto")
        if choice not in ("auto", "on", "off"):
            raise pytest.UsageError(f"falsify_fingerprint = {choice!r}: use auto, on or off")
        # auto: trace where this run's evidence is kept (written, or a report file to apply
        # later); a report mode without a file keeps nothing, and check never records.
        kept = self.mode in WRITING or (self.mode == "report" and bool(self.config.option.falsify_report))
        if choice == "off" or self.mode is None or (choice == "auto" and not kept):
            return
        why = tracing.availability()
        if why:
            self.problems.append(why)
            return
        self.tracer = tracing.TestTracer(self.config.rootpath, self.sources)
        self.config.pluginmanager.register(self.tracer, "falsify-tracer")

    # --- collection (runs in xdist workers, never in the controller) -------------------

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_make_collect_report(self, collector: pytest.Collector):
        # The innermost wrapper: it sees what the collector yielded before other wrappers
        # filter it (--lf filters a file's children in place, after this copy). An empty
        # result proves nothing (--lf returns one for every file it skips).
        rep = yield
        if (self.mode is not None and rep.passed and rep.result
                and not isinstance(collector, (pytest.Session, pytest.Directory))):
            self.children[collector.nodeid] = [c.nodeid for c in rep.result]
        return rep

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, session, config, items: list[pytest.Item]) -> None:
        if self.mode == "mutants" and self.fault_runner is None:
            self.fault_runner = mutants.FaultRunner(mutants.registry(config))
            config.pluginmanager.register(self.fault_runner, "falsify-faults")
        bad: list[pytest.Item] = []
        for item in items:
            problem, maybe_hidden = self._bind(item)
            if problem and (self.mode is None or maybe_hidden):
                # A bad marker never stops the tests without --falsify, nor when contract
                # errors may hide its id (those fail the falsify modes at the end): the
                # test runs unbound. Every xdist worker collects every test: one warns.
                if self._first_collector:
                    item.warn(pytest.PytestWarning(f"pytest-falsify: {problem}"))
            elif problem:
                bad.append(item)
                config.hook.pytest_collectreport(report=pytest.CollectReport(
                    item.nodeid, "failed", problem, []))
        if self.mode == "mutants":  # only the bound tests run, each under its faults
            unbound = [it for it in items if _INFO not in it.stash and it not in bad]
            if unbound:
                config.hook.pytest_deselected(items=unbound)
                items[:] = [it for it in items if it not in unbound]
        if not bad:
            return
        if config.option.continue_on_collection_errors:
            drop = set(map(id, bad))
            items[:] = [it for it in items if id(it) not in drop]
            return
        # Stop the run here, identically with and without pytest-xdist. With -n 0,
        # pytest's own pytest_runtestloop raises "N errors during collection" because the
        # reports above count in session.testsfailed. Under xdist that check never runs
        # (the worker's runtestloop replaces it, and xdist 3.x keeps running the other
        # tests even after a real collector error, e.g. an ImportError), so: run nothing
        # here and set session.shouldstop, which xdist ships to the controller in
        # workeroutput["shouldstop"]; the controller then raises its Interrupted (exit 2),
        # like -n 0. A pytest.UsageError here would crash the worker instead, and a real
        # collector error alone does not stop xdist.
        items.clear()
        n = len(bad)
        session.shouldstop = f"{n} error{'s' if n != 1 else ''} during collection"

    def _bind(self, item: pytest.Item) -> tuple[str | None, bool]:
        """(problem of the item's falsifier markers or None, whether contract errors may
        be the cause: an id not found while some contract file has errors)."""
        marks = list(item.iter_markers(name="falsifier"))
        is_gpu = item.get_closest_marker("gpu") is not None
        if not marks:
            return None, False
        ids: list[str] = []
        level = None
        for m in marks:
            for a in m.args:
                if not isinstance(a, str):
                    return f"{item.nodeid}: falsifier ids must be strings, got {a!r}", False
                if a not in ids:
                    ids.append(a)
            if "level" in m.kwargs and level is None:
                level = m.kwargs["level"]
        if not ids:
            return f"{item.nodeid}: @pytest.mark.falsifier needs at least one id", False
        level = level or ("live" if is_gpu else "algorithm")
        if level not in LEVELS:
            return f"{item.nodeid}: level={level!r}; use 'algorithm' or 'live'", False
        if self.cset is not None:
            qids = []
            for fid in ids:
                qid, why = self.cset.resolve(fid)
                if qid is None:
                    unknown = fid not in self.cset.qids_of
                    hint = self._unread_hint() if unknown else ""
                    return f"{item.nodeid}: {why} (contracts: {self.dir}){hint}", bool(hint)
                if qid not in qids:
                    qids.append(qid)
            ids = qids
        info: BindingRun = {"ids": ids, "level": level, "gpu": is_gpu}
        if self.mode is not None:
            flag = vacuity.lint(getattr(item, "obj", None), self.sources)
            if flag:
                info["lint"] = flag
        if self.fault_runner is not None:
            faults, problem = self._faults_of(ids)
            if problem:
                return f"{item.nodeid}: {problem}", False
            self.fault_runner.assign(item, faults)
        item.stash[_INFO] = info
        if self.tracer is not None:
            self.tracer.mark(item)
        return None, False

    def _unread_hint(self) -> str:
        broken = sorted({e.path for e in self.errors})
        if not broken:
            return ""
        names = ", ".join(summary.rel(p) for p in broken[:3]) + (", ..." if len(broken) > 3 else "")
        return f"; {len(broken)} contract file(s) have errors and may hide it: {names}"

    def _faults_of(self, ids: list[str]) -> tuple[list[str], str | None]:
        """The declared faults of a test's falsifiers, or why they cannot be run."""
        assert self.fault_runner is not None
        faults: list[str] = []
        for fid in ids:
            entry = self._entry(fid)
            names, err = falsifiable.declared_faults(entry.data if entry is not None else {})
            if err:
                return [], f"{fid}: {err}"
            unknown = [n for n in names if n not in self.fault_runner.factories]
            if unknown:
                known = ", ".join(sorted(self.fault_runner.factories)) or "none"
                return [], (f"{fid}: unknown fault(s) {', '.join(unknown)} (the "
                            f"pytest_falsify_faults hook provides: {known})")
            faults.extend(n for n in names if n not in faults)
        return faults, None

    def gate(self, items: list[pytest.Item]) -> None:
        """Skip gpu/ignored tests unless --run-ignored; no CUDA device skips (or errors)."""
        if not self.gpu_gating:
            return
        opt = self.config.option
        for item in items:
            is_gpu = item.get_closest_marker("gpu") is not None
            if not is_gpu and item.get_closest_marker("ignored") is None:
                continue
            if not opt.run_ignored:
                what = "GPU test" if is_gpu else "ignored test"
                item.add_marker(pytest.mark.skip(reason=f"{what}: pass --run-ignored to run it"))
                continue
            if is_gpu:
                needed = _gpu_count(item)
                ok, info = gpu.probe()
                if not ok:
                    if opt.require_gpu:
                        raise pytest.UsageError(f"--require-gpu: {info}")
                    item.add_marker(pytest.mark.skip(reason=str(info)))
                    continue
                reason = gpu_pinning.count_skip_reason(needed, info.get("count", 1))
                if reason:  # a skip: never evidence, so no status changes on a small host
                    item.add_marker(pytest.mark.skip(reason=reason))

    # --- running ------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call):
        rep = yield
        junit.attach(item, rep)
        if rep.skipped and item.get_closest_marker("gpu") is not None:
            rep.falsify_gpu_skip = True  # counted by the controller, bound or not
        props = getattr(rep, "user_properties", None)
        if props:
            rep.user_properties = [(k, evidence.plain(v)) for k, v in props]
        info = item.stash.get(_INFO, None)
        # Without a mode no one reads it; and only reports that can change the result
        if info is not None and self.mode is not None and _tells(item, rep):
            data: BindingRun = dict(info)
            if call.excinfo is not None and isinstance(call.excinfo.value, Blocked):
                data["blocked"] = str(call.excinfo.value.msg or "")
            if info["gpu"]:
                ok, dev = gpu.probe() if self.config.option.run_ignored else (False, None)
                if ok:
                    data["device"] = {k: v for k, v in dev.items() if k != "count"}
            if rep.when == "teardown":
                tried = item.stash.get(mutants.RESULTS, None)
                if tried is not None:
                    data["mutants"] = tried
            if self._still_falsified(item.nodeid, info["ids"], rep):
                data["still_falsified"] = True
                # pytest's own way to say "expected failure": the run stays green and the
                # terminal shows it as x/XFAIL with this reason; our result stays FAILED.
                rep.outcome = "skipped"
                rep.wasxfail = (f"still falsified: {', '.join(info['ids'])} (the committed "
                                "FALSIFIED verdict; this failure reproduces it)")
            rep.falsify = data
        return rep

    def _entry(self, fid: str):
        if self.cset is None:
            return None
        return self.cset.by_qid.get(fid)  # marker ids are qualified at collection

    def _still_falsified(self, nodeid: str, ids: list[str], rep) -> bool:
        if self.mode is None or rep.when != "call" or not rep.failed or hasattr(rep, "wasxfail"):
            return False
        entries = [self._entry(fid) for fid in ids]
        return None not in entries and gate.known_for_all(
            ((e.status, e.stored_tests) for e in entries), nodeid)

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            self.collect_errors += 1

    def pytest_runtest_logreport(self, report) -> None:
        if not self.is_worker:
            junit.publish(self.config, report)
        if report.failed:
            self.new_failures.add(report.nodeid)
        if outcome.is_worker_crash(report):  # xdist: "worker 'gw0' crashed while running ..."
            self.crashed.append(report.nodeid)
            return
        if getattr(report, "falsify_gpu_skip", False):
            # Every skipped GPU test, bound or not, so the count agrees with pytest's skips.
            self.gpu_not_run.add(report.nodeid)
        info = getattr(report, "falsify", None)
        if info is None or self.mode is None:
            return
        if info.get("still_falsified"):
            self.still_falsified.extend({"id": fid, "test": report.nodeid} for fid in info["ids"])
        r = self.results.get(report.nodeid) or outcome.start(report.nodeid, info)
        r = self.results[report.nodeid] = outcome.classify(r, report, info)
        if info.get("mutants") is not None:
            r["falsifiable"] = falsifiable.record(info["mutants"], r["outcome"] == V.PASSED)
        if info.get("lint"):
            self.lint[report.nodeid] = info["lint"]

    # --- xdist ----------------------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)  # an xdist hook: the plugin must load without xdist
    def pytest_testnodedown(self, node, error) -> None:
        out = getattr(node, "workeroutput", None) or {}
        children = out.get("falsify_children")
        if children is None:
            self._worker_lost = True
            return
        self.children.update(children)
        self.fingerprints.update(out.get("falsify_fingerprints") or {})

    # --- the end ----------------------------------------------------------------------------

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus) -> None:
        # The end of a run allocates per claim (results, the plan, states) while the run's
        # own objects (items, reports) are alive: with the cyclic GC on, that triggers full
        # collections rescanning all of them (~0.2 s on 8,930 tests). The data is acyclic.
        with bulk():
            self._finish(session, exitstatus)

    def _finish(self, session: pytest.Session, exitstatus) -> None:
        if self.tracer is not None:  # computed once, for every test: see tracing.py
            self.fingerprints.update(self.tracer.fingerprints())
        if self.is_worker:
            self.config.workeroutput["falsify_children"] = self.children
            self.config.workeroutput["falsify_fingerprints"] = self.fingerprints
            return
        if self.mode is None:
            return
        for nodeid, fp in self.fingerprints.items():
            if nodeid in self.results:
                self.results[nodeid]["fingerprint"] = fp
        prov = evidence.provenance(str(self.config.rootpath), self.config.invocation_params.args)
        if exitstatus not in _WRITE_EXIT or self.collect_errors:
            self.problems.append("run interrupted or collection errors: nothing written")
            self.plan = None
            # No contract is touched, but CI still gets a report of what happened:
            # every status as it is on disk (old == new) and the results seen so far.
            self._dump_report(session, prov, engine.unchanged_plan(self.cset), interrupted=True)
            return
        root = self.config.rootpath
        tree = F.tree_state(root)
        stamp = {"date": evidence.today().isoformat(), "host": prov["host"]}
        if prov.get("git_commit"):
            # Never HEAD for a tree with uncommitted changes: `git describe --dirty` style.
            stamp["commit"] = prov["git_commit"][:12] + ("-dirty" if tree.tracked_dirty else "")
        for r in self.results.values():
            r.update(stamp)
            if tree.dirty and set(r.get("fingerprint") or ()) & tree.dirty:
                r["dirty"] = True
        index = self.sources
        prune = self._pruner()
        today = evidence.today()
        drift: list[str] = []
        if self.mode in WRITING:
            try:
                self.plan, self.written, problems = engine.write(
                    self.dir, lambda: self.index.load(self.dir, previous=self.cset),
                    self.results, prune, today, self.options, index,
                    written_hook=self.index.written, spares=self.index.spare_dir)
            except KeyboardInterrupt:  # one line, no traceback; write_set left no temp file
                self.problems.append("interrupted (Ctrl-C) while writing contracts: "
                                     "no contract was changed")
                self.plan = None
                session.exitstatus = pytest.ExitCode.INTERRUPTED
                self._dump_report(session, prov, engine.unchanged_plan(self.cset), interrupted=True)
                return
            self.problems.extend(problems)
            if (problems or self.errors) and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a file was not written
        else:
            assert self.cset is not None
            self.plan = engine.make_plan(self.cset, self.results, prune, index)
            if self.mode == "check":
                rendered, problems = engine.render(self.cset, self.plan, today, self.options)
                self.problems.extend(problems)
                self.diffs = [r.diff() for r in rendered]
                drift = [str(r.path) for r in rendered] + problems + [
                    f"{e.path}:{e.line}: {e.message}" for e in self.errors]  # errors fail the gate
        if self.cset is not None:
            self.stale = freshness.stale_claims(
                freshness.entries_of(self.cset), freshness.refreshed_tests(self.results), index,
                str(self.config.getini("falsify_dirty_is_stale")).strip().lower()
                not in ("false", "0", "no", "off"))
            self.falsifiable = falsifiable.states(freshness.entries_of(self.cset, data=True),
                                                  self.plan.statuses, self.results)
        unproven = [f"{e.qid}: claims evidence, no test binds it" for e in self.plan.unbound_claims]
        unproven += falsifiable.strict_findings(self.falsifiable, self.plan.statuses,
                                                self.config.getini("falsify_require_faults") is True)
        unproven += [str(h) for h in self.plan.hand_claims]
        unproven += [f"{t}: {flag}" for t, flag in sorted(self.lint.items())]
        self.decision = gate.build(
            int(session.exitstatus), new_failures=self.new_failures,
            still_falsified=self.still_falsified, drift=drift,
            stale=[s["id"] for s in self.stale],
            unproven=unproven,
            strict=self.config.option.falsify_strict)
        if self.mode == "check":
            self.failed_check = self.decision["exit"] != gate.OK
            session.exitstatus = self.decision["exit"]
        elif self.config.option.falsify_strict and self.plan.hand_claims and not session.exitstatus:
            # Hand claims the evidence does not support are errors in every mode.
            session.exitstatus = gate.UNPROVEN
        self._dump_report(session, prov, self.plan, interrupted=False)
        self._dump_html(prov)

    def _dump_html(self, prov: dict) -> None:
        """The dashboard of the contracts as they are on disk after this run."""
        out = self.config.option.falsify_html
        if not out:
            return
        from .dashboard import DashboardError, build_site  # noqa: PLC0415 - optional extra

        try:
            pages, note = build_site(load_dir(self.dir, settings=self.settings), self.dir, Path(out),
                                     root=self.config.rootpath,
                                     commit=(prov.get("git_commit") or "")[:12])
        except (DashboardError, OSError) as exc:
            self.problems.append(f"--falsify-html {out}: {exc}")
            return
        self.html_note = f"dashboard: {len(pages)} page(s) in {out}/" + (f" ({note})" if note else "")

    def _dump_report(self, session: pytest.Session, prov: dict, plan: engine.Plan | None,
                     interrupted: bool) -> None:
        if self.config.option.falsify_report:
            problems = self.problems + [f"{e.path}:{e.line}: {e.message} (fix: {e.fix})"
                                        for e in self.errors]
            rep = report.build(prov, self.mode, session.exitstatus, plan, self.results,
                               self.written, problems, self.crashed, interrupted,
                               gate=self.decision, stale=self.stale,
                               falsifiable=self.falsifiable, lint=self.lint)
            try:  # the CUDA host signs when it holds a key; `falsify apply` checks
                rep = self.trust.sign(rep)
            except signing.KeyProblem as exc:
                self.problems.append(f"report not signed: {exc}")
            report.dump(rep, Path(self.config.option.falsify_report))

    def _pruner(self):
        root = self.config.rootpath
        # A lost worker sent no collection: prune only what is gone from disk.
        # Sets: one membership test per stored record, not a scan of the file's tests.
        children = {} if self._worker_lost else {k: set(v) for k, v in self.children.items()}
        # os.path.exists: a name the OS refuses (too long) cannot exist, and must not crash.
        # Once per file: thousands of stored records name the same few files.
        exists = functools.lru_cache(maxsize=None)(lambda f: os.path.exists(root / f))
        return lambda test: pruning.is_gone(test, children, exists)

    def pytest_unconfigure(self, config) -> None:
        if self.mode is not None:  # what the run parsed of its Python sources, for the next
            self.sources.save()
        # Drop the parsed contracts first: they hold no cycles, so refcounting frees them
        # at once, and pytest's final gc.collect() calls do not rescan them.
        self.cset = self.plan = None
        if self._frozen:
            gc.unfreeze()
            self._frozen = False

    # A wrapper, and the outermost one: pytest's terminal reporter writes the short test
    # summary (`-ra`: one line per skip, often hundreds) after the plain implementations,
    # so a plain one would be buried under it. Ours comes after it, last before the
    # final "N passed" line.
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter, exitstatus, config):
        yield
        if self.is_worker:
            return
        if self.mode is None:
            self._error_block(terminalreporter)
            return
        with bulk():  # as in pytest_sessionfinish
            self._summary(terminalreporter, config)

    def _error_block(self, tr) -> None:
        """Contract errors without --falsify: once, in the controller; the tests ran."""
        if self.errors:
            tr.write_sep("=", f"pytest-falsify: {len(self.errors)} contract error(s) in "
                              f"{summary.rel(self.dir)} (tests ran; --falsify modes skip "
                              "or fail on them)", yellow=True)
            for line in summary.error_block(self.errors):
                tr.write_line(line, yellow=True)

    def _summary(self, tr, config) -> None:
        tr.write_sep("=", f"falsify ({self.mode})")
        if self.errors:
            what = {"write": "files with errors are not rewritten; exit status 1",
                    "check": "they fail the check"}.get(self.mode, "reported only")
            tr.write_line(f"{len(self.errors)} contract error(s) ({what}):", red=self.mode != "report")
            for line in summary.error_block(self.errors):
                tr.write_line(line)
        if self.plan is None:
            for p in self.problems:
                tr.write_line(p, yellow=True)
            return
        inert = [r for r in self.results.values() if r["outcome"] in (V.ERROR, V.XFAIL, V.XPASS)]
        entries = [e for c in self.cset.contracts for e in c.entries] if self.cset else []
        mode = "write" if self.mode in WRITING else self.mode
        limit = None if config.option.verbose > 0 else summary.FOLD_AT
        for line in summary.fold(summary.lines(self.plan, mode, self.written, self.problems,
                                  self.crashed, len(self.gpu_not_run), inert,
                                  entries=entries, results=self.results,
                                  strict=config.option.falsify_strict,
                                  stale=[s["id"] for s in self.stale],
                                  vacuous=[f["id"] for f in self.falsifiable
                                           if f["state"] == falsifiable.VACUOUS],
                                  long_lists=None if limit is None else summary.LONG_LISTS), limit):
            tr.write_line(line, red=line.startswith("FALSIFIED"))
        for line in summary.fold(summary.falsifiable_lines(
                self.falsifiable, self.lint, self.mode == "mutants"), limit):
            tr.write_line(line, yellow=line.startswith(("VACUOUS", "vacuity")))
        for line in summary.fold(summary.stale_lines(self.stale), limit):
            tr.write_line(line, yellow=True)
        if self.html_note:
            tr.write_line(self.html_note)
        if self.mode == "check":
            for d in self.diffs:
                tr.write(d)
            for e in self.plan.unbound_claims:
                level = "error" if config.option.falsify_strict else "warning"
                tr.write_line(f"{level}: {e.qid}: claims evidence, no test binds it", yellow=True)
            if findings.in_github_actions():
                for line in findings.github_annotations(findings.from_plan(
                        self.plan, self.cset, strict=config.option.falsify_strict), base=config.rootpath):
                    tr.write_line(line)
        if self.decision is not None:
            for line in summary.gate_lines(self.decision):
                tr.write_line(line)
        if self.mode == "check" and self.decision is not None:
            d = self.decision
            if self.failed_check:
                tr.write_line(f"falsify check FAILED (exit {d['exit']}): {d['verdict']}"
                              + (" (run pytest --falsify to update them)" if d["drift"] else ""),
                              red=True, bold=True)
            else:
                tr.write_line("falsify check passed: contracts agree with the tests", green=True)


def _gpu_count(item: pytest.Item) -> int:
    """How many GPUs a `gpu` test needs: `@pytest.mark.gpu(count=2)`; 1 by default."""
    count = item.get_closest_marker("gpu").kwargs.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.gpu(count={count!r}): "
                                "count must be a positive whole number")
    return count


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items) -> None:
    # After -m/-k deselection, so a deselected GPU test never trips --require-gpu.
    plugin = config.pluginmanager.get_plugin("falsify-session")
    if plugin is not None:
        plugin.gate(items)
