"""Inert where unused: a project without contracts and without falsify options runs exactly
as with `-p no:falsify`. GPU gating turns on with contracts or `falsify_gpu_gating = true`."""

from __future__ import annotations

import re

import pytest

from pytest_falsify import activation
from pytest_falsify.plugin import CLI_OPTIONS, INI_OPTIONS

pytestmark = pytest.mark.falsifier("FALSIFY-PLUGIN-014")

# A project of its own: its own `gpu` marker (a test that must run), an `ignored` and a
# `slow` marker of its own, a skip and an xfail.
SUITE = """\
import pytest

@pytest.mark.gpu
def test_own_gpu_marker():
    pass

@pytest.mark.ignored
def test_own_ignored_marker():
    pass

@pytest.mark.slow
def test_own_slow_marker():
    pass

def test_skip():
    pytest.skip("own reason")

@pytest.mark.xfail(reason="known")
def test_xfail():
    assert 0
"""
PLUGIN = ("-p", "pytest_falsify.plugin")


@pytest.fixture
def bare(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A project with no contracts directory and no falsify option; plugins load only by -p."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(test_own=SUITE)
    return pytester


def outcome_lines(result: pytest.RunResult) -> list[str]:
    """Per-test outcome lines, the short summary and the final line, without the timing."""
    keep = [ln for ln in result.outlines
            if "::" in ln or re.match(r"^(PASSED|FAILED|SKIPPED|XFAIL|XPASS|ERROR) ", ln)
            or re.match(r"^=+ .*(passed|failed|skipped|error|xfailed)", ln)]
    return [re.sub(r" in [0-9.]+s.*", "", ln) for ln in keep]


def run(pytester: pytest.Pytester, *args: str, plugin: bool) -> pytest.RunResult:
    # In process, `-p pytest_falsify.plugin` names a module this (outer) pytest has already
    # imported without assertion rewriting when it was started as the `pytest` script (as
    # the README and tox do), and pytest warns about that: an artifact of the nested run,
    # not the plugin's doing, so both runs ignore that one warning class (last -W wins).
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", *(PLUGIN if plugin else ()),
                                        *args, "-W", "ignore::pytest.PytestAssertRewriteWarning")


@pytest.mark.parametrize("args", [("-v", "-rA"), ("-v", "-rA", "--strict-markers"),
                                  ("-m", "gpu", "-rA"), ("-W", "error", "-rA")],
                         ids=["verbose", "strict-markers", "select-own-marker", "warnings-as-errors"])
def test_a_project_without_contracts_runs_exactly_as_without_the_plugin(bare, args):
    with_plugin = run(bare, *args, plugin=True)
    without = run(bare, *args, plugin=False)
    assert with_plugin.ret == without.ret
    assert outcome_lines(with_plugin) == outcome_lines(without)
    assert outcome_lines(without), "the comparison saw no outcome line"


def test_the_own_gpu_test_runs(bare):
    run(bare, plugin=True).assert_outcomes(passed=3, skipped=1, xfailed=1)


def test_no_marker_is_registered_in_an_unused_project(bare):
    with_plugin = run(bare, "--markers", plugin=True).outlines
    assert with_plugin == run(bare, "--markers", plugin=False).outlines
    assert not any("falsifier(" in ln for ln in with_plugin)


def test_a_contracts_directory_turns_gpu_gating_on(bare):
    (bare.path / "contracts").mkdir()
    result = run(bare, "-rs", plugin=True)
    result.assert_outcomes(passed=1, skipped=3, xfailed=1)
    result.stdout.fnmatch_lines(["*GPU test: pass --run-ignored to run it*"])


def test_the_ini_flag_turns_gpu_gating_on_without_contracts(bare):
    bare.makeini("[pytest]\nfalsify_gpu_gating = true\n")
    run(bare, plugin=True).assert_outcomes(passed=1, skipped=3, xfailed=1)


def test_the_ini_flag_turns_gpu_gating_off_in_a_project_with_contracts(bare):
    (bare.path / "contracts").mkdir()
    bare.makeini("[pytest]\nfalsify_gpu_gating = false\n")
    run(bare, plugin=True).assert_outcomes(passed=3, skipped=1, xfailed=1)


def test_any_falsify_ini_option_makes_the_project_a_user(bare):
    (bare.path / "spec").mkdir()
    bare.makeini("[pytest]\nfalsify_contracts = spec\n")
    run(bare, plugin=True).assert_outcomes(passed=1, skipped=3, xfailed=1)


def test_every_falsify_ini_option_counts_for_activation(bare):
    help_text = run(bare, "--help", plugin=True).stdout.str()
    registered = set(re.findall(r"^\s+(falsify_\w+)", help_text, re.MULTILINE))
    assert registered == set(INI_OPTIONS), "list every falsify_* ini option in plugin.INI_OPTIONS"


def test_every_falsify_command_line_option_counts_for_activation(bare):
    help_text = run(bare, "--help", plugin=True).stdout.str()
    group = help_text[help_text.index("contract statuses derived from tests"):]
    group = group[:group.index("\n\n")]
    flags = set(re.findall(r"^\s+(--[a-z-]+)", group, re.MULTILINE))
    assert {f.removeprefix("--").replace("-", "_") for f in flags} == set(CLI_OPTIONS), \
        "list every falsify command-line option in plugin.CLI_OPTIONS"


@pytest.mark.parametrize(("flag", "used", "gating"), [
    (None, False, False), ([], True, True), (True, False, True), (False, True, False)])
def test_gating_follows_the_flag_when_it_is_a_bool_else_use(flag, used, gating):
    assert activation.gpu_gating(used, flag) is gating


def test_default_values_do_not_count_as_use():
    assert not activation.in_use(False, ["", [], None], [None, False])
    assert activation.in_use(False, ["", "spec"], [])
    assert activation.in_use(False, [], [None, "write"])
    assert activation.in_use(True, [], [])


def test_installed_and_autoloaded_it_runs_exactly_as_with_p_no_falsify(bare, monkeypatch):
    """The real thing: the plugin loaded through its entry point, against `-p no:falsify`."""
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    args = ("-p", "no:cacheprovider", "-v", "-rA", "--strict-markers", "--trace-config")
    loaded = bare.runpytest_subprocess(*args, timeout=120)
    without = bare.runpytest_subprocess(*args, "-p", "no:falsify", timeout=120)
    plugin_file = "pytest_falsify/plugin.py"
    assert plugin_file in loaded.stdout.str() and plugin_file not in without.stdout.str()
    assert loaded.ret == without.ret
    assert outcome_lines(loaded) == outcome_lines(without)


def test_no_fixture_is_added_in_an_unused_project(bare):
    with_plugin = run(bare, "--fixtures", plugin=True).stdout.str()
    assert "falsify_evidence" not in with_plugin
    (bare.path / "contracts").mkdir()
    assert "falsify_evidence" in run(bare, "--fixtures", plugin=True).stdout.str()
