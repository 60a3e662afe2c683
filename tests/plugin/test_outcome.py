"""A bound test's outcome from its phase reports: plain report-like objects, no pytest run."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_falsify import outcome
from pytest_falsify import verdict as V

INFO = {"ids": ["FALSIFY-X-001"], "level": "algorithm", "gpu": False}


def rep(when: str, result: str, longrepr=None, **extra) -> SimpleNamespace:
    """A report-like object with the attributes pytest's TestReport has."""
    return SimpleNamespace(when=when, passed=result == "passed", failed=result == "failed",
                           skipped=result == "skipped", longrepr=longrepr,
                           longreprtext=str(longrepr or ""), user_properties=[], **extra)


def run(*reports, info=INFO) -> dict:
    r = outcome.start("t.py::test_x", info)
    for report in reports:
        r = outcome.classify(r, report, info)
    return r


def test_a_passing_test_is_passed():
    assert run(rep("setup", "passed"), rep("call", "passed"), rep("teardown", "passed"))[
        "outcome"] == V.PASSED


def test_a_failing_call_is_failed_with_its_message():
    lr = SimpleNamespace(reprcrash=SimpleNamespace(message="AssertionError: cos 0.5 < 0.99"))
    r = run(rep("setup", "passed"), rep("call", "failed", lr), rep("teardown", "passed"))
    assert (r["outcome"], r["message"]) == (V.FAILED, "AssertionError: cos 0.5 < 0.99")


def test_a_hypothesis_failure_keeps_the_example_and_the_blob():
    text = ("E   Falsifying example: test_x(\nE       n=3,\nE   )\n"
            "@reproduce_failure('6.100.0', b'AAE=')\n")
    r = run(rep("setup", "passed"), rep("call", "failed", text))
    assert r["example"] == "test_x( n=3, )"
    assert r["blob"] == "@reproduce_failure('6.100.0', b'AAE=')"


def test_a_setup_error_is_an_error_not_a_failure():
    assert run(rep("setup", "failed", "fixture broke"))["outcome"] == V.ERROR


def test_a_teardown_error_after_a_pass_is_an_error():
    r = run(rep("setup", "passed"), rep("call", "passed"), rep("teardown", "failed", "leak"))
    assert r["outcome"] == V.ERROR


def test_a_skip_at_setup_is_skipped_with_its_reason():
    r = run(rep("setup", "skipped", ("t.py", 3, "Skipped: no CUDA device")))
    assert (r["outcome"], r["reason"]) == (V.SKIPPED, "Skipped: no CUDA device")


def test_a_skip_inside_the_test_is_skipped():
    r = run(rep("setup", "passed"), rep("call", "skipped", ("t.py", 3, "Skipped: later")))
    assert r["outcome"] == V.SKIPPED


def test_a_blocked_skip_is_blocked_with_the_bare_reason():
    info = {**INFO, "blocked": "BLOCKER_FIXTURE_ABSENT: model.gguf missing"}
    r = run(rep("setup", "skipped", ("t.py", 3, "x")), info=info)
    assert (r["outcome"], r["reason"]) == (V.BLOCKED, "model.gguf missing")


@pytest.mark.parametrize(("result", "expected"), [("skipped", V.XFAIL), ("passed", V.XPASS)])
def test_xfail_and_xpass_are_reported_as_such(result, expected):
    r = run(rep("setup", "passed"), rep("call", result, "reason", wasxfail="known"))
    assert r["outcome"] == expected


def test_a_strict_xpass_is_xpass_not_a_failure():
    r = run(rep("setup", "passed"), rep("call", "failed", "[XPASS(strict)] known"))
    assert r["outcome"] == V.XPASS


def test_metrics_come_from_the_user_properties_of_the_last_report():
    call = rep("call", "passed")
    call.user_properties = [("cosine", 0.999), ("_private", 1)]
    assert run(rep("setup", "passed"), call)["metrics"] == {"cosine": 0.999}


def test_classify_leaves_the_result_it_was_given_unchanged():
    before = outcome.start("t.py::test_x", INFO)
    outcome.classify(before, rep("call", "passed"), INFO)
    assert before["outcome"] == V.SKIPPED


def test_the_device_of_a_gpu_run_is_kept():
    info = {**INFO, "gpu": True, "device": {"device": "H200"}}
    assert run(rep("call", "passed"), info=info)["device"] == {"device": "H200"}


def test_only_a_failed_report_outside_the_phases_is_a_worker_crash():
    assert outcome.is_worker_crash(rep("???", "failed"))
    assert not outcome.is_worker_crash(rep("call", "failed"))


phase_reports = st.lists(st.tuples(st.sampled_from(["setup", "call", "teardown"]),
                                   st.sampled_from(["passed", "failed", "skipped"]),
                                   st.booleans()), max_size=4)


def build(spec) -> list[SimpleNamespace]:
    return [rep(when, result, "x", **({"wasxfail": "k"} if xf and when == "call" else {}))
            for when, result, xf in spec]


@given(phase_reports)
def test_every_sequence_of_reports_gives_a_known_outcome(spec):
    assert run(*build(spec))["outcome"] in V.ALL_OUTCOMES


@given(phase_reports)
def test_a_failing_teardown_last_always_makes_an_error(spec):
    reports = build(spec) + [rep("teardown", "failed", "leak")]
    assert run(*reports)["outcome"] == V.ERROR


def test_a_plain_passing_call_passes_plainly():
    assert outcome.passes_plainly(rep("call", "passed"), INFO)


@pytest.mark.parametrize("report", [
    rep("setup", "passed"), rep("call", "failed"), rep("call", "passed", wasxfail="k"),
    rep("call", "passed", falsify_metrics=[["cosine", 0.99]]),
], ids=["setup", "failed", "xpass", "suite-metrics"])
def test_a_call_with_anything_to_record_does_not_pass_plainly(report):
    assert not outcome.passes_plainly(report, INFO)


def test_a_plainly_passing_call_gives_what_classify_gives():
    """The plugin keeps only the binding of a test whose call passes plainly and builds
    `passed` of it at the end: that must be the result `classify` would have made. Every
    combination of phase, outcome, xfail, user properties, device and still-falsified."""
    plain = 0
    for when, result, xfail, props, device, still in itertools.product(
            ("setup", "call", "teardown"), ("passed", "failed", "skipped"), *[(False, True)] * 4):
        report = rep(when, result, **({"wasxfail": "k"} if xfail else {}))
        if props:
            report.user_properties = [("cosine", 0.999)]
        info = {**INFO, **({"device": {"device": "H200"}} if device else {}),
                **({"still_falsified": True} if still else {})}
        if outcome.passes_plainly(report, info):
            plain += 1
            assert outcome.passed("t.py::test_x", info) == run(report, info=info)
    assert plain == 2  # with and without a device
