"""Reference verifier for otabox's signed update-check replies (the native protocol).

A reply to `GET /api/v1/apps/<app>/check` carries `signed`, a statement of what the server tells this
device, and `signedSignature`, base64 Ed25519 over the statement's canonical JSON (keys sorted, no
spaces, UTF-8). A device that ships the server's public key (`GET /api/v1/signing-key`) and keeps the
highest `sequence` it has accepted can refuse:

- a reply meant for another app, channel or platform (mix-and-match);
- a reply older than one it has already seen (replay, downgrade): `sequence` only grows;
- a reply kept and played back later (freeze): `expiresAt` has passed;
- a bundle other than the one the statement names (`sha256`, `version`).

Copy this file into a client or use it as the specification of the checks. It needs the
`cryptography` package. From a shell:

    python otabox_verify.py --key signing-key.pem --app com.example.app [--channel production]
        [--platform ios] [--last-sequence N] reply.json
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
except ModuleNotFoundError:
    if __name__ != "__main__":
        raise
    raise SystemExit("otabox_verify.py needs the cryptography package: pip install cryptography") from None

CLOCK_SKEW = dt.timedelta(minutes=5)
"""How far ahead of the device's clock a statement may be issued (clocks drift)."""


class VerificationError(Exception):
    """The reply must not be trusted; the message says why."""


def canonical_json(statement: dict) -> bytes:
    return json.dumps(statement, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _time(text) -> dt.datetime:
    try:
        return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    except (TypeError, ValueError):
        raise VerificationError(f"not a timestamp: {text!r}") from None


def _check_signature(statement: dict, signature: str, public_keys_pem: list[str]) -> None:
    try:
        raw = base64.b64decode(signature, validate=True)
    except (TypeError, ValueError):
        raise VerificationError("signedSignature is not base64") from None
    message = canonical_json(statement)
    for pem in public_keys_pem:
        try:
            load_pem_public_key(pem.encode()).verify(raw, message)
            return
        except InvalidSignature:
            continue
    raise VerificationError("the signature does not verify with any trusted key")


def verify_check_reply(reply: dict, public_keys_pem: list[str], app: str, *, channel: str | None = None,
                       platform: str | None = None, last_sequence: int = 0, now: dt.datetime | None = None) -> int:
    """Check a parsed check reply; returns its `sequence`, which the device stores as its new
    `last_sequence` once it acted on the reply. Raises VerificationError."""
    statement, signature = reply.get("signed"), reply.get("signedSignature")
    if not isinstance(statement, dict) or not isinstance(signature, str):
        raise VerificationError("the reply is not signed")
    _check_signature(statement, signature, public_keys_pem)
    if statement.get("app") != app:
        raise VerificationError(f"the reply is for app {statement.get('app')!r}, not {app!r}")
    if channel is not None and statement.get("channel") != channel:
        raise VerificationError(f"the reply is for channel {statement.get('channel')!r}, not {channel!r}")
    if platform is not None and statement.get("platform") != platform:
        raise VerificationError(f"the reply is for platform {statement.get('platform')!r}, not {platform!r}")
    now = now or dt.datetime.now(dt.timezone.utc)
    if _time(statement.get("expiresAt")) <= now:
        raise VerificationError("the reply has expired")
    if _time(statement.get("issuedAt")) > now + CLOCK_SKEW:
        raise VerificationError("the reply is issued in the future")
    sequence = statement.get("sequence")
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < last_sequence:
        raise VerificationError(f"the reply's sequence {sequence!r} is older than {last_sequence} seen before")
    bundle = reply.get("bundle")
    if reply.get("updateAvailable"):
        if not isinstance(bundle, dict) or bundle.get("sha256") != statement.get("sha256") \
                or bundle.get("version") != statement.get("version") or not statement.get("sha256"):
            raise VerificationError("the offered bundle is not the one the statement names")
    elif reply.get("revertToBuiltin") and statement.get("version") != "builtin":
        raise VerificationError("the statement does not say to go back to the built-in bundle")
    return sequence


def verify_bundle(data: bytes, statement: dict) -> None:
    """The downloaded bundle must be the one the verified statement names."""
    if hashlib.sha256(data).hexdigest() != statement.get("sha256"):
        raise VerificationError("the downloaded bundle's SHA-256 differs from the signed one")


def _trusted_key(path: str) -> str:
    """The PEM text of a public key file, refused (ValueError) up front when it is not one."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        pem = handle.read()
    try:
        load_pem_public_key(pem.encode())
    except ValueError:
        raise ValueError(f"{path} is not a PEM public key (GET /api/v1/signing-key gives the server's)") from None
    return pem


def _reply(path: str) -> dict:
    with open(path, "rb") as handle:
        try:
            reply = json.loads(handle.read())
        except ValueError:
            raise VerificationError("the reply is not JSON") from None
    if not isinstance(reply, dict):
        raise VerificationError("the reply is not a JSON object")
    return reply


def main(argv=None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="Verify a signed otabox check reply (JSON file).")
    parser.add_argument("reply", help="the reply body, as JSON")
    parser.add_argument("--key", action="append", required=True, help="a trusted public key (PEM file); repeatable")
    parser.add_argument("--app", required=True, help="the app slug the reply must be for")
    parser.add_argument("--channel", help="the channel the reply must be for")
    parser.add_argument("--platform", help="the platform the reply must be for")
    parser.add_argument("--last-sequence", type=int, default=0, help="the highest sequence accepted before")
    args = parser.parse_args(argv)
    try:
        keys = [_trusted_key(path) for path in args.key]
        reply = _reply(args.reply)
    except OSError as exc:
        print(f"error: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except VerificationError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    try:
        sequence = verify_check_reply(reply, keys, args.app, channel=args.channel, platform=args.platform,
                                      last_sequence=args.last_sequence)
    except VerificationError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    print(f"ok: sequence {sequence}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
