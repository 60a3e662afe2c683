"""The falsify modes' session: results from every report, and what the end of a run does
with them (plan, rewrite or check, summary, report). Loaded only by runs with a mode
(plugin.py), so a run without one imports none of it.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from . import (
    engine,
    evidence,
    falsifiable,
    findings,
    freshness,
    gate,
    gpu,
    junit,
    mutants,
    outcome,
    pruning,
    report,
    signing,
    summary,
    tracing,
    vacuity,
)
from . import fingerprint as F
from . import verdict as V
from .blocking import Blocked
from .contracts import bulk, load_dir
from .plugin import _INFO, WRITING, FalsifySession, _parse_cache_path, carry_metrics
from .records import BindingRun, TestResult
from .rewrite import Options

_WRITE_EXIT = (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED)
_PROPS_AT_CALL = pytest.StashKey[int]()
_BLOCKED = pytest.StashKey[str]()  # the message of the Blocked a phase raised


def _tells(item: pytest.Item, rep) -> bool:
    """Whether a phase report of a bound test can change its result: the call, a setup or
    teardown that did not pass, and a teardown that carries mutants results or metrics
    recorded after the call. A passing setup or teardown adds nothing, and skipping it
    saves two thirds of the per-report work (and the dicts every report would keep)."""
    if rep.when == "call":
        if item.user_properties:  # none at the call: any at the teardown came after it
            item.stash[_PROPS_AT_CALL] = len(item.user_properties)
        return True
    if not rep.passed:
        return True
    stash = item.stash
    return rep.when == "teardown" and (
        mutants.RESULTS in stash or len(item.user_properties) > (
            stash[_PROPS_AT_CALL] if _PROPS_AT_CALL in stash else 0))


def _result(nodeid: str, entry: TestResult | BindingRun) -> TestResult:
    """What an entry of `RecordingSession.results` stands for: a result is itself, a
    binding (no outcome key: a test whose call passed plainly) is `outcome.passed` of it."""
    return entry if "outcome" in entry else outcome.passed(nodeid, entry)


class RecordingSession(FalsifySession):
    """A run with `--falsify[=MODE]`: the plugin's whole work (docs/design.md)."""

    def __init__(self, config: pytest.Config) -> None:
        super().__init__(config)
        try:
            self.options = Options.from_ini(config.getini)
            self.trust = signing.Trust.from_ini(config.getini("falsify_report_key"))
        except ValueError as exc:
            raise pytest.UsageError(f"pytest-falsify: {exc}") from None
        self._worker_lost = False
        #: node id -> item, of the tests this process collected (the controller under
        #: xdist collects none: its reports come annotated by the workers)
        self._items: dict[str, pytest.Item] = {}
        #: node id -> result of each bound test this run reported, or the binding of one
        #: whose result is `outcome.passed` of it (see pytest_runtest_logreport), until
        #: `_settle` builds them at the end of the run
        self.results: dict[str, TestResult | BindingRun] = {}
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
        self.tracer: tracing.TestTracer | None = None
        #: node id -> the code the bound test ran (this process's tracer, or the workers')
        self.fingerprints: dict[str, dict[str, str]] = {}
        self.lint: dict[str, str] = {}  # node id -> vacuity flag
        self.falsifiable: list[falsifiable.FalsifiableState] = []
        self.stale: list[freshness.StaleClaim] = []
        # Contract errors never raise here: the falsify modes skip or fail on them at the end.
        with bulk():  # two caches read: ~100k objects, while pytest's are all alive
            #: the run's Python sources (lint, fingerprints, staleness), parsed once, cached
            self.sources = F.SourceIndex(config.rootpath, F.source_cache(
                _parse_cache_path(config, F.SOURCE_CACHE_FILE)))
            self._load_contracts()
        if self.mode not in WRITING + ("check",):  # nothing is rendered: drop the text
            for c in self.cset.contracts:  # and node trees of files parsed just now
                c.text, c.parsed = "", None
        self._start_fingerprints()

    def _start_fingerprints(self) -> None:
        choice = (self.config.option.falsify_fingerprint or self.config.getini("falsify_fingerprint")
                  or "auto")
        if choice not in ("auto", "on", "off"):
            raise pytest.UsageError(f"falsify_fingerprint = {choice!r}: use auto, on or off")
        # auto: trace where this run's evidence is kept (written, or a report file to apply
        # later); a report mode without a file keeps nothing, and check never records.
        kept = self.mode in WRITING or (self.mode == "report" and bool(self.config.option.falsify_report))
        if choice == "off" or (choice == "auto" and not kept):
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
        if (rep.passed and rep.result
                and not isinstance(collector, (pytest.Session, pytest.Directory))):
            self.children[collector.nodeid] = [c.nodeid for c in rep.result]
        return rep

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, session, config, items: list[pytest.Item]) -> None:
        if self.mode == "mutants" and self.fault_runner is None:
            self.fault_runner = mutants.FaultRunner(mutants.registry(config))
            config.pluginmanager.register(self.fault_runner, "falsify-faults")
        super().pytest_collection_modifyitems(session, config, items)
        self._items = {it.nodeid: it for it in items}
        if self.mode == "mutants":  # only the bound tests run, each under its faults
            unbound = [it for it in items if _INFO not in it.stash]
            if unbound:
                config.hook.pytest_deselected(items=unbound)
                items[:] = [it for it in items if _INFO in it.stash]

    def _bound(self, item: pytest.Item, info: BindingRun) -> str | None:
        flag = vacuity.lint(getattr(item, "obj", None), self.sources)
        if flag:
            info["lint"] = flag
        if self.fault_runner is not None:
            faults, problem = self._faults_of(info["ids"])
            if problem:
                return f"{item.nodeid}: {problem}"
            self.fault_runner.assign(item, faults)
        item.stash[_INFO] = info
        if self.tracer is not None:
            self.tracer.mark(item)
        return None

    def _faults_of(self, ids: tuple[str, ...]) -> tuple[list[str], str | None]:
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

    # --- running ------------------------------------------------------------------------
    #
    # Two plain hooks per report, no wrapper: a wrapper around pytest_runtest_makereport
    # cost ~1.3 us of pluggy's per call, three times per test. The report is annotated in
    # pytest_runtest_logreport, tryfirst: before the terminal, junitxml, -x and xdist's
    # sender see it, in the process that ran the test (the only one with the item).

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call) -> None:
        # Only what the report cannot tell: that the skip was blocked() (a Blocked).
        if (call.excinfo is not None and isinstance(call.excinfo.value, Blocked)
                and mutants.ACTIVE not in item.stash):  # a faulted rerun logs nothing
            item.stash[_BLOCKED] = str(call.excinfo.value.msg or "")
        return None  # pytest's own implementation makes the report

    def _annotate(self, item: pytest.Item, rep, nodeid: str) -> None:
        """What the report of a test this process ran must carry (builtins only, so it
        crosses xdist): metrics, the GPU skip flag, and the binding when it can change
        the result."""
        carry_metrics(item, rep)
        when, result = rep.when, rep.outcome
        if when == "setup" and result == "passed":  # a third of all reports
            return  # changes no result, and its metrics reach the XML with the teardown
        if result == "skipped" and item.get_closest_marker("gpu") is not None:
            rep.falsify_gpu_skip = True  # counted by the controller, bound or not
        stash = item.stash  # `in` before reading: a missing key costs Stash.get a KeyError
        if _INFO not in stash or not _tells(item, rep):
            return  # unbound, or nothing this report adds to the result
        # The binding itself unless this report adds to it: one shared dict, not one per
        # report (thousands of reports stay alive until the process exits).
        data: BindingRun = stash[_INFO]
        info = data
        if result == "skipped" and _BLOCKED in stash:
            data = {**data, "blocked": stash[_BLOCKED]}
            del stash[_BLOCKED]
        if info["gpu"]:
            ok, dev = gpu.probe() if self.config.option.run_ignored else (False, None)
            if ok:
                data = {**data, "device": {k: v for k, v in dev.items() if k != "count"}}
        if when == "teardown" and mutants.RESULTS in stash:
            data = {**data, "mutants": stash[mutants.RESULTS]}
        if result == "failed" and self._still_falsified(nodeid, info["ids"], rep):
            data = {**data, "still_falsified": True}
            # pytest's own way to say "expected failure": the run stays green and the
            # terminal shows it as x/XFAIL with this reason; our result stays FAILED.
            rep.outcome = "skipped"
            rep.wasxfail = (f"still falsified: {', '.join(info['ids'])} (the committed "
                            "FALSIFIED verdict; this failure reproduces it)")
        rep.falsify = data

    def _entry(self, fid: str):
        if self.cset is None:
            return None
        return self.cset.by_qid.get(fid)  # marker ids are qualified at collection

    def _still_falsified(self, nodeid: str, ids: tuple[str, ...], rep) -> bool:
        if rep.when != "call" or not rep.failed or hasattr(rep, "wasxfail"):
            return False
        entries = [self._entry(fid) for fid in ids]
        return None not in entries and gate.known_for_all(
            ((e.status, e.stored_tests) for e in entries), nodeid)

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            self.collect_errors += 1

    @pytest.hookimpl(tryfirst=True)  # see "running" above
    def pytest_runtest_logreport(self, report) -> None:
        when, passed = report.when, report.outcome == "passed"
        if passed and when == "setup" and not report.user_properties:
            return  # two in three reports pass outside the call: the cheapest way out
        nodeid = report.nodeid  # a property: read once
        item = self._items.get(nodeid)
        if (passed and when == "teardown" and not report.user_properties and item is not None
                and not junit.has_metrics(item) and mutants.RESULTS not in item.stash):
            return  # ran here, and nothing to carry or record (see _tells)
        if item is not None:  # this process ran it (under xdist, a worker)
            self._annotate(item, report, nodeid)
        if self.is_worker:
            return
        info = getattr(report, "falsify", None)
        if info is None and report.outcome == "passed":  # two thirds of all reports
            if report.when == "teardown":
                junit.publish(self.config, report)
            return
        junit.publish(self.config, report)
        if report.failed:
            self.new_failures.add(nodeid)
        if outcome.is_worker_crash(report):  # xdist: "worker 'gw0' crashed while running ..."
            self.crashed.append(nodeid)
            return
        if getattr(report, "falsify_gpu_skip", False):
            # Every skipped GPU test, bound or not, so the count agrees with pytest's skips.
            self.gpu_not_run.add(nodeid)
        if info is None:
            return
        if info.get("lint"):
            self.lint[nodeid] = info["lint"]
        if info.get("still_falsified"):
            self.still_falsified.extend({"id": fid, "test": nodeid} for fid in info["ids"])
        r = self.results.get(nodeid)
        if r is None and outcome.passes_plainly(report, info):
            # Most bound tests: their result is `outcome.passed` of the binding, built at
            # the end (`_settle`). Until then the binding stands for it: no dict per test
            # lives through the run (on 10,000 tests they were 23 more gen-0 and 3 more
            # gen-1 collections than pytest's own; now none).
            self.results[nodeid] = info
            return
        r = self._settled(nodeid, r) or outcome.start(nodeid, info)
        r = self.results[nodeid] = outcome.classify(r, report, info)
        if info.get("mutants") is not None:
            r["falsifiable"] = falsifiable.record(info["mutants"], r["outcome"] == V.PASSED)

    def _settled(self, nodeid: str, r: TestResult | BindingRun | None) -> TestResult | None:
        """The result a test's entry in `results` stands for, built now and kept."""
        if r is not None and "outcome" not in r:
            r = self.results[nodeid] = _result(nodeid, r)
        return r

    def _settle(self) -> None:
        """Every result built: the bindings in `results` replaced by what they stand for."""
        self.results = {k: _result(k, r) for k, r in self.results.items()}

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
        self._settle()
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
        ran = self.results
        return lambda test: pruning.is_gone(test, children, exists, ran)


    def pytest_unconfigure(self, config) -> None:
        self.sources.save()  # what the run parsed of its Python sources, for the next
        if self.tracer is not None:
            self.tracer.release()
        # Drop what the run built: pytest keeps its plugins (this one included) alive until
        # the process exits, and the interpreter's final collections rescan every object
        # still alive then (8,930 results, their states, the parse cache's records: ~0.4 s
        # at the exit of a corpus run). They hold no cycles, so refcounting frees them now.
        self.plan = self.decision = self.sources = self.tracer = self.fault_runner = None
        self.results, self.children, self.fingerprints, self.lint = {}, {}, {}, {}
        for item in self._items.values():  # pytest keeps its items to the exit
            if _INFO in item.stash:
                del item.stash[_INFO]
        self._items = {}
        self.falsifiable, self.stale, self.still_falsified = [], [], []
        self.new_failures, self.gpu_not_run = set(), set()
        super().pytest_unconfigure(config)

    # The outermost wrapper, as FalsifySession's (whose error block this replaces).
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter, exitstatus, config):
        yield
        if self.is_worker:
            return
        with bulk():  # as in pytest_sessionfinish
            self._summary(terminalreporter, config)

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
