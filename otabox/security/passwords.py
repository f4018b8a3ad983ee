"""Passwords: scrypt (memory-hard) from `cryptography`, compared in constant time.

A stored hash reads `scrypt$<log2 n>$<r>$<p>$<salt>$<digest>` (salt and digest in URL-safe base64),
so the cost can rise later without making older hashes unreadable. At n = 2^15, r = 8 one check
takes 32 MiB and a fraction of a second; at most `CONCURRENT_HASHES` run at once, so a burst of
sign-ins cannot take the server's memory (the sign-in rate limits keep bursts short anyway)."""
from __future__ import annotations

import base64
import hmac
import secrets
import threading

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ..errors import BadRequest

LOG2_N, BLOCK_SIZE, PARALLELISM = 15, 8, 1
SALT_BYTES, DIGEST_BYTES = 16, 32
MIN_LENGTH, MAX_LENGTH = 12, 1024
CONCURRENT_HASHES = 2
_slots = threading.BoundedSemaphore(CONCURRENT_HASHES)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    with _slots:
        return Scrypt(salt=salt, length=DIGEST_BYTES, n=2 ** log2_n, r=r, p=p).derive(password.encode())


def check_strength(password) -> str:
    if not isinstance(password, str) or not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise BadRequest(f"a password needs {MIN_LENGTH} to {MAX_LENGTH} characters", code="weak_password",
                         details={"field": "password"})
    return password


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _derive(check_strength(password), salt, LOG2_N, BLOCK_SIZE, PARALLELISM)
    return f"scrypt${LOG2_N}${BLOCK_SIZE}${PARALLELISM}${_b64(salt)}${_b64(digest)}"


DUMMY_HASH = f"scrypt${LOG2_N}${BLOCK_SIZE}${PARALLELISM}${_b64(bytes(SALT_BYTES))}${_b64(bytes(DIGEST_BYTES))}"
"""Checked against when the account does not exist, so a wrong email takes as long as a wrong password."""


def verify_password(password: str, stored: str | None) -> bool:
    """Whether `password` matches `stored`; always spends one scrypt, even without a stored hash."""
    scheme, log2_n, r, p, salt, digest = (stored or DUMMY_HASH).split("$")
    if scheme != "scrypt" or not isinstance(password, str) or len(password) > MAX_LENGTH:
        return False
    derived = _derive(password, _unb64(salt), int(log2_n), int(r), int(p))
    return hmac.compare_digest(derived, _unb64(digest)) and stored is not None


def generate_password() -> str:
    """A password for people to copy once and change: 24 URL-safe characters (144 bits)."""
    return secrets.token_urlsafe(18)
