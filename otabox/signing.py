"""Secrets of the server and what is signed with them: download URLs (HMAC) and bundles (Ed25519)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .storage import secure_write

URL_KEY_FILE = "url-signing.key"
BUNDLE_KEY_FILE = "bundle-signing-ed25519.pem"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class UrlSigner:
    """Signs `(purpose, subject, expires)` with HMAC-SHA256; used for downloads and upload URLs."""

    REUSE_SECONDS = 60

    def __init__(self, key: bytes):
        self._key = key
        self._reusable: dict[tuple, tuple[str, int]] = {}

    def sign(self, purpose: str, subject: str, expires: int) -> str:
        message = f"{purpose}\n{subject}\n{expires}".encode()
        return b64url(hmac.new(self._key, message, hashlib.sha256).digest())

    def query(self, purpose: str, subject: str, ttl: int, now: float | None = None) -> tuple[str, int]:
        """The `expires=…&signature=…` query for a URL, and its expiry (unix seconds)."""
        expires = int((now or time.time()) + ttl)
        return f"expires={expires}&signature={self.sign(purpose, subject, expires)}", expires

    def reusable_query(self, purpose: str, subject: str, ttl: int) -> tuple[str, int]:
        """Like `query`, with the expiry rounded up to the next minute so that one signature serves
        every update check in that minute (each still gets at least `ttl` seconds)."""
        now = int(time.time())
        bucket = now - now % self.REUSE_SECONDS + self.REUSE_SECONDS
        key = (purpose, subject, ttl, bucket)
        found = self._reusable.get(key)
        if found is None:
            if len(self._reusable) > 10000:
                self._reusable.clear()
            found = self._reusable[key] = self.query(purpose, subject, ttl, now=bucket)
        return found

    def check(self, purpose: str, subject: str, expires: str | None, signature: str | None) -> str:
        """'ok', 'invalid' or 'expired'. The signature is compared in constant time."""
        if not expires or not signature or not expires.isdigit() or len(expires) > 12:
            return "invalid"
        expected = self.sign(purpose, subject, int(expires))
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            return "invalid"
        return "expired" if int(expires) < time.time() else "ok"


class BundleSigner:
    """Ed25519 signature over a bundle's raw SHA-256 digest, verifiable with the published key."""

    algorithm = "ed25519"

    def __init__(self, private_key: Ed25519PrivateKey):
        self._key = private_key
        self.public_pem = private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def sign_digest(self, sha256_hex: str) -> str:
        return base64.b64encode(self._key.sign(bytes.fromhex(sha256_hex))).decode()


class ServerSecrets:
    """The server's secrets in the data directory, created on first start with mode 0600."""

    def __init__(self, secrets_dir: Path):
        self.dir = Path(secrets_dir)
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.url_signer = UrlSigner(self._load_or_create(URL_KEY_FILE, lambda: secrets.token_bytes(32)))
        pem = self._load_or_create(BUNDLE_KEY_FILE, lambda: Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        self.bundle_signer = BundleSigner(serialization.load_pem_private_key(pem, password=None))

    def _load_or_create(self, name: str, make) -> bytes:
        path = self.dir / name
        if not path.exists():
            secure_write(path, make())
        return path.read_bytes()
