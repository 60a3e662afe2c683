"""The terminal summary tells the story: FALSIFIED claims and transitions first, a tally
with its denominators, after pytest's `-ra` lines, and GPU counts that match the skips."""

from __future__ import annotations

import re
from pathlib import Path

from falsify_project import DEMO

FALSIFIED_DEMO = DEMO.replace("""    discharge_level: algorithm
    discharge_status: DISCHARGED
""", """    discharge_level: algorithm
    discharge_status: FALSIFIED
    evidence:
      tests:
      - {test: 'test_demo.py::test_guard', outcome: failed, level: algorithm, message: 'assert 0'}
""")

TESTS = """\
import pytest

@pytest.mark.falsifier("FALSIFY-DEMO-001")
def test_algorithm():
    pass

@pytest.mark.gpu
@pytest.mark.falsifier("FALSIFY-DEMO-002")
def test_bound_gpu():
    pass

@pytest.mark.gpu
def test_unbound_gpu():
    pass

@pytest.mark.skip(reason="not today")
def test_plain_skip():
    pass
"""


def _section(lines: list[str]) -> list[str]:
    start = next(i for i, line in enumerate(lines) if re.match(r"=+ falsify \(", line))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("===="))
    return lines[start + 1:end]


def test_the_summary_comes_after_the_ra_skip_lines(project):
    project.contract()
    project.tests(TESTS)
    lines = project.run("--falsify=report", "-ra").stdout.lines
    short = next(i for i, line in enumerate(lines) if "short test summary info" in line)
    ours = next(i for i, line in enumerate(lines) if re.match(r"=+ falsify \(report\)", line))
    assert short < ours
    assert lines[-1].startswith("=") and "passed" in lines[-1]  # pytest's final line stays last


def test_the_tally_states_its_denominators(project):
    project.contract()
    project.tests(TESTS)
    section = _section(project.run("--falsify=report").stdout.lines)
    assert ("3 claims · 1 evidenced this run · 0 falsified · 0 partial · 1 unbound · 2 not run "
            "(GPU test: pass --run-ignored to run it: 1, no bound test: 1)") in section


def test_the_gpu_count_agrees_with_the_skips_shown(project):
    project.contract()
    project.tests(TESTS)
    lines = project.run("--falsify=report", "-ra").stdout.lines
    shown = sum(int(m.group(1)) for line in lines
                if (m := re.match(r"SKIPPED \[(\d+)\] .*GPU test", line)))
    assert shown == 2  # the bound and the unbound GPU test
    assert f"{shown} GPU test(s) did not run (skipped); they change no status" in _section(lines)


def test_falsified_claims_and_transitions_come_first(project):
    project.contract(FALSIFIED_DEMO)
    project.tests(TESTS)
    section = _section(project.run("--falsify").stdout.lines)
    assert section[:3] == [
        "FALSIFIED demo::FALSIFY-DEMO-003 (contracts/demo.yaml:17): failing test test_demo.py::test_guard: assert 0",
        "transitions:",
        "  demo::FALSIFY-DEMO-001: UNBOUND -> DISCHARGED",
    ]
    assert section[3].startswith("demo ")


def test_a_new_failure_is_named_with_this_runs_failing_test(project):
    project.contract()
    project.tests(TESTS.replace("def test_algorithm():\n    pass", "def test_algorithm():\n    assert 1 == 2"))
    section = _section(project.run("--falsify=report").stdout.lines)
    assert section[0] == ("FALSIFIED demo::FALSIFY-DEMO-001 (contracts/demo.yaml:9): failing test "
                          "test_demo.py::test_algorithm: assert 1 == 2")


def test_many_findings_of_one_kind_are_folded_to_ten_and_a_count_unless_verbose(project):
    project.contract()
    project.tests("import pytest\n" + "".join(
        f"\n@pytest.mark.falsifier('FALSIFY-DEMO-001')\ndef test_empty_{i}():\n    pass\n"
        for i in range(14)))
    section = _section(project.run("--falsify=report").stdout.lines)
    assert sum(line.startswith("vacuity lint:") for line in section) == 10
    assert "... and 4 more 'vacuity lint' lines (-v shows them all; --falsify-report lists them)" in section
    verbose = _section(project.run("--falsify=report", "-v").stdout.lines)
    assert sum(line.startswith("vacuity lint:") for line in verbose) == 14


def test_folding_keeps_short_runs_and_lines_of_other_kinds():
    from pytest_falsify.summary import fold

    lines = ["a: 1", "a: 2", "b: 1", "a: 3"]
    assert fold(lines, 2) == lines
    assert fold(["x: 1", "x: 2", "x: 3", "y"], 2) == ["x: 1", "x: 2", "... and 1 more 'x' lines "
                                                     "(-v shows them all; --falsify-report lists them)", "y"]
    assert fold(["x: 1", "x: 2", "x: 3"], None) == ["x: 1", "x: 2", "x: 3"]


def test_long_lists_of_transitions_rows_and_written_files_are_cut_at_fifty_with_a_count():
    from pytest_falsify.engine import Plan, Transition
    from pytest_falsify.summary import lines

    plan = Plan()
    plan.transitions = [Transition(f"c{i:03d}", f"c{i:03d}::F-1", "UNBOUND", "DISCHARGED")
                        for i in range(60)]
    plan.statuses = {f"c{i:03d}::F-1": (f"c{i:03d}", "UNBOUND", "DISCHARGED") for i in range(60)}
    written = [Path(f"/x/c{i:03d}.yaml") for i in range(60)]
    out = lines(plan, "write", written, [], [], 0, long_lists=50)
    assert sum(line.startswith("  c") and "->" in line for line in out) == 50
    assert "  ... and 10 more transitions (-v lists them all; so does --falsify-report)" in out
    assert "  ... and 10 more changed contracts (their rows) (-v lists them all; so does --falsify-report)" in out
    assert "  ... and 10 more files (-v lists them all; so does --falsify-report)" in out
    assert len(lines(plan, "write", written, [], [], 0)) > len(out) + 25  # None: every line
