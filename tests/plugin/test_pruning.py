"""`pruning.is_gone`: a stored test is pruned only when it provably no longer exists."""

from __future__ import annotations

import pytest

from pytest_falsify.pruning import is_gone

pytestmark = pytest.mark.falsifier("FALSIFY-PLUGIN-012")

FILE = {"t.py": ["t.py::test_a", "t.py::TestK", "t.py::test_p[x::y]"]}


def exists(_file: str) -> bool:
    return True


def test_a_test_whose_file_is_gone_is_gone():
    assert is_gone("gone.py::test_a", {}, lambda f: f != "gone.py")


def test_a_test_that_reported_in_this_run_is_kept_even_if_its_file_is_gone_since():
    assert not is_gone("gone.py::test_a", {}, lambda f: False, ran={"gone.py::test_a"})


def test_a_test_of_a_file_this_run_did_not_collect_is_kept():
    assert not is_gone("u.py::test_a", FILE, exists)


def test_a_test_its_collected_file_still_yields_is_kept():
    assert not is_gone("t.py::test_a", FILE, exists)


def test_a_test_its_collected_file_no_longer_yields_is_gone():
    assert is_gone("t.py::test_b", FILE, exists)


def test_a_test_in_a_class_this_run_did_not_descend_into_is_kept():
    assert not is_gone("t.py::TestK::test_m", FILE, exists)


def test_a_test_its_collected_class_no_longer_yields_is_gone():
    children = {**FILE, "t.py::TestK": ["t.py::TestK::test_n"]}
    assert is_gone("t.py::TestK::test_m", children, exists)


def test_a_class_removed_from_a_collected_file_takes_its_tests_with_it():
    assert is_gone("t.py::TestGone::test_m", FILE, exists)


def test_a_parameter_id_containing_the_separator_is_matched_whole():
    assert not is_gone("t.py::test_p[x::y]", FILE, exists)
