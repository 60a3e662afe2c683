"""Evidence: metric values, failure details and run provenance.

Never imports numpy: numpy scalars are recognised by duck typing (`.item()`), which also
covers CuPy and torch scalars.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import platform
import re
import socket
import subprocess
import sys
from collections.abc import Iterable
from importlib import metadata

_EXAMPLE_PREFIXES = ("Falsifying example:", "Failing test case:")
_BLOB = re.compile(r"@reproduce_failure\([^)]*\)")
_MAX_TEXT = 500


def plain(value: object) -> object:
    """A metric value as a YAML/JSON-safe builtin (numpy/cupy/torch scalars via .item())."""
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if not isinstance(value, float):
        item = getattr(value, "item", None)
        if callable(item):
            try:
                value = item()
            except (TypeError, ValueError):
                return str(value)[:_MAX_TEXT]
            if isinstance(value, (bool, int, str)):
                return value
        if not isinstance(value, float):
            try:
                value = float(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                return str(value)[:_MAX_TEXT]
    if not math.isfinite(value):
        return str(value)  # 'nan'/'inf': NaN never equals itself, so keep it as text
    return value


#: the report attribute with the metrics recorded as testsuite properties (junit.py)
SUITE_METRICS = "falsify_metrics"


def report_metrics(report: object) -> dict[str, object]:
    """A test report's metrics: its user properties, then those kept for the JUnit
    testsuite (junit.py), both as (name, value) pairs."""
    props, suite = getattr(report, "user_properties", None), getattr(report, SUITE_METRICS, None)
    if not props and not suite:  # nearly every report: no list, no generator to build
        return {}
    return metrics([*(props or ()), *(tuple(p) for p in suite or ())])


def metrics(user_properties: Iterable[tuple[str, object]]) -> dict[str, object]:
    """Metrics from a report's user_properties (the last value of a name wins)."""
    out: dict[str, object] = {}
    for pair in user_properties or ():
        try:
            name, value = pair
        except (TypeError, ValueError):
            continue
        if isinstance(name, str) and not name.startswith("_"):
            out[name] = plain(value)
    return out


def short_message(report) -> str:
    """The one-line reason of a failure (the crash message), bounded."""
    lr = getattr(report, "longrepr", None)
    crash = getattr(lr, "reprcrash", None)
    msg = getattr(crash, "message", None)
    if not msg:
        text = getattr(report, "longreprtext", "") or str(lr or "")
        lines = [ln for ln in text.splitlines() if ln.strip()]
        msg = lines[-1] if lines else ""
    msg = msg.strip().splitlines()[0] if msg.strip() else ""
    return msg[:_MAX_TEXT]


def hypothesis_details(text: str) -> tuple[str | None, str | None]:
    """(minimal failing example, @reproduce_failure blob) from a failure's text."""
    example = None
    lines = [re.sub(r"^E {1,3}", "", ln) for ln in text.splitlines()]
    for i, ln in enumerate(lines):
        stripped = ln.strip()
        for prefix in _EXAMPLE_PREFIXES:
            if stripped.startswith(prefix):
                rest = stripped[len(prefix):].strip()
                body = [rest] if rest else []
                depth = rest.count("(") - rest.count(")")
                j = i + 1
                while j < len(lines) and (depth > 0 or not body):
                    nxt = lines[j].strip()
                    if not nxt and body:
                        break
                    body.append(nxt)
                    depth += nxt.count("(") - nxt.count(")")
                    j += 1
                example = " ".join(b for b in body if b)[:_MAX_TEXT]
                break
        if example:
            break
    m = _BLOB.search(text)
    return example, (m.group(0) if m else None)


def _git_commit(cwd: str) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def provenance(rootdir: str, argv: list[str] | None = None) -> dict:
    """Where, when and how a run happened: goes into the JSON report."""
    packages = {d: _version(d) for d in ("pytest", "pytest-falsify", "pytest-xdist",
                                          "hypothesis", "numpy", "cupy-cuda12x", "cupy-cuda13x", "pyyaml")}
    return {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "packages": {k: v for k, v in packages.items() if v},
        "git_commit": _git_commit(rootdir),
        "command_line": list(argv if argv is not None else sys.argv),
        "cwd": os.getcwd(),
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def today() -> _dt.date:
    return _dt.datetime.now(_dt.timezone.utc).date()
