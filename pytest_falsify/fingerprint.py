"""Freshness fingerprints: the functions a test ran, and whether they still read the same.

Grain: one digest per *function* (top-level functions and methods, nested classes
included; a nested function or lambda belongs to the function around it) plus one
`<module>` digest per file for everything outside functions (imports, constants, class
attributes, decorators' arguments live in the function's own span). Lines come from
coverage.py's collector, taken per test (see `Tracer`); the digests are of
the normalised source (blank lines, full-line comments and trailing spaces dropped,
indentation kept relative), so moving a function or editing a comment line is no change,
while any change to its code is.

A fingerprint, as stored in an evidence record, maps a file (POSIX path relative to the
project root) to one digest over its `<module>` and the functions the test ran, and the
names of those functions: `{"aprcore/ops.py": "1a2b3c4d attention softmax"}`, or, when
the test ran more than MAX_NAMES functions of the file, a digest of the whole file and
`*`. Which function changed is told by comparing with the file at the evidence's commit
(git).
Pure except for reading source files; never imports pytest or numpy.
"""

from __future__ import annotations

import ast
import bisect
import hashlib
import os
import subprocess
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

MODULE = "<module>"
#: Stored instead of names when a test ran more than MAX_NAMES functions of one file: the
#: digest then covers the whole file (records stay small; pytester runs touch most of a
#: plugin), and which function changed is read from git.
WHOLE = "*"
MAX_NAMES = 5
_DIGEST_CHARS = 8


def _digest(lines: Iterable[str]) -> str:
    h = hashlib.sha1()
    for ln in lines:
        s = ln.rstrip()
        t = s.lstrip()
        if not t or t.startswith("#"):
            continue
        h.update(s.encode("utf-8", "surrogatepass"))
        h.update(b"\n")
    return h.hexdigest()[:_DIGEST_CHARS]


def _dedent(lines: list[str]) -> list[str]:
    first = next((ln for ln in lines if ln.strip()), "")
    cut = len(first) - len(first.lstrip())
    return [ln[cut:] if ln[:cut].isspace() else ln.lstrip() for ln in lines]


def _functions(body: list[ast.stmt], prefix: str, spans: list, cannot: set, can_fail) -> None:
    """The (first line, last line, qualified name) of each function of `body`, into `spans`
    (methods as `Class.name`), and the first lines of those whose body cannot fail, into
    `cannot`. A module function, not a closure: a nested function calling itself is a
    reference cycle, left for the cyclic GC."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            spans.append((start, node.end_lineno or node.lineno, prefix + node.name))
            if not can_fail(node):
                cannot.add(start)
        elif isinstance(node, ast.ClassDef):
            _functions(node.body, f"{prefix}{node.name}.", spans, cannot, can_fail)


@dataclass
class FileIndex:
    """Function spans of one source file, the digest of each (plus `<module>`), and which
    of them cannot fail (the static vacuity lint's verdict, vacuity.body_can_fail)."""

    starts: list[int] = field(default_factory=list)  # sorted start lines (decorators included)
    spans: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, qualname)
    digests: dict[str, str] = field(default_factory=dict)
    cannot_fail: frozenset[int] = frozenset()  # start lines of defs whose body cannot fail

    @classmethod
    def parse(cls, text: str) -> FileIndex:
        from .vacuity import body_can_fail

        tree = ast.parse(text)
        lines = text.splitlines()
        spans: list[tuple[int, int, str]] = []
        cannot: set[int] = set()

        _functions(tree.body, "", spans, cannot, body_can_fail)
        spans.sort()
        idx = cls([s for s, _, _ in spans], spans, {}, frozenset(cannot))
        inside = set()
        for start, end, name in spans:
            idx.digests[name] = _digest(_dedent(lines[start - 1:end]))
            inside.update(range(start, end + 1))
        idx.digests[MODULE] = _digest(ln for i, ln in enumerate(lines, 1) if i not in inside)
        return idx

    def to_record(self) -> dict:
        """A JSON value for the source cache."""
        return {"spans": [list(s) for s in self.spans], "digests": self.digests,
                "cannot_fail": sorted(self.cannot_fail)}

    @classmethod
    def from_record(cls, rec: object) -> FileIndex | None:
        """The index a record holds, or None when it is not one (a cache is never trusted)."""
        try:
            spans = [(int(s), int(e), str(n)) for s, e, n in rec["spans"]]  # type: ignore[index]
            digests = {str(k): str(v) for k, v in rec["digests"].items()}  # type: ignore[index]
            cannot = frozenset(int(x) for x in rec["cannot_fail"])  # type: ignore[index]
        except (TypeError, ValueError, KeyError, AttributeError):
            return None
        if MODULE not in digests or spans != sorted(spans):
            return None
        return cls([s for s, _, _ in spans], spans, digests, cannot)

    def owner(self, line: int) -> str:
        """The function a line belongs to, or `<module>`."""
        i = bisect.bisect_right(self.starts, line) - 1
        if i >= 0:
            start, end, name = self.spans[i]
            if line <= end:
                return name
        return MODULE

    def can_fail(self, first_line: int, name: str) -> bool | None:
        """Whether the def named `name` starting at `first_line` (co_firstlineno) can fail;
        None when the file has no such def at its top level or in a class."""
        i = bisect.bisect_left(self.starts, first_line)
        while i < len(self.spans) and self.spans[i][0] == first_line:
            if self.spans[i][2].rpartition(".")[2] == name:
                return first_line not in self.cannot_fail
            i += 1
        return None


#: Source-cache records depend on these modules' code (the digests and the lint's rules).
_SOURCE_CACHE_CODE = ("fingerprint.py", "vacuity.py")
SOURCE_CACHE_FILE = "source-cache.json"


def source_cache(path: Path | None):
    """The parse cache (parse_cache.py) of Python source files at `path` (None: none)."""
    if path is None:
        return None
    from .parse_cache import ParseCache

    h = hashlib.blake2b(digest_size=16)
    for name in _SOURCE_CACHE_CODE:
        h.update((Path(__file__).resolve().parent / name).read_bytes())
    return ParseCache(path, h.hexdigest())


class SourceIndex:
    """Parsed source files under a root, each read once (None when missing or unparsable),
    through a source cache when given one: an unchanged file is then not parsed at all."""

    def __init__(self, root: Path, cache=None) -> None:
        self.root = Path(root)
        self.cache = cache
        self._files: dict[str, FileIndex | None] = {}
        self._old: dict[tuple[str, str], FileIndex | None] = {}
        self._rel: dict[str, str | None] = {}

    def rel(self, path: str) -> str | None:
        if path not in self._rel:  # once per path: relpath is slow, and 8,930 tests ask
            try:
                self._rel[path] = Path(os.path.relpath(path, self.root)).as_posix()
            except ValueError:
                self._rel[path] = None
        return self._rel[path]

    def at_commit(self, commit: str, rel: str) -> FileIndex | None:
        """The file as it was at `commit` (git), parsed; None when git cannot say."""
        key = (commit, rel)
        if key not in self._old:
            text = _git(self.root, "show", f"{commit}:./{rel}")
            try:
                self._old[key] = FileIndex.parse(text) if text is not None else None
            except (SyntaxError, ValueError):
                self._old[key] = None
        return self._old[key]

    def file(self, rel: str) -> FileIndex | None:
        if rel not in self._files:
            self._files[rel] = self._load(self.root / rel)
        return self._files[rel]

    def _load(self, path: Path) -> FileIndex | None:
        try:
            st = os.stat(path)
            data = None
            if self.cache is not None:
                value, data = self.cache.lookup(str(path), st, path.read_bytes)
                if value is False:  # recorded as unparsable
                    return None
                if value is not None and (fi := FileIndex.from_record(value)) is not None:
                    return fi
            if data is None:
                data = path.read_bytes()
        except OSError:
            return None
        try:
            fi = FileIndex.parse(data.decode("utf-8"))
        except (UnicodeDecodeError, SyntaxError, ValueError):
            fi = None
        if self.cache is not None:
            self.cache.store(str(path), st, data, fi.to_record() if fi is not None else False)
        return fi

    def save(self) -> None:
        """Write the source cache back (best effort), without files that are gone."""
        if self.cache is None:
            return
        self.cache.forget_except({k for k in self.cache.records if os.path.exists(k)})
        self.cache.save()


def file_digest(fi: FileIndex, names: Iterable[str]) -> str | None:
    """One digest over `<module>` and the named functions of a file (None: one is gone)."""
    h = hashlib.sha1()
    for n in (MODULE, *sorted(set(names) - {MODULE})):
        d = fi.digests.get(n)
        if d is None:
            return None
        h.update(f"{n}:{d}\n".encode())
    return h.hexdigest()[:_DIGEST_CHARS]


_MEMO_LINES = 16  # `fingerprint` memoises files with at least this many executed lines


def fingerprint(lines_by_file: Mapping[str, Collection[int]], index: SourceIndex,
                skip: Iterable[tuple[str, str]] = (), memo: dict | None = None) -> dict[str, str]:
    """The stored fingerprint of executed lines ({absolute path: line numbers}):
    {file: "<digest> name name ..."}, `<module>` implied. `skip`: (absolute path, qualname)
    of functions never to count (the tracer's own). `memo`: a dict kept across the calls
    of one run, so a file that many tests ran with the same lines is looked up once."""
    skip = skip if isinstance(skip, (set, frozenset)) else set(skip)
    out: dict[str, str] = {}
    for path in sorted(lines_by_file):
        lines = lines_by_file[path]
        if memo is None or len(lines) < _MEMO_LINES:  # hashing a few lines costs more
            entry = _file_entry(path, lines, index, skip)
        else:
            key = (path, frozenset(lines))
            if key not in memo:
                memo[key] = _file_entry(path, key[1], index, skip)
            entry = memo[key]
        if entry is not None:
            out[entry[0]] = entry[1]
    return dict(sorted(out.items()))


def _file_entry(path: str, lines: Iterable[int], index: SourceIndex,
                skip: set | frozenset) -> tuple[str, str] | None:
    """(relative path, "<digest> names") of one file's executed lines; None: not counted."""
    rel = index.rel(path)
    fi = index.file(rel) if rel else None
    if fi is None:
        return None
    names = {fi.owner(ln) for ln in lines}
    names = {n for n in names if (path, n) not in skip}
    if not names:
        return None
    names.discard(MODULE)  # always counted: a file's constants and imports
    if len(names) > MAX_NAMES:  # most of the file: the whole file, and no list of names
        return rel, f"{file_digest(fi, fi.digests)} {WHOLE}"
    return rel, " ".join([file_digest(fi, names) or "", *sorted(names)])


def _named(rel: str, names: Iterable[str]) -> list[str]:
    return [f"{rel} (module level) changed" if n == MODULE else f"{rel}::{n} changed"
            for n in names]


def parse_stored(fp: object) -> dict[str, tuple[str, list[str]]] | None:
    """{file: (digest, function names)} from a stored fingerprint, None when not one."""
    if not isinstance(fp, dict):
        return None
    out: dict[str, tuple[str, list[str]]] = {}
    for f, v in fp.items():
        if not isinstance(f, str) or not isinstance(v, str) or not v.split():
            return None
        digest, *names = v.split()
        out[f] = (digest, names)
    return out


def changes(fp: object, index: SourceIndex, commit: str | None = None) -> list[str] | None:
    """What no longer matches the tree: `file::function changed|removed`, `file removed`,
    `file (module level) changed`.

    Which function changed is read from the file as it was at `commit` (git) when the
    evidence names a clean commit; otherwise the file is named with its candidates.
    [] when the fingerprint still matches; None when `fp` is not a fingerprint.
    """
    parsed = parse_stored(fp)
    if parsed is None:
        return None
    out: list[str] = []
    for rel, (digest, names) in parsed.items():
        fi = index.file(rel)
        if fi is None:
            out.append(f"{rel} removed" if not (index.root / rel).exists() else f"{rel} unreadable")
            continue
        if names == [WHOLE]:
            names = sorted(set(fi.digests) - {MODULE})
            old = index.at_commit(commit, rel) if commit else None
            if file_digest(fi, names) == digest:
                continue
            if old is not None and file_digest(old, old.digests) == digest:
                both = sorted((set(old.digests) | set(fi.digests)) - {MODULE})
                out.extend(_named(rel, [n for n in (MODULE, *both)
                                        if old.digests.get(n) != fi.digests.get(n)]))
            else:
                out.append(f"{rel} changed")
            continue
        gone = [n for n in names if n not in fi.digests]
        out.extend(f"{rel}::{n} removed" for n in gone)
        if gone or file_digest(fi, names) == digest:
            continue
        old = index.at_commit(commit, rel) if commit else None
        if old is not None and file_digest(old, names) == digest:
            out.extend(_named(rel, [n for n in (MODULE, *names)
                                    if old.digests.get(n) != fi.digests.get(n)]))
        else:
            out.append(f"{rel} changed (in one of: {', '.join([MODULE, *names])})")
    return out


# --- git: which files are uncommitted --------------------------------------------------------

def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                             timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


@dataclass(frozen=True)
class TreeState:
    """Uncommitted files under the root (relative POSIX paths); `known` False outside git."""

    known: bool
    tracked_dirty: bool  # a tracked file differs from HEAD (git describe --dirty)
    dirty: frozenset[str]  # tracked changes and untracked, not ignored, files


def tree_state(root: Path) -> TreeState:
    untracked = _git(root, "ls-files", "--others", "--exclude-standard")
    if untracked is None:  # not a git work tree
        return TreeState(False, False, frozenset())
    changed = _git(root, "diff", "--name-only", "--relative", "HEAD")
    if changed is None:  # no commit yet: everything is uncommitted
        changed = _git(root, "ls-files", "--cached") or ""
    tracked = {ln for ln in changed.splitlines() if ln}
    return TreeState(True, bool(tracked), frozenset(tracked | {ln for ln in untracked.splitlines() if ln}))


# --- coverage.py: the lines each test runs -----------------------------------------------------

class Tracer:
    """coverage.py measuring bound tests only, each test's lines taken from its collector.

    Running only inside a bound test's windows (`begin`, then `with tracer:`), so the rest of
    the run pays nothing; one Coverage object per process (xdist workers each have their
    own, so nothing is shared between processes).

    Per-test lines: coverage.py's tracers fill its collector's `data`, a dict {file: set
    of line numbers}, in place. When the next test starts (tracing is stopped then) that
    dict's lines are filed under the test that ran and the dict is emptied
    (`_take`); nothing goes through coverage's database. That dict is private API:
    coverage.py has no public way to read lines per test short of dynamic contexts, and a
    context switch flushes the collector into its in-memory SQLite (~0.1 ms, 1.2 s of
    8,930 trivial tests), where the dict costs ~1 us. `_collector` checks the shape this
    relies on once; without it (a coverage.py that keeps its data otherwise) the tracer
    falls back to one dynamic context per test, read once at the end of the run
    (`lines_by_test`). Either way a rerun of the same key (rerun plugins) adds to its
    lines, and threads a test starts are traced by coverage's own thread support.
    """

    def __init__(self, root: Path, omit: Iterable[str] = ()) -> None:
        import coverage  # the fingerprint modes need it; nothing else does

        root = Path(root).resolve()
        self._cov = coverage.Coverage(
            data_file=None, config_file=False, branch=False, include=[f"{root}{os.sep}*"],
            omit=[f"*{os.sep}{d}{os.sep}*" for d in (".venv", "venv", ".tox", "site-packages", ".nox")]
            + list(omit))
        # A skipped test collects nothing; coverage's warnings are about reports we never make.
        self._cov.set_option("run:disable_warnings", [
            "no-data-collected", "module-not-measured", "module-not-imported", "no-ctracer",
            "couldnt-parse", "already-imported"])
        self._cov._falsify_tracer = True  # type: ignore[attr-defined]  # see `foreign_coverage`
        self._contexts: dict[str, str] = {}  # test key -> its context (every key begun)
        #: test key -> ((file, lines), ...)
        self._lines: dict[str, tuple[tuple[str, tuple[int, ...]], ...]] = {}
        self._key: str | None = None  # the test whose lines the collector holds now
        self._cov.start()  # creates the collector (and its first tracer) to check its shape
        self._cov.stop()
        self.collector = _collector(self._cov)  # None: the dynamic-contexts fallback

    def begin(self, key: str) -> None:
        """Begin test `key`: the lines of the windows from now on (`with tracer:`) are its;
        a rerun of the same key adds to them."""
        self._contexts.setdefault(key, f"t{len(self._contexts) + 1}")
        if self.collector is not None:
            self._take()
            self._key = key
            return
        # The fallback: the context stays coverage's current one through stops; lines are
        # filed under it when coverage flushes, at the next switch or at the end.
        self._cov.start()
        self._cov.switch_context(self._contexts[key])
        self._cov.stop()

    def __enter__(self) -> Tracer:
        """Trace (a window of the current test)."""
        self._cov.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._cov.stop()

    def _take(self) -> None:
        """File the collector's lines under the test that ran them and empty it. Only
        while tracing is stopped: every `start` makes new tracers, which look each file's
        set up in the dict again (a set still held by a running tracer is never dropped).
        Each test's lines are kept in tuples: a set and a dict for each of thousands of
        tests were objects for every full collection of the cyclic GC to scan."""
        data = self.collector.data  # type: ignore[union-attr]
        if not data:
            return
        items = list(data.items())
        data.clear()
        if self._key is None:
            return
        got = dict(self._lines.get(self._key, ()))
        for f, lines in items:
            if lines:
                old = got.get(f)
                got[f] = tuple(lines) if old is None else tuple(lines.union(old))
        self._lines[self._key] = tuple(got.items())

    #: the tracer's own functions, which run while it traces: never part of a fingerprint
    @staticmethod
    def own_functions() -> list[tuple[str, str]]:
        from . import tracing

        here, hooks = os.path.realpath(__file__), os.path.realpath(tracing.__file__)
        return [(here, f"Tracer.{n}") for n in ("begin", "__enter__", "__exit__")] + [
            (hooks, f"TestTracer.{n}") for n in (
                "pytest_runtest_setup", "pytest_runtest_call", "pytest_pyfunc_call", "_call",
                "pytest_runtest_teardown")]

    def lines_by_test(self) -> dict[str, dict[str, Collection[int]]]:
        """{test key: {absolute path: executed lines}} for every test started."""
        if not self._contexts:
            return {}
        if self.collector is None:
            return self._lines_by_context()
        self._take()
        self._key = None
        mapper = self.collector.file_mapper
        mapped: dict[str, str] = {}  # coverage's own file name -> the path it reports
        out: dict[str, dict[str, Collection[int]]] = {}
        for key in self._contexts:
            files: dict[str, Collection[int]] = {}
            for f, lines in self._lines.get(key, ()):
                if f not in mapped:
                    mapped[f] = mapper(f)
                if mapped[f] in files:  # two names of one file (a link): one entry
                    files[mapped[f]] = {*files[mapped[f]], *lines}
                else:
                    files[mapped[f]] = lines
            out[key] = files
        return out

    def _lines_by_context(self) -> dict[str, dict[str, Collection[int]]]:
        """The fallback's read: one pass over coverage's data, file by file. Reading one
        context per test instead costs a regex over every context so far (quadratic: 27 s
        for 8,930 tests)."""
        data = self._cov.get_data()
        by_context: dict[str, dict[str, list[int]]] = {}
        for f in data.measured_files():
            for line, contexts in data.contexts_by_lineno(f).items():
                for c in contexts:
                    by_context.setdefault(c, {}).setdefault(f, []).append(line)
        return {key: by_context.get(c, {}) for key, c in self._contexts.items()}


def _collector(cov):
    """coverage.py's collector when it has the shape `Tracer` relies on, else None.

    Checked once, after a first start and stop (coverage 5 to 7 have it; a later release
    may not): `_collector.data` is a plain dict of line sets (no branch measurement) that
    the collector's tracers share (`tracer.data is collector.data`), and
    `_collector.file_mapper` turns its file names into the ones coverage reports
    (`Collector.flush_data` maps them so too)."""
    col = getattr(cov, "_collector", None)
    data = getattr(col, "data", None)
    tracers = getattr(col, "tracers", None)
    if (type(data) is not dict or getattr(col, "branch", True) is not False
            or not callable(getattr(col, "file_mapper", None))
            or not isinstance(tracers, list) or not tracers
            or any(getattr(t, "data", None) is not data for t in tracers)):
        return None
    return col


def foreign_coverage() -> bool:
    """True when another coverage.py measurement (pytest-cov, `coverage run`) is active:
    starting ours would pause it, so fingerprints are then off."""
    try:
        import coverage
    except ImportError:
        return False
    cur = coverage.Coverage.current()
    return cur is not None and not getattr(cur, "_falsify_tracer", False)
