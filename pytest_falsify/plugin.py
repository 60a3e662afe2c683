"""pytest hooks of pytest-falsify (thin: the work lives in the other modules).

Two sessions, one per kind of run, so a run pays only for what it needs
(docs/design.md, "What a run pays for"):

- `FalsifySession` (this module), in a project that uses the plugin but runs without a
  falsify mode: it binds the markers against the id index (index.py: ids and errors, no
  entries), gates GPU tests and shows contract errors, and registers no per-report hook.
- `recording.RecordingSession`, with `--falsify[=MODE]` (or a report or HTML file): the
  same, plus everything a mode needs: results from every report, fingerprints, faults,
  and at the end the plan, the rewrite or the check, the summary and the report.

Results travel on the test reports (`report.falsify`, builtin types only), so under
pytest-xdist the controller sees everything and is the only process that writes.

PYTEST_DONT_REWRITE: this module asserts nothing a user needs explained, and opting out
of assertion rewriting keeps `-p pytest_falsify.plugin` quiet where the module is already
imported unrewritten (an editable install loaded through its entry point lists no module
files for pytest to mark, so a later `-p` warned "Module already imported so cannot be
rewritten", one extra warning in every in-process pytester run).
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from . import (
    activation,
    evidence,
    fixtures,
    gpu,
    gpu_pinning,
    index,
    junit,
    parse_cache,
    rootdir,
    settings,
    summary,
)
from .contracts import LEVELS, ContractError, ContractSet, IdSet, bulk
from .records import BindingRun

MODES = ("write", "check", "report", "mutants")
#: Modes that rewrite contracts (mutants mode is write mode plus the faulted reruns).
WRITING = ("write", "mutants")
_FREEZE_AT = 200  # contracts
_INFO = pytest.StashKey[BindingRun]()


#: our options that take a value; as a separate argument pytest misreads it (rootdir.py)
_VALUE_OPTIONS = ("--contracts", "--falsify-report", "--falsify-gpus", "--falsify-html")
#: Our ini options and command-line options (dest names): setting any of them, or having a
#: contracts directory, is what makes a project use the plugin (activation.py).
INI_OPTIONS = (settings.CONTRACTS, settings.EXCLUDE, settings.STATUS_MAP, "falsify_verdict_map",
               "falsify_report_key", "falsify_gpus", activation.GATING_FLAG,
               "falsify_fingerprint", "falsify_require_faults", "falsify_dirty_is_stale")
CLI_OPTIONS = ("falsify", "contracts", "falsify_report", "falsify_html", "falsify_strict",
               "run_ignored", "require_gpu", "falsify_gpus", "falsify_fingerprint")


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


def run_mode(config: pytest.Config) -> str | None:
    """The run's falsify mode, None without one; a mode that is none of ours is an error."""
    opt = config.option
    if opt.falsify is not None and opt.falsify not in MODES:
        raise pytest.UsageError(f"--falsify={opt.falsify}: use one of {', '.join(MODES)}")
    return opt.falsify or ("report" if opt.falsify_report or opt.falsify_html else None)


def pytest_configure(config: pytest.Config) -> None:
    if not activation.in_use(_contracts_dir(config).exists(),
                             (config.getini(n) for n in INI_OPTIONS),
                             (getattr(config.option, n, None) for n in CLI_OPTIONS)):
        return  # inert: the run is exactly as with -p no:falsify
    if run_mode(config) is None:
        session = FalsifySession(config)
        if session.is_worker or junit.suite_level(config):
            config.pluginmanager.register(MetricsCarrier(config, session.is_worker),
                                          "falsify-metrics")
    else:
        from .recording import RecordingSession  # noqa: PLC0415 - only runs with a mode load it

        session = RecordingSession(config)
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
    """A run without a falsify mode: markers bound against the id index, GPU gating, and
    contract errors shown once. recording.RecordingSession extends it for the modes."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.mode: str | None = run_mode(config)
        self.dir = _contracts_dir(config)
        self.gpu_gating = activation.gpu_gating(True, config.getini(activation.GATING_FLAG))
        self.is_worker = hasattr(config, "workerinput")
        self._first_collector = not self.is_worker or config.workerinput.get("workerid") == "gw0"
        self.cset: ContractSet | None = None
        #: what markers are bound against: the id index, or the full set in the modes
        self.known: IdSet | ContractSet | None = None
        self.errors: list[ContractError] = []  # contract errors found at configure
        self.fault_runner = None  # mutants mode's (recording.py)
        self._frozen = False
        self.settings = settings.from_values(config.getini, config.inipath)
        self.index = index.Index(self.settings, _parse_cache_path(config))
        if config.pluginmanager.hasplugin("pytester"):
            # In-process pytester runs may trace: coverage.py must be imported once,
            # outside them (tracing.preload). A run that traces imports it when its
            # tracer starts; anywhere else the import is 40 ms for nothing.
            from .tracing import preload  # noqa: PLC0415 - pytester's runs only

            preload()
        if self.mode is None and self.dir.exists():
            # Contract errors never raise here: they must not stop the tests (a warning
            # block). Only ids are needed: the id index, without a parse when warm.
            with bulk():  # the id index's JSON: temporaries that must not set off collections
                self.known = self.index.load_ids(self.dir)
            self.errors = list(self.known.errors)

    def _load_contracts(self) -> None:
        """The full contract set (the modes), through the parse cache: a warm run parses no
        file (docs/design.md)."""
        self.cset = self.known = self.index.load(self.dir)
        self.errors = list(self.cset.errors)
        if len(self.cset.contracts) >= _FREEZE_AT:
            # Thousands of parsed contracts are ~1M long-lived objects; without this,
            # every full GC collection during a 10,000-test run rescans them (the
            # plugin's overhead on the benchmark went from 1.9x to ~1.1x). Undone at
            # unconfigure.
            gc.freeze()
            self._frozen = True

    # --- collection (runs in xdist workers, never in the controller) -------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, session, config, items: list[pytest.Item]) -> None:
        bad: list[pytest.Item] = []
        inherited: dict = {}  # parent node -> its chain's marks (see _marks)
        with bulk():  # a binding per test, while every collected item is alive (see bulk)
            bound = [(item, *self._bind(item, inherited)) for item in items]
        for item, problem, maybe_hidden in bound:
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

    def _bind(self, item: pytest.Item, inherited: dict | None = None) -> tuple[str | None, bool]:
        """(problem of the item's falsifier markers or None, whether contract errors may
        be the cause: an id not found while some contract file has errors). `inherited`:
        the memo of `_marks`, shared by the items of one pass."""
        marks = []
        is_gpu = False
        for m in _marks(item, {} if inherited is None else inherited):
            if m.name == "falsifier":
                marks.append(m)
            elif m.name == "gpu":
                is_gpu = True
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
        if self.known is not None:
            qids = []
            for fid in ids:
                qid, why = self.known.resolve(fid)
                if qid is None:
                    unknown = fid not in self.known.qids_of
                    hint = self._unread_hint() if unknown else ""
                    return f"{item.nodeid}: {why} (contracts: {self.dir}){hint}", bool(hint)
                if qid not in qids:
                    qids.append(qid)
            ids = qids
        return self._bound(item, {"ids": tuple(ids), "level": level, "gpu": is_gpu}), False

    def _bound(self, item: pytest.Item, info: BindingRun) -> str | None:
        """A test's markers name known falsifiers: what a run without a mode does with
        them (nothing: no report reads them); a problem, or None."""
        return None

    def _unread_hint(self) -> str:
        broken = sorted({e.path for e in self.errors})
        if not broken:
            return ""
        names = ", ".join(summary.rel(p) for p in broken[:3]) + (", ..." if len(broken) > 3 else "")
        return f"; {len(broken)} contract file(s) have errors and may hide it: {names}"

    def gate(self, items: list[pytest.Item]) -> None:
        """Skip gpu/ignored tests unless --run-ignored; no CUDA device skips (or errors)."""
        if not self.gpu_gating:
            return
        opt = self.config.option
        inherited: dict = {}
        for item in items:
            names = {m.name for m in _marks(item, inherited)}
            is_gpu = "gpu" in names
            if not is_gpu and "ignored" not in names:
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

    def pytest_unconfigure(self, config) -> None:
        # Drop the contracts first: they hold no cycles, so refcounting frees them at once,
        # and pytest's final gc.collect() calls do not rescan them.
        self.cset = self.known = self.index = None
        if self._frozen:
            gc.unfreeze()
            self._frozen = False

    # A wrapper, and the outermost one: pytest's terminal reporter writes the short test
    # summary (`-ra`: one line per skip, often hundreds) after the plain implementations,
    # so a plain one would be buried under it. Ours comes after it, last before the
    # final "N passed" line. (recording.RecordingSession's summary replaces it.)
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter, exitstatus, config):
        yield
        if not self.is_worker:
            self._error_block(terminalreporter)

    def _error_block(self, tr) -> None:
        """Contract errors without --falsify: once, in the controller; the tests ran."""
        if self.errors:
            tr.write_sep("=", f"pytest-falsify: {len(self.errors)} contract error(s) in "
                              f"{summary.rel(self.dir)} (tests ran; --falsify modes skip "
                              "or fail on them)", yellow=True)
            for line in summary.error_block(self.errors):
                tr.write_line(line, yellow=True)


def _marks(item: pytest.Item, inherited: dict) -> list:
    """`item.iter_markers()` as a list (closest first), its parent's chain read once per
    parent in `inherited`, a memo that lives for one pass over the items (a mark added
    between passes is seen by the next). Two generators per item over five nodes were
    ~2 us, for each of thousands of items, in both binding and gating."""
    parent = item.parent
    if parent is None:
        return list(item.own_markers)
    if parent not in inherited:
        inherited[parent] = list(parent.iter_markers())
    own = item.own_markers
    return own + inherited[parent] if own else inherited[parent]


def carry_metrics(item: pytest.Item, rep) -> None:
    """What every report of the plugin's projects gets: suite-level metrics for
    --junitxml (junit.py), and user properties as builtins, so they cross xdist."""
    junit.attach(item, rep)
    props = getattr(rep, "user_properties", None)
    if props:
        rep.user_properties = [(k, evidence.plain(v)) for k, v in props]


class MetricsCarrier:
    """Without a falsify mode, the only per-report work, and registered only where it has
    any: in an xdist worker (user properties must cross to the controller) and where
    --junitxml writes xunit2 (suite-level metrics)."""

    def __init__(self, config: pytest.Config, is_worker: bool) -> None:
        self.config = config
        self.is_worker = is_worker

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call):
        rep = yield
        carry_metrics(item, rep)
        return rep

    def pytest_runtest_logreport(self, report) -> None:
        if not self.is_worker:
            junit.publish(self.config, report)


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
