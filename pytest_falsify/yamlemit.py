"""Emitting YAML text for the rewriter: flow values, block lines and quoted scalars.

One place for how the plugin spells a value, so the changelog, status and evidence lines
it adds all read back as the data intended (the rewriter re-parses every edit anyway).
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import re

import yaml

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]*$")
# Reads as a number to some YAML parser (1e3 is a float in YAML 1.2): always quoted.
_NUMERIC = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_RESOLVER = yaml.resolver.Resolver()


def flow_text(value: object) -> str | None:
    """Flow YAML of simple data, or None when PyYAML's emitter must decide.

    PyYAML's pure-Python representer costs ~0.1 ms a call, which is most of the time of
    rewriting 2,000 files; evidence records are simple, so they are emitted here. The
    rewrite re-parses its output, and a property test checks this against yaml.safe_load.
    """
    # Exact types first: evidence records are dicts of str (half the emit time went to the
    # chain of isinstance checks below); subclasses take the general path.
    cls = value.__class__
    if cls is str:
        return flow_str(value)
    if cls is dict:
        return _flow_dict(value)  # type: ignore[arg-type]
    return _flow_other(value)


def _flow_dict(value: dict) -> str | None:
    parts = []
    for k, v in value.items():
        fk = flow_str(k) if isinstance(k, str) else None
        fv = flow_str(v) if v.__class__ is str else flow_text(v)
        if fk is None or fv is None:
            return None
        parts.append(f"{fk}: {fv}")
    return "{" + ", ".join(parts) + "}"


def _flow_other(value: object) -> str | None:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        text = repr(value)
        if "." not in text and "e" in text:  # YAML 1.1 floats need a dot: 1e-09 -> 1.0e-09
            text = text.replace("e", ".0e", 1)
        return text
    if isinstance(value, str):
        return flow_str(value)
    if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return _flow_dict(value)
    if isinstance(value, list):
        items = [flow_text(v) for v in value]
        return None if any(i is None for i in items) else "[" + ", ".join(items) + "]"  # type: ignore[arg-type]
    return None


@functools.lru_cache(maxsize=4096)
def flow_str(value: str) -> str | None:
    if (_PLAIN.match(value) and not _NUMERIC.match(value)
            and _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == "tag:yaml.org,2002:str"):
        return value
    if value.isprintable() and value == value.strip() and value:
        return "'" + value.replace("'", "''") + "'"
    return None


def dump(value: object, flow: bool) -> str:
    if flow:
        fast = flow_text(value)
        if fast is not None:
            return fast
    out = yaml.dump(value, Dumper=_Dumper, default_flow_style=flow, sort_keys=False,
                    width=10**9, allow_unicode=True)
    if out.endswith("\n...\n"):
        out = out[:-5]
    return out.rstrip("\n")


def block_lines(key: str, value: object) -> list[str]:
    """`key: value` as block lines; lists of mappings get one flow line per item, so an
    evidence record is one reviewable line of the diff."""
    name = key if str(key).isidentifier() else dump(key, flow=True)
    if isinstance(value, list) and value and all(isinstance(i, dict) for i in value):
        return [f"{name}:"] + [f"- {dump(i, flow=True)}" for i in value]
    if not isinstance(value, dict):
        return dump({key: value}, flow=False).split("\n")
    lines = [f"{name}:"]
    for k, v in value.items():
        lines.extend("  " + ln for ln in block_lines(k, v))
    return lines


def scalar(value: str, quote: str = "") -> str:
    """`value` as a scalar in the given quote style ('' plain where safe, else quoted)."""
    if quote == '"':
        return json.dumps(value, ensure_ascii=False)  # JSON strings are YAML double-quoted
    if quote == "'" or flow_str(value) is None:
        if value.isprintable():
            return "'" + value.replace("'", "''") + "'"
        return json.dumps(value, ensure_ascii=False)
    return flow_str(value)  # type: ignore[return-value]
