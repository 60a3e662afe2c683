"""The shape and bounds of a JSON run report, checked before `falsify apply` uses one.

Written plainly rather than with jsonschema: the checks that matter here are bounds
(size, depth, counts, lengths, finite numbers) with one-line messages naming the field
and the limit, which a JSON Schema would express only in part and would word generically.
A report that passes cannot make the plugin write a contract its own loader refuses
(the engine also re-validates every new text with the loader before writing it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from .contracts import LEVELS
from .verdict import ALL_OUTCOMES

#: A report file larger than this is refused before it is read.
MAX_REPORT_BYTES = 64 * 1024 * 1024
#: Test results in one report.
MAX_TESTS = 100_000
#: Characters of a test id (a pytest node id) and of one path component of its file.
MAX_TEST_ID = 1024
MAX_PATH_PART = 255
#: Characters of a falsifier id (qualified `KEY::ID`), and ids bound to one test.
MAX_FALSIFIER_ID = 512
MAX_IDS = 100
#: Nesting of a metric value (a number is depth 0, [1, 2] depth 1), keys per mapping.
MAX_METRIC_DEPTH = 4
MAX_KEYS = 100
#: Characters of a message, example, blob, reason or metric string.
MAX_TEXT = 4000

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_COMMIT = re.compile(r"^[0-9a-f]{4,64}(-dirty)?$")  # -dirty: uncommitted code (plugin stamp)
_TEXT_KEYS = ("message", "example", "blob", "reason")


class ReportProblem(ValueError):
    """The report breaks its schema; the message names the field (and the limit)."""


def check(data: object) -> None:
    """Raise ReportProblem unless `data` is a report `falsify apply` can use safely."""
    if not isinstance(data, dict):
        raise ReportProblem("a report must be a JSON object")
    for key, kind in (("interrupted", bool), ("exitstatus", int)):
        if key in data and not isinstance(data[key], kind):
            raise ReportProblem(f"{key}: must be {kind.__name__}, got {_show(data[key])}")
    tests = data.get("tests", [])
    if not isinstance(tests, list):
        raise ReportProblem(f"tests: must be a list, got {_show(tests)}")
    if len(tests) > MAX_TESTS:
        raise ReportProblem(f"tests: {len(tests):,} results, more than {MAX_TESTS:,} "
                            "(limit MAX_TESTS)")
    for i, t in enumerate(tests):
        _test(f"tests[{i}]", t)
    if "signature" in data and not isinstance(data["signature"], dict):
        raise ReportProblem(f"signature: must be an object, got {_show(data['signature'])}")


def _test(where: str, t: object) -> None:
    if not isinstance(t, dict):
        raise ReportProblem(f"{where}: must be an object, got {_show(t)}")
    test = t.get("test")
    if not isinstance(test, str) or "::" not in test:
        raise ReportProblem(f"{where}.test: must be a pytest node id 'path::name', got {_show(test)}")
    if len(test) > MAX_TEST_ID:
        raise ReportProblem(f"{where}.test: {len(test)} characters, more than {MAX_TEST_ID} "
                            "(limit MAX_TEST_ID)")
    if not test.isprintable():
        raise ReportProblem(f"{where}.test: holds control characters")
    for part in test.split("::", 1)[0].split("/"):
        if len(part) > MAX_PATH_PART:
            raise ReportProblem(f"{where}.test: a path part of {len(part)} characters, more than "
                                f"{MAX_PATH_PART} (limit MAX_PATH_PART)")
    ids = t.get("ids")
    if not isinstance(ids, list) or not ids or len(ids) > MAX_IDS:
        raise ReportProblem(f"{where}.ids: must be a list of 1..{MAX_IDS} falsifier ids, got {_show(ids)}")
    for fid in ids:
        if not isinstance(fid, str) or not fid or len(fid) > MAX_FALSIFIER_ID or not fid.isprintable():
            raise ReportProblem(f"{where}.ids: {_show(fid)} is not a falsifier id of at most "
                                f"{MAX_FALSIFIER_ID} characters (limit MAX_FALSIFIER_ID)")
    if t.get("outcome") not in ALL_OUTCOMES:
        raise ReportProblem(f"{where}.outcome: must be one of {', '.join(ALL_OUTCOMES)}, "
                            f"got {_show(t.get('outcome'))}")
    if t.get("level") not in LEVELS:
        raise ReportProblem(f"{where}.level: must be one of {', '.join(LEVELS)}, got {_show(t.get('level'))}")
    for key in _TEXT_KEYS:
        if key in t and t[key] is not None:
            _text(f"{where}.{key}", t[key])
    if "date" in t and not (isinstance(t["date"], str) and _DATE.match(t["date"])):
        raise ReportProblem(f"{where}.date: must be YYYY-MM-DD, got {_show(t['date'])}")
    if "commit" in t and not (isinstance(t["commit"], str) and _COMMIT.match(t["commit"])):
        raise ReportProblem(f"{where}.commit: must be a hex commit id, got {_show(t['commit'])}")
    for key in ("metrics", "device"):
        value = t.get(key, {})
        if value is not None and not isinstance(value, dict):
            raise ReportProblem(f"{where}.{key}: must be an object, got {_show(value)}")
        _value(f"{where}.{key}", value or {}, 0)


def _text(where: str, value: object) -> None:
    if not isinstance(value, str):
        raise ReportProblem(f"{where}: must be a string, got {_show(value)}")
    if len(value) > MAX_TEXT:
        raise ReportProblem(f"{where}: {len(value):,} characters, more than {MAX_TEXT} (limit MAX_TEXT)")


def _value(where: str, value: object, depth: int) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int):
        if abs(value) >= 10**30:
            raise ReportProblem(f"{where}: integer out of range (more than 30 digits)")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ReportProblem(f"{where}: {value} is not a finite number (record it as text)")
        return
    if isinstance(value, str):
        _text(where, value)
        return
    if depth >= MAX_METRIC_DEPTH + 1:
        raise ReportProblem(f"{where}: nested deeper than {MAX_METRIC_DEPTH} levels (limit MAX_METRIC_DEPTH)")
    if isinstance(value, list):
        if len(value) > MAX_KEYS:
            raise ReportProblem(f"{where}: {len(value)} items, more than {MAX_KEYS} (limit MAX_KEYS)")
        for i, v in enumerate(value):
            _value(f"{where}[{i}]", v, depth + 1)
        return
    if isinstance(value, Mapping):
        if len(value) > MAX_KEYS:
            raise ReportProblem(f"{where}: {len(value)} keys, more than {MAX_KEYS} (limit MAX_KEYS)")
        for k, v in value.items():
            if not isinstance(k, str) or len(k) > 100 or not k.isprintable():
                raise ReportProblem(f"{where}: key {_show(k)} is not a name of at most 100 characters")
            _value(f"{where}.{k}", v, depth + 1)
        return
    raise ReportProblem(f"{where}: unsupported value {_show(value)}")  # pragma: no cover - JSON has no other types


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
