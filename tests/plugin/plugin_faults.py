"""pytest-falsify's own faults (and the fuzz harness's): each patches one rule, a real bug.

The root conftest's `pytest_falsify_faults` hands `FAULTS` to `--falsify=mutants`; the
FALSIFY-PLUGIN, LOAD and HONEST contracts name them. `active(name)` patches this process
(the plugin tests' in-process pytester runs meet the bug) and, for the block's duration,
sets FALSIFY_PLUGIN_FAULT and PYTEST_PLUGINS=plugin_faults with this folder on
PYTHONPATH: a pytest started meanwhile as a child process (pytester's
`runpytest_subprocess`, a raw Popen, and its xdist workers) loads this module, which then
applies the same patches for the life of that child. Nothing outlives the block in this
process; a child's patches end with the child.

A plain module with no hooks (pytest registers it as a plugin in a child, and in the
in-process runs, where it is already imported and does nothing).
"""

from __future__ import annotations

import contextlib
import os
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest_falsify.cli._stanza as stanza
import pytest_falsify.contracts as contracts
import pytest_falsify.plugin as plugin
import pytest_falsify.rewrite as rewrite
import pytest_falsify.statuses as statuses
import pytest_falsify.verdict as verdict

ENV = "FALSIFY_PLUGIN_FAULT"
MODULE = "plugin_faults"

real_verdict = verdict.verdict
real_edit_init, real_edit_evidence = rewrite._Edit.__init__, rewrite._edit_evidence
real_session_init = plugin.FalsifySession.__init__
real_resolve, real_bind = contracts.resolve, plugin.FalsifySession._bind


def lf_edit(edit, text, shared):  # new lines always end in LF
    real_edit_init(edit, text, shared)
    edit.nl = "\n"


def own_evidence(edit, node, item, u):  # evidence that is not a mapping is taken as absent
    ev = item.get("evidence")
    return real_edit_evidence(edit, node, item if ev is None or isinstance(ev, dict)
                              else {**item, "evidence": None}, u)


def worker_as_controller(session, config):  # every process thinks it is the controller
    real_session_init(session, config)
    session.is_worker = False


def bare_id_first(ref, qids, qids_of):  # an ambiguous bare id binds its first contract
    found = qids_of.get(ref, []) if contracts.SEP not in ref else []
    return (found[0], None) if found else real_resolve(ref, qids, qids_of)


def new_section(name, text, key, value):  # a second [pytest] section, appended
    syntax, sections = stanza.SECTIONS[name]
    return text + f"\n[{sections[0]}]\n" + stanza.setting_line(name, key, value) + "\n"


# name -> the (target, replacement) patches that make up the bug
FAULTS = {
    # a known failure is never recognised: every failure is new
    "known_failure_not_recognised": [("pytest_falsify.gate.is_known_failure",
                                      lambda *a, **k: False)],
    # function bodies are not fingerprinted: a changed function is never stale
    "fingerprint_ignores_function_bodies": [("pytest_falsify.fingerprint._digest",
                                             lambda lines: "00000000")],
    # the verdict ignores failures: a failing test no longer falsifies
    "failure_does_not_win": [("pytest_falsify.verdict.verdict",
                              lambda current, level, evidence: "DISCHARGED")],
    # the gate passes whatever it saw: drift no longer fails check
    "gate_always_passes": [("pytest_falsify.gate.exit_code", lambda *a, **k: 0)],
    # mutants mode records every fault as killing, whatever the test did
    "mutants_ignore_faults": [("pytest_falsify.falsifiable.record",
                               lambda results, baseline_passed: {"killed": sorted(results)})],
    # every run rewrites the evidence: a metric that varies churns the file
    "varying_metrics_rewritten": [("pytest_falsify.engine._refreshes", lambda *a, **k: True)],
    # a skip (or error, xfail) is taken as evidence: a run that did not test lowers
    "skip_is_evidence": [("pytest_falsify.verdict.is_evidence", lambda outcome: True)],
    # lines the rewrite adds to a CRLF file end in LF
    "added_lines_end_in_lf": [("pytest_falsify.rewrite._Edit.__init__", lf_edit)],
    # the YAML check lets python/ and unknown tags through
    "yaml_tags_unchecked": [("pytest_falsify.yamlsafe._bad_tag", lambda tag: False)],
    # an unknown falsifier id in a marker is only a warning in the falsify modes too
    "unknown_id_only_warns": [("pytest_falsify.plugin.FalsifySession._bind",
                               lambda self, item, inherited=None: (real_bind(self, item, inherited)[0], True))],
    # interrupted runs and collection errors still write the contracts
    "incomplete_run_writes": [("pytest_falsify.recording._WRITE_EXIT", tuple(range(6))),
                              ("pytest_falsify.recording.RecordingSession.pytest_collectreport",
                               lambda self, report: None)],
    # hand-written (non-mapping) evidence is overwritten instead of refused
    "hand_written_evidence_overwritten": [("pytest_falsify.rewrite._edit_evidence", own_evidence)],
    # xdist workers write the contracts too, not only the controller
    "workers_write_too": [("pytest_falsify.plugin.FalsifySession.__init__", worker_as_controller)],
    # a test that called blocked() counts as a pass
    "blocked_counts_as_passed": [("pytest_falsify.verdict.verdict", lambda c, lvl, ev: real_verdict(
        c, lvl, [dict(e, outcome="passed") if e.get("outcome") == "blocked" else e for e in ev]))],
    # stored evidence of every test this run did not run is pruned as gone
    "unrun_tests_pruned": [("pytest_falsify.pruning.is_gone", lambda *a, **k: True)],
    # a status typed by hand is lowered by weaker evidence
    "hand_claim_lowered": [("pytest_falsify.verdict.holds_hand_claim", lambda *a, **k: False)],
    # the plugin acts in every project, used or not
    "plugin_always_in_use": [("pytest_falsify.activation.in_use", lambda *a, **k: True)],
    # falsify init appends a second pytest section instead of writing into the first
    "init_appends_a_section": [("pytest_falsify.cli._stanza.add_setting", new_section)],
    # write mode rewrites files with contract errors too
    "broken_files_rewritten": [("pytest_falsify.contracts.ContractSet.broken",
                                property(lambda self: set()))],
    # prefix rules of falsify_status_map are ignored
    "status_prefix_rules_ignored": [("pytest_falsify.statuses.StatusMap.resolve", lambda m, word: (
        word if word in statuses.KNOWN_STATUSES else m.exact.get(word)))],
    # an ambiguous bare id binds the first contract that has it
    "ambiguous_id_binds_first": [("pytest_falsify.contracts.resolve", bare_id_first)],
    # any YAML mapping is read as a contract (schemas, configs)
    "non_contracts_read_as_contracts": [("pytest_falsify.contracts._is_contract",
                                         lambda root: True)],
    # contracts are keyed by their file's stem: same-named files in two folders collide
    "contract_key_is_the_stem": [("pytest_falsify.contracts.contract_key",
                                  lambda path, root, suffix=False: path.name if suffix else path.stem)],
    # the loader reads falsification_tests but not gates
    # the fuzz harness (FUZZ-002) does not know a MemoryError's text: exhaustion is a traceback
    "memory_errors_unrecognised": [("fuzz.case._MEMORY_TEXT", ())],
    "loader_ignores_gates": [("pytest_falsify.contracts.BLOCKS",
                              ("falsification_tests", "falsification"))],
}



def missing_targets() -> list[str]:
    """'fault: target' for each patch target that no longer exists (a renamed function
    would otherwise fail every faulted run, which mutants mode reads as a kill)."""
    out = []
    for name, patches in FAULTS.items():
        for target, _ in patches:
            try:
                pkgutil.resolve_name(target)
            except (ImportError, AttributeError):
                out.append(f"{name}: {target}")
    return out


@contextlib.contextmanager
def _patched(name: str) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for target, fake in FAULTS[name]:
            stack.enter_context(mock.patch(target, fake))
        yield


@contextlib.contextmanager
def active(name: str) -> Iterator[None]:
    """Fault `name` in this process and in the pytest processes started meanwhile."""
    env = {ENV: name, "PYTEST_PLUGINS": ",".join(filter(None, (os.environ.get("PYTEST_PLUGINS"), MODULE))),
           "PYTHONPATH": os.pathsep.join(filter(None, (str(Path(__file__).parent),
                                                       os.environ.get("PYTHONPATH"))))}
    with mock.patch.dict(os.environ, env), _patched(name):
        yield


if os.environ.get(ENV) in FAULTS:  # a child pytest started inside an `active` block
    _CHILD = contextlib.ExitStack()
    _CHILD.enter_context(_patched(os.environ[ENV]))
