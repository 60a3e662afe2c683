"""Signed run reports: HMAC-SHA256 over the report's canonical JSON.

A CUDA host proves live-level claims through the report it sends back; without a
signature anyone who can hand `falsify apply` a file can forge a GPU DISCHARGED. The key
is a shared secret in an environment variable (CI secret on both machines), so the
standard library's hmac suffices (no dependency). The signature covers every field but
`signature` itself, serialised canonically: keys sorted, no whitespace, UTF-8, after a
JSON round trip (so the bytes are the same wherever the report is read again).

Trust is configured per project with the ini option `falsify_report_key = env:NAME`:
the key lives in $NAME. With it, `falsify apply` and `falsify check` refuse reports that
are unsigned or badly signed; without it, unsigned reports are accepted as before and a
present signature is still checked when $FALSIFY_REPORT_KEY is set.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

ALGORITHM = "hmac-sha256"
DEFAULT_ENV = "FALSIFY_REPORT_KEY"


class KeyProblem(ValueError):
    """The trust setting cannot be used (bad ini value, key variable not set)."""


def canonical(report: Mapping) -> bytes:
    """The signed bytes: the report without `signature`, canonical JSON."""
    body = {k: v for k, v in report.items() if k != "signature"}
    plain = json.loads(json.dumps(body, default=str))  # what a reader of the file sees
    return json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def key_id(key: bytes) -> str:
    """A short public name of a key (not the key): which key signed a report."""
    return hashlib.sha256(b"pytest-falsify key id\0" + key).hexdigest()[:16]


def sign(report: Mapping, key: bytes) -> dict:
    """`report` with a `signature` field added."""
    mac = hmac.new(key, canonical(report), hashlib.sha256).hexdigest()
    return {**report, "signature": {"alg": ALGORITHM, "key_id": key_id(key), "value": mac}}


def verify(report: Mapping, key: bytes) -> str | None:
    """None when `report` carries a valid signature by `key`, else why not."""
    sig = report.get("signature")
    if sig is None:
        return "unsigned"
    if not isinstance(sig, Mapping) or sig.get("alg") != ALGORITHM or not isinstance(sig.get("value"), str):
        return f"signature is not {ALGORITHM}"
    if sig.get("key_id") != key_id(key):
        return "signed with another key"
    try:
        want = hmac.new(key, canonical(report), hashlib.sha256).hexdigest()
    except ValueError:  # NaN/inf: never produced by a signer
        return "not canonical JSON"
    return None if hmac.compare_digest(want, sig["value"]) else "bad signature (the report was changed)"


@dataclass(frozen=True)
class Trust:
    """Where the key comes from, and whether the project requires signed reports."""

    env: str = DEFAULT_ENV
    required: bool = False

    @classmethod
    def from_ini(cls, value: object) -> Trust:
        """`falsify_report_key`: '' (no trust configured) or 'env:NAME'."""
        text = str(value or "").strip()
        if not text:
            return cls()
        kind, _, name = text.partition(":")
        if kind != "env" or not name.strip() or not name.strip().isidentifier():
            raise KeyProblem(f"falsify_report_key: {text!r}: write env:NAME (the environment "
                             "variable that holds the HMAC key)")
        return cls(env=name.strip(), required=True)

    def key(self, environ: Mapping[str, str] | None = None) -> bytes | None:
        value = (os.environ if environ is None else environ).get(self.env)
        return value.encode("utf-8") if value else None

    def check(self, report: Mapping, environ: Mapping[str, str] | None = None) -> str | None:
        """None when `report` may be applied, else why not (one line)."""
        key = self.key(environ)
        if key is None:
            if self.required:
                raise KeyProblem(f"falsify_report_key names ${self.env}, which is not set: "
                                 "cannot check report signatures")
            return None  # no trust configured, no key here: nothing to check against
        why = verify(report, key)
        if why == "unsigned" and not self.required:
            return None
        return why
