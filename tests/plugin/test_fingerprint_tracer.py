"""How fingerprints are taken: each test's lines from coverage.py's collector, and the
dynamic-contexts fallback when the collector is not shaped as the tracer expects.
(What a fingerprint holds and when it is stale: test_freshness.py.)"""

from __future__ import annotations

import json

import coverage
import coverage.collector
import pytest
import yaml
from falsify_project import KERNEL as BASE_KERNEL

CONTRACT = "metadata:\n  version: 1.0.0\nfalsification_tests:\n" + "".join(
    f"  - id: FALSIFY-TR-00{i}\n    rule: r{i}\n    prediction: p{i}\n" for i in range(1, 10))

KERNEL = BASE_KERNEL + """

class Model:
    def forward(self, x):
        return fast(x) + 1


def opened():
    return "resource"


def closed(r):
    return None


def in_thread(out):
    out.append(fast(3))
"""

CONFTEST = """\
import pytest
from kernel import closed, opened, other


@pytest.fixture
def resource():
    r = opened()
    yield r
    closed(r)


@pytest.fixture(scope="module")
def shared():
    yield other(1)
    other(2)


@pytest.fixture
def broken():
    other(0)
    raise RuntimeError("setup fails")
"""

TESTS = """\
import threading

import pytest
from kernel import Model, fast, in_thread, other


@pytest.mark.falsifier("FALSIFY-TR-001")
def test_plain():
    assert fast(1) == 2


@pytest.mark.falsifier("FALSIFY-TR-002")
def test_fixtures(resource, shared):
    assert resource


class TestModel:
    @pytest.mark.falsifier("FALSIFY-TR-003")
    def test_method(self):
        assert Model().forward(1) == 3


@pytest.mark.falsifier("FALSIFY-TR-004")
def test_thread():
    out = []
    t = threading.Thread(target=in_thread, args=(out,))
    t.start()
    t.join()
    assert out == [6]


@pytest.mark.falsifier("FALSIFY-TR-007")
@pytest.mark.skipif("other(1) == 99", reason="never: the condition runs project code in setup")
def test_conditional():
    assert fast(2) == 4


@pytest.mark.falsifier("FALSIFY-TR-005")
def test_setup_error(broken):
    pass


@pytest.mark.falsifier("FALSIFY-TR-006")
@pytest.mark.skip(reason="not here")
def test_skipped():
    fast(0)


@pytest.mark.falsifier("FALSIFY-TR-007")
@pytest.mark.parametrize("x", [1, 2])
def test_param(x, shared):
    assert fast(x) == 2 * x


@pytest.mark.falsifier("FALSIFY-TR-007")
def test_plain_last():  # no fixture of its own; the module's `shared` ends in its teardown
    assert fast(0) == 0
"""


class _NotPlainDict(dict):
    """Collector data that is not the plain dict the tracer reads: a coverage.py that
    changed how its collector keeps lines."""


def counted(monkeypatch, owner, name: str) -> list:
    """The calls of `owner.name` from now on (the method still runs)."""
    calls = []
    real = getattr(owner, name)

    def count(self, *args):
        calls.append(args)
        return real(self, *args)

    monkeypatch.setattr(owner, name, count)
    return calls


@pytest.fixture
def switches(monkeypatch):
    """coverage.py's dynamic-context switches (the fallback makes one per test)."""
    return counted(monkeypatch, coverage.Coverage, "switch_context")


@pytest.fixture
def starts(monkeypatch):
    """coverage.py's starts: one per traced window."""
    return counted(monkeypatch, coverage.Coverage, "start")


def misshape(monkeypatch) -> None:
    """Make every new collector lack the shape the tracer relies on."""
    real = coverage.collector.Collector.reset

    def reset(self):
        real(self)
        self.data = _NotPlainDict(self.data)

    monkeypatch.setattr(coverage.collector.Collector, "reset", reset)


PACKAGE_INIT = """\
from kernel import opened, closed


def setup_module():
    opened()


def teardown_module():
    closed(None)
"""

def plain_tests(*names: str, first_id: int = 1) -> str:
    """A test module of plain tests (no fixtures), each bound to its own claim, each
    calling kernel.fast."""
    return "import pytest\nfrom kernel import fast\n" + "".join(
        f'\n\n@pytest.mark.falsifier("FALSIFY-TR-00{first_id + i}")\n'
        f"def test_{name}():\n    assert fast({i}) == {2 * i}\n" for i, name in enumerate(names))


PACKAGE_TESTS = plain_tests("first_in_package", "last_in_package", first_id=8)


@pytest.fixture
def traced(project):
    project.contract(CONTRACT)
    (project.path / "kernel.py").write_text(KERNEL)
    (project.path / "conftest.py").write_text(CONFTEST)
    project.tests(TESTS)
    # a package collected after test_demo.py: its setup follows a teardown of another module
    (project.path / "x_pkg").mkdir()
    (project.path / "x_pkg" / "__init__.py").write_text(PACKAGE_INIT)
    (project.path / "x_pkg" / "test_pkg.py").write_text(PACKAGE_TESTS)
    return project


def fingerprints(project, name="r.json"):
    """{test: fingerprint} of a report run of `project` (every bound test traced)."""
    project.run("--falsify=report", "--falsify-report", name)
    tests = json.loads((project.path / name).read_text())["tests"]
    return {t["test"]: t.get("fingerprint") for t in tests}


def names(fp, file="kernel.py"):
    return fp[file].split()[1:]


def test_fingerprints_from_the_collector_equal_those_of_dynamic_contexts(traced, switches,
                                                                        monkeypatch):
    fast = fingerprints(traced, "fast.json")
    assert switches == []  # no dynamic context: lines came from the collector
    with monkeypatch.context() as m:
        misshape(m)
        slow = fingerprints(traced, "slow.json")
    assert len(switches) == len(slow) == 12
    assert fast == slow
    # and both are about the code the tests ran, not merely equal
    assert names(fast["test_demo.py::test_plain"]) == ["fast"]
    assert names(fast["test_demo.py::TestModel::test_method"]) == ["Model.forward", "fast"]
    assert names(fast["test_demo.py::test_fixtures"]) == ["closed", "opened", "other"]
    assert names(fast["test_demo.py::test_fixtures"], "conftest.py") == ["resource", "shared"]
    assert names(fast["test_demo.py::test_conditional"]) == ["fast", "other"]
    assert names(fast["test_demo.py::test_setup_error"], "conftest.py") == ["broken"]
    assert names(fast["test_demo.py::test_plain_last"], "conftest.py") == ["shared"]  # teardown
    # a package's setup_module and teardown_module run in its first and last test's phases
    assert names(fast["x_pkg/test_pkg.py::test_first_in_package"]) == ["fast", "opened"]
    assert names(fast["x_pkg/test_pkg.py::test_last_in_package"]) == ["closed", "fast"]


def test_code_a_test_runs_in_a_thread_it_starts_is_in_its_fingerprint(traced):
    fp = fingerprints(traced)["test_demo.py::test_thread"]
    assert names(fp) == ["fast", "in_thread"]


RERUN_CONFTEST = """\
import pytest
from _pytest.runner import runtestprotocol


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    # What rerun plugins do: a first attempt, unreported, then the reported one.
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    runtestprotocol(item, nextitem=nextitem, log=False)
    runtestprotocol(item, nextitem=nextitem, log=True)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True
"""

FLAKY = """\
import pytest
from kernel import fast, other

ATTEMPTS = []


@pytest.mark.falsifier("FALSIFY-TR-001")
def test_flaky():
    ATTEMPTS.append(1)
    assert (fast if len(ATTEMPTS) == 1 else other)(1) is not None
"""


@pytest.mark.parametrize("path", ["collector", "contexts"])
def test_a_rerun_of_the_same_test_adds_to_its_fingerprint(project, path, monkeypatch):
    if path == "contexts":
        misshape(monkeypatch)
    project.contract(CONTRACT)
    (project.path / "kernel.py").write_text(KERNEL)
    (project.path / "conftest.py").write_text(RERUN_CONFTEST)
    project.tests(FLAKY)
    assert names(fingerprints(project)["test_demo.py::test_flaky"]) == ["fast", "other"]


def test_a_collector_without_the_expected_shape_falls_back_to_dynamic_contexts(
        traced, switches, monkeypatch):
    misshape(monkeypatch)
    assert traced.run("--falsify").ret == 1  # test_setup_error errors: its claim FALSIFIED
    assert len(switches) == 12  # one context per bound test that ran
    evidence = {e["id"]: e.get("evidence")
                for e in yaml.safe_load(traced.read())["falsification_tests"]}
    plain = evidence["FALSIFY-TR-001"]["tests"][0]["fingerprint"]
    assert names(plain) == ["fast"]
    thread = evidence["FALSIFY-TR-004"]["tests"][0]["fingerprint"]
    assert names(thread) == ["fast", "in_thread"]


PLAIN_TESTS = plain_tests("one", "two", "three")


def test_a_plain_test_is_traced_in_its_function_and_at_its_modules_edges_only(project, starts):
    project.contract(CONTRACT)
    (project.path / "kernel.py").write_text(KERNEL)
    project.tests(PLAIN_TESTS)
    fps = fingerprints(project)
    # the tracer's first start checks coverage.py's shape; then the first test's setup (its
    # module is set up), each test's function, and the last test's teardown
    assert len(starts) == 1 + 1 + 3 + 1
    assert {t: names(fp) for t, fp in fps.items()} == {
        f"test_demo.py::test_{n}": ["fast"] for n in ("one", "two", "three")}


def test_a_project_hook_in_the_setup_of_plain_tests_has_every_setup_traced(project, starts):
    project.contract(CONTRACT)
    (project.path / "kernel.py").write_text(KERNEL)
    (project.path / "conftest.py").write_text(
        "from kernel import other\n\n\ndef pytest_runtest_setup(item):\n    other(0)\n")
    project.tests(PLAIN_TESTS)
    fps = fingerprints(project)
    assert len(starts) == 1 + 3 + 3 + 1  # every whole setup: the hook could run anything
    for fp in fps.values():
        assert names(fp) == ["fast", "other"]
        assert names(fp, "conftest.py") == ["pytest_runtest_setup"]


def test_a_plain_test_s_call_is_traced_around_its_function_alone(project, monkeypatch):
    from pytest_falsify import tracing

    calls = counted(monkeypatch, tracing.TestTracer, "_call")
    project.contract(CONTRACT)
    (project.path / "kernel.py").write_text(KERNEL)
    project.tests(PLAIN_TESTS)
    fps = fingerprints(project)
    assert len(calls) == 3  # one per test: pluggy's and pytest's frames ran untraced
    assert {t: names(fp) for t, fp in fps.items()} == {
        f"test_demo.py::test_{n}": ["fast"] for n in ("one", "two", "three")}


def test_a_project_pyfunc_call_hook_is_in_the_fingerprint_of_plain_tests(project):
    # It runs around the function, inside the window of the hook: traced there, as the
    # function alone would not be.
    project.contract(CONTRACT)
    (project.path / "kernel.py").write_text(KERNEL)
    (project.path / "conftest.py").write_text(
        "from kernel import other\n\n\ndef pytest_pyfunc_call(pyfuncitem):\n    other(0)\n")
    project.tests(PLAIN_TESTS)
    for fp in fingerprints(project).values():
        assert names(fp) == ["fast", "other"]
        assert names(fp, "conftest.py") == ["pytest_pyfunc_call"]


ASYNC_TESTS = """\
import pathlib

import pytest


@pytest.mark.falsifier("FALSIFY-TR-001")
async def test_coroutine():
    pass


@pytest.mark.falsifier("FALSIFY-TR-002")
def test_marked():  # what pytest takes for an async function: never called
    pathlib.Path("called").write_text("")


test_marked._is_coroutine = True
"""


def test_an_async_test_function_is_refused_by_pytest_as_without_the_plugin(project):
    project.contract(CONTRACT)
    project.tests(ASYNC_TESTS)
    without = project.pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:falsify")
    traced = project.run("--falsify=report", "--falsify-report", "r.json")
    assert "async def functions are not natively supported" in without.stdout.str()
    assert traced.parseoutcomes() == without.parseoutcomes()
    assert "async def functions are not natively supported" in traced.stdout.str()
    assert not (project.path / "called").exists()  # refused before the call, as without


def test_a_failing_plain_test_reads_as_without_the_plugin(project):
    # Its call ran through the tracer's partial: pytest prunes the traceback to the
    # test's own frames, and reads the item's function again only once it is restored.
    project.contract(CONTRACT)
    (project.path / "kernel.py").write_text(KERNEL)
    project.tests('import pytest\nfrom kernel import fast\n\n\n@pytest.mark.falsifier("FALSIFY-TR-001")\n'
                  "def test_wrong():\n    assert fast(1) == 3\n")
    without = project.pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:falsify")
    traced = project.run("--falsify=report", "--falsify-report", "r.json")

    def failure(result):
        out = result.stdout.str()
        return out[out.index("_ test_wrong _"):out.index("short test summary")]

    assert failure(traced) == failure(without)
    assert "def test_wrong():" in failure(traced) and "_call" not in failure(traced)
    assert names(fingerprints(project)["test_demo.py::test_wrong"]) == ["fast"]
