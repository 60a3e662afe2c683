"""A cheap static lint: a bound test that cannot fail. Pure (reads source with `ast`).

A test function is flagged when its body has none of: an `assert` on something that is
not a constant, a `raises(...)` call (`pytest.raises`, `np.testing.assert_raises`, ...),
a call of an `assert...`/`fail` function, or a call into anything but builtins, pytest
and the evidence recorders. `assert True`, `pass` and a lone `record_property(...)` are
flagged; a test that calls the code under test, or a helper that may assert, is not (a
helper's asserts are for mutants mode to prove).
"""

from __future__ import annotations

import ast
import builtins
import inspect
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .fingerprint import SourceIndex

_INERT_CALLS = frozenset(dir(builtins)) | {"record_property", "falsify_evidence", "skip",
                                           "importorskip", "xfail", "blocked"}
FLAG = "no assertion, no pytest.raises and no call into the code under test"


def _callee(node: ast.Call) -> tuple[str, str]:
    f = node.func
    if isinstance(f, ast.Name):
        return "", f.id
    if isinstance(f, ast.Attribute):
        base = f.value.id if isinstance(f.value, ast.Name) else ""
        return base, f.attr
    return "", ""


def body_can_fail(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether the body (not the decorators, not the defaults) can fail."""
    for node in (n for stmt in fn.body for n in ast.walk(stmt)):
        if isinstance(node, ast.Assert) and not isinstance(node.test, ast.Constant):
            return True
        if isinstance(node, ast.Raise):
            return True
        if isinstance(node, ast.Call):
            base, name = _callee(node)
            if name == "raises" or name.startswith("assert") or name == "fail":
                return True
            if base == "pytest" or (not base and name in _INERT_CALLS):
                continue
            return True
    return False


def lint(func: object, index: SourceIndex) -> str | None:
    """FLAG when `func`'s source shows it cannot fail; None otherwise or when unreadable.

    Read through `index` (fingerprint.SourceIndex, one per run, maybe cached on disk): a
    file is parsed once per run at most, not once per test (inspect.getsource and
    ast.parse per test cost ~0.2 ms each, 2 s for 8,930 tests)."""
    if hasattr(func, "__wrapped__"):  # a decorated test (unwrap costs ~1 us per test)
        func = inspect.unwrap(func)  # type: ignore[arg-type]
    code = getattr(func, "__code__", None)
    rel = index.rel(code.co_filename) if code is not None else None
    fi = index.file(rel) if rel is not None else None
    if fi is None:
        return None
    return FLAG if fi.can_fail(code.co_firstlineno, code.co_name) is False else None
