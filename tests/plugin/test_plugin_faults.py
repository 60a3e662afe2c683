"""Our own plugin faults (plugin_faults.py) patch code that exists: a renamed target would
make every faulted run fail, and mutants mode would read that as a kill."""

from __future__ import annotations

import plugin_faults


def test_every_plugin_fault_patches_something_that_exists():
    assert plugin_faults.missing_targets() == []


def test_a_renamed_target_is_reported_with_its_fault(monkeypatch):
    monkeypatch.setitem(plugin_faults.FAULTS, "x", [("pytest_falsify.verdict.no_such_rule", None)])
    assert plugin_faults.missing_targets() == ["x: pytest_falsify.verdict.no_such_rule"]
