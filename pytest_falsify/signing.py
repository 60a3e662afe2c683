"""Signed run reports: HMAC-SHA256 (or Ed25519) over the report's canonical JSON.

A CUDA host proves live-level claims through the report it sends back; without a
signature anyone who can hand `falsify apply` a file can forge a GPU DISCHARGED. The key
is a shared secret in an environment variable (CI secret on both machines), so the
standard library's hmac suffices (no dependency). The signature covers every field but
`signature` itself, serialised canonically: keys sorted, no whitespace, UTF-8, after a
JSON round trip (so the bytes are the same wherever the report is read again).

Trust is configured per project with the ini option `falsify_report_key`:

- `env:NAME`: an HMAC key in $NAME (the same secret on the signing and the applying side);
- `ed25519:<base64 public key>`: the CUDA host signs with the private key in
  $FALSIFY_REPORT_SIGNING_KEY, and the applying side holds only the public key, so it
  cannot forge a report itself (needs the `cryptography` package, extra `signing`).

With either, `falsify apply` and `falsify check` refuse reports that are unsigned or badly
signed; without it, unsigned reports are accepted as before and a present HMAC signature
is still checked when $FALSIFY_REPORT_KEY is set.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

ALGORITHM = "hmac-sha256"
ED25519 = "ed25519"
DEFAULT_ENV = "FALSIFY_REPORT_KEY"
SIGNING_ENV = "FALSIFY_REPORT_SIGNING_KEY"


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


def _header(report: Mapping, alg: str, kid: str) -> str | None:
    """Why the signature field cannot be by `kid` with `alg` (None: check its value)."""
    sig = report.get("signature")
    if sig is None:
        return "unsigned"
    if not isinstance(sig, Mapping) or sig.get("alg") != alg or not isinstance(sig.get("value"), str):
        return f"signature is not {alg}"
    return None if sig.get("key_id") == kid else "signed with another key"


def verify(report: Mapping, key: bytes) -> str | None:
    """None when `report` carries a valid signature by `key`, else why not."""
    why = _header(report, ALGORITHM, key_id(key))
    if why:
        return why
    sig = report["signature"]
    try:
        want = hmac.new(key, canonical(report), hashlib.sha256).hexdigest()
    except ValueError:  # NaN/inf: never produced by a signer
        return "not canonical JSON"
    return None if hmac.compare_digest(want, sig["value"]) else "bad signature (the report was changed)"


def _ed25519():
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise KeyProblem("ed25519 report keys need the cryptography package: "
                         "pip install 'pytest-falsify[signing]'") from None
    return ed25519


def _b64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise KeyProblem(f"{what}: not a base64 Ed25519 key of 32 bytes")
    return raw


def ed25519_keypair() -> tuple[str, str]:
    """(private, public) base64 keys: the private one for $FALSIFY_REPORT_SIGNING_KEY on
    the CUDA host, the public one for `falsify_report_key = ed25519:...`."""
    from cryptography.hazmat.primitives import serialization as ser

    key = _ed25519().Ed25519PrivateKey.generate()
    private = key.private_bytes(ser.Encoding.Raw, ser.PrivateFormat.Raw, ser.NoEncryption())
    public = key.public_key().public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw)
    return base64.b64encode(private).decode(), base64.b64encode(public).decode()


def sign_ed25519(report: Mapping, private_b64: str) -> dict:
    from cryptography.hazmat.primitives import serialization as ser

    key = _ed25519().Ed25519PrivateKey.from_private_bytes(_b64(private_b64, SIGNING_ENV))
    public = key.public_key().public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw)
    value = base64.b64encode(key.sign(canonical(report))).decode()
    return {**report, "signature": {"alg": ED25519, "key_id": key_id(public), "value": value}}


def verify_ed25519(report: Mapping, public: bytes) -> str | None:
    """None when `report` carries a valid Ed25519 signature by `public`, else why not."""
    from cryptography.exceptions import InvalidSignature

    why = _header(report, ED25519, key_id(public))
    if why:
        return why
    sig = report["signature"]
    try:
        raw = base64.b64decode(sig["value"], validate=True)
        _ed25519().Ed25519PublicKey.from_public_bytes(public).verify(raw, canonical(report))
    except (InvalidSignature, binascii.Error, ValueError):
        return "bad signature (the report was changed)"
    return None


@dataclass(frozen=True)
class Trust:
    """Where the key comes from, and whether the project requires signed reports."""

    env: str = DEFAULT_ENV
    required: bool = False
    public: bytes | None = None  # Ed25519 public key; None: HMAC

    @classmethod
    def from_ini(cls, value: object) -> Trust:
        """`falsify_report_key`: '' (no trust configured), 'env:NAME' or 'ed25519:KEY'."""
        text = str(value or "").strip()
        if not text:
            return cls()
        kind, _, name = text.partition(":")
        if kind == ED25519:
            _ed25519()
            return cls(required=True, public=_b64(name, "falsify_report_key"))
        if kind != "env" or not name.strip() or not name.strip().isidentifier():
            raise KeyProblem(f"falsify_report_key: {text!r}: write env:NAME (the environment "
                             "variable that holds the HMAC key) or ed25519:<base64 public key>")
        return cls(env=name.strip(), required=True)

    def sign(self, report: Mapping, environ: Mapping[str, str] | None = None) -> Mapping:
        """`report`, signed when this machine holds a key (else as it is)."""
        env = os.environ if environ is None else environ
        key = None if self.public is not None else self.key(env)  # the kind the project checks
        if key is not None:
            return sign(report, key)
        if env.get(SIGNING_ENV) and (self.public is not None or not self.required):
            return sign_ed25519(report, env[SIGNING_ENV])
        return report

    def key(self, environ: Mapping[str, str] | None = None) -> bytes | None:
        value = (os.environ if environ is None else environ).get(self.env)
        return value.encode("utf-8") if value else None

    def check(self, report: Mapping, environ: Mapping[str, str] | None = None) -> str | None:
        """None when `report` may be applied, else why not (one line)."""
        if self.public is not None:
            return verify_ed25519(report, self.public)
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
