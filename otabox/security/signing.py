"""Secrets of the server and what is signed with them: download URLs (HMAC) and bundles (Ed25519)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from urllib.parse import urlencode

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..store.db import database_failure

URL_KEY_FILE = "url-signing.key"
PREVIOUS_URL_KEY_FILE = "url-signing.previous.key"
BUNDLE_KEY_FILE = "bundle-signing-ed25519.pem"
PREVIOUS_BUNDLE_KEY_FILE = "bundle-signing-ed25519.previous.pem"
"""The one retired key otabox 0.x kept (still published while in its grace period)."""
RETIRED_BUNDLE_KEYS_FILE = "bundle-signing-ed25519.retired.json"
"""Every retired bundle-signing public key with when it was retired: `[{"publicKey", "retiredAt"}]`."""
SIGNING_KEY_GRACE_DAYS = 30
RELOAD_CHECK_SECONDS = 1.0


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class UrlSigner:
    """Signs `(purpose, subject, expires)` with HMAC-SHA256; used for downloads and upload URLs."""

    REUSE_SECONDS = 60

    def __init__(self, key: bytes, previous: bytes | None = None):
        self._key = key
        self._previous = previous
        self._reusable: dict[tuple, tuple[str, int]] = {}

    def sign(self, purpose: str, subject: str, expires: int, key: bytes | None = None) -> str:
        message = f"{purpose}\n{subject}\n{expires}".encode()
        return b64url(hmac.new(key or self._key, message, hashlib.sha256).digest())

    def query(self, purpose: str, subject: str, ttl: int, now: float | None = None) -> tuple[str, int]:
        """The `expires=…&signature=…` query for a URL, and its expiry (unix seconds)."""
        expires = int((now or time.time()) + ttl)
        return urlencode({"expires": expires, "signature": self.sign(purpose, subject, expires)}), expires

    def reusable_query(self, purpose: str, subject: str, ttl: int) -> tuple[str, int]:
        """Like `query`, with the expiry rounded up to the next minute so that one signature serves
        every update check in that minute (each still gets at least `ttl` seconds)."""
        bucket = self.reuse_bucket()
        key = (purpose, subject, ttl, bucket)
        found = self._reusable.get(key)
        if found is None:
            if len(self._reusable) > 10000:
                self._reusable.clear()
            found = self._reusable[key] = self.query(purpose, subject, ttl, now=bucket)
        return found

    def reuse_bucket(self) -> int:
        """The end of the current minute: what reusable signatures count their lifetime from."""
        now = int(time.time())
        return now - now % self.REUSE_SECONDS + self.REUSE_SECONDS

    def check(self, purpose: str, subject: str, expires: str | None, signature: str | None) -> str:
        """'ok', 'invalid' or 'expired'. The signature is compared in constant time. `expires` must be
        written as it was signed: ASCII digits without leading zeros (one URL, one spelling)."""
        if not expires or not signature or not expires.isascii() or not expires.isdecimal() or len(expires) > 12 \
                or str(int(expires)) != expires:
            return "invalid"
        given = signature.encode("utf-8", "replace")
        keys = [self._key] + ([self._previous] if self._previous else [])
        # Every key is tried, so the time taken does not tell which one matched.
        matches = [hmac.compare_digest(self.sign(purpose, subject, int(expires), key).encode(), given) for key in keys]
        if not any(matches):
            return "invalid"
        return "expired" if int(expires) < time.time() else "ok"


def canonical_json(data) -> bytes:
    """The bytes a signed statement's signature covers: keys sorted, no spaces, UTF-8."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def public_pem(private_key: Ed25519PrivateKey) -> str:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def key_id(public_key_pem: str) -> str:
    """A short, stable name for a public key: the first 16 hex of the SHA-256 of its PEM."""
    return hashlib.sha256(public_key_pem.encode()).hexdigest()[:16]


def new_ed25519_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


class BundleSigner:
    """Ed25519 signature over a bundle's raw SHA-256 digest, verifiable with the published key."""

    algorithm = "ed25519"

    def __init__(self, private_key: Ed25519PrivateKey):
        self._key = private_key
        self.public_pem = public_pem(private_key)
        self.key_id = key_id(self.public_pem)

    def sign_digest(self, sha256_hex: str) -> str:
        return base64.b64encode(self._key.sign(bytes.fromhex(sha256_hex))).decode()

    def sign_statement(self, statement: dict) -> str:
        """Base64 Ed25519 over the statement's canonical JSON."""
        return base64.b64encode(self._key.sign(canonical_json(statement))).decode()


class ServerSecrets:
    """The server's own secrets (URL-signing and bundle-signing keys), created on first start.

    They live in a secret store (store/secrets.py: 0600 files in the data directory, or encrypted rows
    in the database shared by several machines). `otabox secrets rotate-url-key` and `otabox
    signing-key rotate` replace them while servers run; each server notices (one look at most once a
    second) and reloads them."""

    NAMES = (URL_KEY_FILE, PREVIOUS_URL_KEY_FILE, BUNDLE_KEY_FILE, PREVIOUS_BUNDLE_KEY_FILE)

    def __init__(self, store):
        self.store = store
        self._create_missing(URL_KEY_FILE, lambda: secrets.token_bytes(32))
        self._create_missing(BUNDLE_KEY_FILE, new_ed25519_pem)
        self._checked_at = 0.0
        self._stamp = None
        self._load()

    def _load(self) -> None:
        self._stamp = self.store.stamp(self.NAMES)
        self._url_signer = UrlSigner(self.store.get(URL_KEY_FILE), self.store.get(PREVIOUS_URL_KEY_FILE))
        self._bundle_signer = BundleSigner(serialization.load_pem_private_key(
            self.store.get(BUNDLE_KEY_FILE), password=None))

    def _fresh(self) -> None:
        now = time.monotonic()
        if now - self._checked_at >= RELOAD_CHECK_SECONDS:
            self._checked_at = now
            try:
                stamp = self.store.stamp(self.NAMES)
            except Exception as exc:  # the database holding them is away: keep signing with the keys loaded
                if database_failure(exc) is None:
                    raise
                return
            if stamp != self._stamp:
                self._load()

    @property
    def url_signer(self) -> UrlSigner:
        self._fresh()
        return self._url_signer

    @property
    def bundle_signer(self) -> BundleSigner:
        self._fresh()
        return self._bundle_signer

    def _retired_keys(self) -> list[dict]:
        """The retired public keys still in their grace period, oldest first: `{"publicKey", "retiredAt"}`
        (unix seconds), the one an older otabox kept included."""
        listed = json.loads(self.store.get(RETIRED_BUNDLE_KEYS_FILE) or b"[]")
        legacy_at = self.store.changed_at(PREVIOUS_BUNDLE_KEY_FILE)
        if legacy_at is not None:
            pem = public_pem(serialization.load_pem_private_key(self.store.get(PREVIOUS_BUNDLE_KEY_FILE),
                                                                password=None))
            listed.insert(0, {"publicKey": pem, "retiredAt": legacy_at})
        horizon = time.time() - SIGNING_KEY_GRACE_DAYS * 86400
        unique = {entry["publicKey"]: entry for entry in reversed(listed) if entry["retiredAt"] > horizon}
        return sorted(unique.values(), key=lambda entry: entry["retiredAt"])

    def published_keys(self) -> list[dict]:
        """The current bundle-signing public key, then every key retired within the grace period, newest
        first, each once. Read from the store, not from the keys this process loaded, so a request
        right after a rotation already lists the new key."""
        current = public_pem(serialization.load_pem_private_key(self.store.get(BUNDLE_KEY_FILE), password=None))
        keys = [{"keyId": key_id(current), "publicKey": current, "current": True}]
        for entry in reversed(self._retired_keys()):
            if all(key["publicKey"] != entry["publicKey"] for key in keys):
                keys.append({"keyId": key_id(entry["publicKey"]), "publicKey": entry["publicKey"], "current": False,
                             "retiredAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(entry["retiredAt"]))})
        return keys

    def rotate_url_key(self) -> None:
        """New URL key; URLs signed with the old one stay valid until they expire."""
        self.store.put(PREVIOUS_URL_KEY_FILE, self.store.get(URL_KEY_FILE))
        self.store.put(URL_KEY_FILE, secrets.token_bytes(32))
        self._load()

    def rotate_bundle_key(self) -> None:
        """New bundle-signing key; every retired public key stays published for the grace period."""
        retiring = public_pem(serialization.load_pem_private_key(self.store.get(BUNDLE_KEY_FILE), password=None))
        retired = self._retired_keys() + [{"publicKey": retiring, "retiredAt": time.time()}]
        self.store.put(RETIRED_BUNDLE_KEYS_FILE, json.dumps(retired).encode())
        self.store.put(BUNDLE_KEY_FILE, new_ed25519_pem())
        self._load()

    def _create_missing(self, name: str, make) -> None:
        if self.store.get(name) is None:
            self.store.put_if_absent(name, make())
