"""Evidence helpers: metric values, hypothesis failure details, the flow emitter."""

from __future__ import annotations

import datetime as dt
import math

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from pytest_falsify import evidence
from pytest_falsify.yamlemit import dump as _dump

HYPOTHESIS_OUTPUT = """\
E   AssertionError: cosine 0.5 < 0.99
E   Falsifying example: test_parity(
E       seed=3,
E       scale=1.0,
E   )
E   You can reproduce this example by temporarily adding @reproduce_failure('6.155.2', b'AXicY2BgAAAAAwAB') as a decorator on your test case
"""


@pytest.mark.parametrize("prefix", ["Falsifying example:", "Failing test case:"])
def test_minimal_example_is_found_under_both_hypothesis_prefixes(prefix):
    example, blob = evidence.hypothesis_details(HYPOTHESIS_OUTPUT.replace("Falsifying example:", prefix))
    assert example == "test_parity( seed=3, scale=1.0, )"
    assert blob == "@reproduce_failure('6.155.2', b'AXicY2BgAAAAAwAB')"


def test_no_hypothesis_output_gives_nothing():
    assert evidence.hypothesis_details("E   assert 1 == 2") == (None, None)


class FakeScalar:
    """Duck-typed like a numpy/cupy scalar, without importing numpy."""

    def __init__(self, v):
        self.v = v

    def item(self):
        return self.v


@pytest.mark.parametrize(("value", "plain"), [
    (FakeScalar(0.25), 0.25), (FakeScalar(3), 3), (FakeScalar(True), True), (1.5, 1.5),
    ("text", "text"), (None, None), (float("nan"), "nan"), (FakeScalar(float("inf")), "inf"),
    (object, str(object)),
])
def test_metric_values_become_yaml_safe_builtins(value, plain):
    assert evidence.plain(value) == plain


def test_metrics_keep_the_last_value_of_a_name_and_skip_private_names():
    props = [("cosine", 0.9), ("cosine", FakeScalar(0.95)), ("_internal", 1), ("bad",)]
    assert evidence.metrics(props) == {"cosine": 0.95}


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
    st.dates(min_value=dt.date(1900, 1, 1)),
    st.sampled_from(["yes", "no", "on", "null", "~", "1e3", "0x1F", "2026-11-22", "a: b", "x # y",
                     "tests/t.py::test[a-1]", "'q'", "-", "*alias", "&a", "!tag", "%", "@", "`",
                     "1.1.0", "56fbb84bf94d", "1234567", ".5", "+1", "1_000", "0o17", "12:30"]),
)
records = st.dictionaries(st.text(min_size=1, max_size=8), st.one_of(
    scalars, st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=5), scalars, max_size=3)),
    max_size=5)


@given(records)
def test_flow_emitter_round_trips_through_yaml(record):
    text = _dump(record, flow=True)
    loaded = yaml.safe_load(text)
    assert loaded == record or _nan_free(loaded) == _nan_free(record)


def _nan_free(x):
    return x if not isinstance(x, float) or not math.isnan(x) else "nan"
