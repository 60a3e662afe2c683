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
import functools
import inspect
import os
import tokenize

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


def lint(func: object) -> str | None:
    """FLAG when `func`'s source shows it cannot fail; None otherwise or when unreadable."""
    func = inspect.unwrap(func)  # type: ignore[arg-type]
    code = getattr(func, "__code__", None)
    if code is None:
        return None
    try:
        st = os.stat(code.co_filename)
    except OSError:
        return None
    can_fail = _can_fail_by_def(code.co_filename, st.st_mtime_ns, st.st_size).get(
        (code.co_firstlineno, code.co_name))
    return FLAG if can_fail is False else None


@functools.lru_cache(maxsize=256)
def _can_fail_by_def(filename: str, _mtime_ns: int, _size: int) -> dict[tuple[int, str], bool]:
    """{(first line, name): whether its body can fail} of every function in a file; the
    first line counts decorators, as co_firstlineno does.

    A file is parsed once per run, not once per test (inspect.getsource and ast.parse per
    test cost ~0.2 ms each: 2 s for 8,930 tests), and only the verdicts are kept, not the
    tree (its nodes would cost every later GC pass). The stat fields key the cache, so an
    edited file is parsed again."""
    try:
        with tokenize.open(filename) as f:  # honours a coding cookie, as the compiler does
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return {}
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            out[(first, node.name)] = body_can_fail(node)
    return out
