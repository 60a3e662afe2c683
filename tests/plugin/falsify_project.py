"""Helpers of the plugin tests: a throw-away project with contracts and tests.

A plain module (not conftest.py) so tests can import it without clashing with the root
conftest.
"""

from __future__ import annotations

import shutil
import sys
import textwrap
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parent.parent / "corpus"

DEMO = """\
# demo contract: comments, quoting and blank lines must survive every rewrite
metadata:
  version: 1.0.0   # bumped by the plugin
  status: ACTIVE
  changelog:
    - {version: 1.0.0, date: 2026-01-01, changes: [initial]}

falsification_tests:
  - id: FALSIFY-DEMO-001
    rule: algorithm-level claim
    prediction: "passes"
    discharge_level: algorithm

  - id: FALSIFY-DEMO-002
    rule: live claim
    prediction: passes on the real backend
  - id: FALSIFY-DEMO-003
    prediction: fails when broken
    discharge_level: algorithm
    discharge_status: DISCHARGED
"""


class Project:
    """A pytester project: `contracts/` plus test files, run in-process by default."""

    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester
        self.path: Path = pytester.path
        pytester.makeini("[pytest]\n")
        (self.path / "contracts").mkdir()

    def contract(self, text: str = DEMO, name: str = "demo") -> Path:
        p = self.path / "contracts" / f"{name}.yaml"
        p.write_text(textwrap.dedent(text), encoding="utf-8", newline="")
        return p

    def tests(self, src: str, name: str = "test_demo") -> Path:
        return self.pytester.makepyfile(**{name: textwrap.dedent(src)})

    # Plugin autoload is off in these runs (see the `project` fixture): loading every
    # installed plugin costs ~3 s per subprocess on a loaded 2-core machine.
    PLUGINS = ("-p", "no:cacheprovider", "-p", "pytest_falsify.plugin")

    def run(self, *args: str, cache: bool = False) -> pytest.RunResult:
        """An in-process run; `cache=True` keeps the cache provider (--lf, --ff, --sw)."""
        plugins = self.PLUGINS[2:] if cache else self.PLUGINS
        return self.pytester.runpytest_inprocess(*plugins, *args)

    def subprocess(self, *args: str, timeout: float = 60) -> pytest.RunResult:
        return self.pytester.runpytest_subprocess(*self.PLUGINS, "-p", "xdist.plugin", *args,
                                                  timeout=timeout)

    def cmd(self, *args: str) -> list[str]:
        """A pytest command line for a raw subprocess.Popen in the project directory."""
        return [sys.executable, "-m", "pytest", *self.PLUGINS, *args]

    def corpus(self, errors: bool = False) -> Path:
        """The aprender-shaped fixture corpus as this project's contracts (plus its true
        errors with `errors`), configured with the corpus's ini stanza."""
        dest = self.path / "contracts"
        shutil.copytree(CORPUS / "aprender", dest, dirs_exist_ok=True)
        if errors:
            shutil.copytree(CORPUS / "aprender-errors", dest, dirs_exist_ok=True)
        self.pytester.makeini((CORPUS / "aprender.ini").read_text(encoding="utf-8"))
        return dest

    def read(self, name: str = "demo") -> bytes:
        return (self.path / "contracts" / f"{name}.yaml").read_bytes()


#: code under test of the fingerprint tests: `fast` and `other` read the module constant
KERNEL = """\
SCALE = 2


def fast(x):
    return x * SCALE


def other(x):
    return x - 1
"""

PASSING = """\
import pytest

@pytest.mark.falsifier("FALSIFY-DEMO-001")
def test_algorithm(record_property):
    record_property("cosine", 0.999)

@pytest.mark.falsifier("FALSIFY-DEMO-002", level="live")
def test_live():
    pass

@pytest.mark.falsifier("FALSIFY-DEMO-003")
def test_guard():
    pass
"""
