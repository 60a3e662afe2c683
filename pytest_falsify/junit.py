"""Metrics in `--junitxml` output, valid in the JUnit family the user picked.

pytest writes a test's `user_properties` as `<properties>` inside its `<testcase>`, which
only the xunit1 (legacy) schema allows; that is why `record_property` warns under xunit2,
pytest's default family. `falsify_evidence` therefore records a metric where the family
allows it: as a user property (a testcase property) for xunit1/legacy or without
`--junitxml`, and for xunit2 as a testsuite property named `<node id>::<metric>`, the
form the xunit2 schema allows (what `record_testsuite_property` writes). Under xdist
only the controller has the XML writer, so the metrics travel on the test report
(`report.falsify_metrics`) and the controller adds them; `evidence.report_metrics`
reads both kinds.
"""

from __future__ import annotations

import pytest

from . import evidence

_METRICS = pytest.StashKey[list]()


def suite_level(config: pytest.Config) -> bool:
    if not getattr(config.option, "xmlpath", None):  # no --junitxml (or junitxml disabled)
        return False
    return config.getini("junit_family") == "xunit2"


def record(item: pytest.Item, name: str, value: object) -> None:
    """Record one metric of `item` (already a builtin)."""
    if suite_level(item.config):
        item.stash.setdefault(_METRICS, []).append((name, value))
    else:
        item.user_properties.append((name, value))


def has_metrics(item: pytest.Item) -> bool:
    """Whether `item` recorded suite-level metrics (`attach` has something to carry)."""
    return _METRICS in item.stash


def attach(item: pytest.Item, report: pytest.TestReport) -> None:
    """Carry the suite-level metrics on the report (builtins, so they cross xdist)."""
    # `in` first: Stash.get raises and catches a KeyError for a missing key (~1 us), and
    # this runs for every report of every test.
    pairs = item.stash[_METRICS] if _METRICS in item.stash else None
    if pairs:
        setattr(report, evidence.SUITE_METRICS, [list(p) for p in pairs])


def _writer(config: pytest.Config):
    # The junitxml plugin's LogXML, found by what it does rather than by a private import.
    for plugin in config.pluginmanager.get_plugins():
        if callable(getattr(plugin, "add_global_property", None)) and hasattr(plugin, "family"):
            return plugin
    return None


def publish(config: pytest.Config, report: pytest.TestReport) -> None:
    """In the process that writes the XML: add a finished test's suite-level metrics."""
    pairs = getattr(report, evidence.SUITE_METRICS, None)
    if not pairs or report.when != "teardown":
        return
    xml = _writer(config)
    if xml is not None:
        for name, value in pairs:
            xml.add_global_property(f"{report.nodeid}::{name}", value)
