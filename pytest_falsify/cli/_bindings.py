"""Suggest falsifier markers from the prose of contracts' `test:` fields. Pure but for reading.

Hand-written contracts name their tests in prose: `tests/test_x.py::test_y`,
`test_y in tests/test_x.py`, `tests/test_x.py (TestK.test_y)`, or a bare `test_y`. A name
is resolved against the test functions that exist in the tree (found with `ast`, never by
importing the code): within the files the text names, else anywhere. Only a name that
resolves to exactly one test function gives a suggestion; several are reported as
ambiguous with their node ids, none as not found.

A suggestion is one decorator line, `@pytest.mark.falsifier("ID", ...)`, put right above
the test's `def` at its indentation (plus `import pytest` where the module lacks it).
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

#: Directories never searched for tests.
SKIP_DIRS = {"__pycache__", "node_modules", "venv", "build", "dist", "site-packages"}
_NODE_ID = re.compile(r"(?P<path>[\w./-]+\.py)::(?P<chain>\w+(?:::\w+)*)")
_PATH = re.compile(r"[\w./-]+\.py\b")
_NAME = re.compile(r"(?<![\w./-])(?:(?P<cls>Test\w*)[.:]{1,2})?(?P<name>test_\w+)(?![\w.])")


@dataclass(frozen=True)
class Ref:
    """A test the prose names: its function name, maybe its class and the files it may be in."""

    name: str
    cls: str | None = None
    paths: tuple[str, ...] = ()


@dataclass
class TestDef:
    __test__ = False  # a name pytest would otherwise try to collect

    rel: str  # path relative to the root, POSIX
    cls: str | None
    name: str
    line: int  # 1-based line of the `def`
    bound: set[str] = field(default_factory=set)  # ids its falsifier markers already name

    @property
    def nodeid(self) -> str:
        return "::".join(p for p in (self.rel, self.cls, self.name) if p)


def references(text: str) -> list[Ref]:
    """The tests a `test:` field's prose names, in the order written."""
    refs: list[Ref] = []
    rest = text
    for m in _NODE_ID.finditer(text):
        chain = m.group("chain").split("::")
        cls = chain[-2] if len(chain) >= 2 else None
        if chain[-1].startswith("test"):
            refs.append(Ref(chain[-1], cls, (_norm(m.group("path")),)))
        rest = rest.replace(m.group(0), " ")
    paths = tuple(_norm(p) for p in _PATH.findall(rest))
    for m in _NAME.finditer(rest):
        refs.append(Ref(m.group("name"), m.group("cls"), paths))
    return list(dict.fromkeys(refs))


def named_files(text: str) -> list[str]:
    """The .py files a `test:` field names (with or without a test function)."""
    return list(dict.fromkeys(_norm(p) for p in _PATH.findall(text)))


def _norm(path: str) -> str:
    return path.removeprefix("./")


def test_files(root: Path) -> Iterator[Path]:
    """pytest's default test files (test_*.py, *_test.py) under root, hidden dirs skipped."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS
                             and not d.endswith(".egg-info"))
        for f in sorted(filenames):
            if f.endswith(".py") and (f.startswith("test_") or f.endswith("_test.py")):
                yield Path(dirpath) / f


def _marker_ids(nodes: Iterable[ast.expr]) -> set[str]:
    ids: set[str] = set()
    for node in nodes:
        for call in ast.walk(node):
            if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                    and call.func.attr == "falsifier"):
                ids.update(a.value for a in call.args
                           if isinstance(a, ast.Constant) and isinstance(a.value, str))
    return ids


def parse_tests(rel: str, source: str) -> list[TestDef]:
    """The test functions of one module (top level and in Test* classes); SyntaxError raises."""
    tree = ast.parse(source)
    module_ids = _marker_ids(s.value for s in tree.body if isinstance(s, ast.Assign)
                             and any(isinstance(t, ast.Name) and t.id == "pytestmark"
                                     for t in s.targets))
    out: list[TestDef] = []

    def add(fn: ast.AST, cls: str | None, inherited: set[str]) -> None:
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and fn.name.startswith("test"):
            out.append(TestDef(rel, cls, fn.name, fn.lineno,
                               inherited | _marker_ids(fn.decorator_list)))

    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            ids = module_ids | _marker_ids(node.decorator_list)
            for item in node.body:
                add(item, node.name, ids)
        else:
            add(node, None, module_ids)
    return out


def resolve(ref: Ref, index: list[TestDef]) -> list[TestDef]:
    """The test functions `ref` may mean."""
    found = [t for t in index if t.name == ref.name and (ref.cls is None or t.cls == ref.cls)]
    if ref.paths:
        named = [t for t in found if any(t.rel == p or t.rel.endswith("/" + p) for p in ref.paths)]
        if named:
            return named
    return found


def insert_markers(source: str, markers: dict[int, list[str]]) -> str:
    """`source` with `@pytest.mark.falsifier(ids...)` above each `def` line of `markers`
    (line -> ids), and `import pytest` added when the module has none."""
    lines = source.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    for line in sorted(markers, reverse=True):
        text = lines[line - 1]
        indent = text[:len(text) - len(text.lstrip())]
        args = ", ".join(f'"{i}"' for i in markers[line])
        lines.insert(line - 1, f"{indent}@pytest.mark.falsifier({args}){newline}")
    tree = ast.parse(source)
    if not any(isinstance(s, ast.Import) and any(a.name == "pytest" and a.asname is None
                                                 for a in s.names) for s in tree.body):
        lines.insert(_import_line(tree) - 1, f"import pytest{newline}")
    return "".join(lines)


def _import_line(tree: ast.Module) -> int:
    """Where `import pytest` goes: after the module's leading imports (and docstring)."""
    after = 0
    for i, node in enumerate(tree.body):
        is_doc = i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
            and isinstance(node.value.value, str)
        if not (is_doc or isinstance(node, (ast.Import, ast.ImportFrom))):
            break
        after = node.end_lineno or node.lineno
    return after + 1
