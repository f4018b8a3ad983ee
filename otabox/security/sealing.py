"""Secrets the server must use again later (a webhook's signing secret), stored encrypted.

A webhook signature is an HMAC keyed with the secret itself, so unlike API keys it cannot be kept as
a hash. It is sealed with AES-256-GCM under a key file in the data directory's secrets/ (mode 0600,
backed up with the other secrets): a copy of the database alone reveals no webhook secret."""
from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..store.files import fsync_dir, secure_write

SEALING_KEY_FILE = "sealing.key"
PREFIX = "v1:"


class Sealer:
    def __init__(self, key: bytes):
        self._aead = AESGCM(key)

    def seal(self, text: str, context: bytes = b"") -> str:
        nonce = os.urandom(12)
        return PREFIX + base64.b64encode(nonce + self._aead.encrypt(nonce, text.encode(), context)).decode()

    def unseal(self, sealed: str, context: bytes = b"") -> str:
        if not sealed.startswith(PREFIX):
            raise ValueError("not a sealed value")
        raw = base64.b64decode(sealed[len(PREFIX):])
        try:
            return self._aead.decrypt(raw[:12], raw[12:], context).decode()
        except InvalidTag:
            raise ValueError("the sealed value does not open with this data directory's key") from None


def load_sealer(secrets_dir: Path) -> Sealer:
    """The data directory's sealer; its key is made on first use (by exactly one of several processes
    starting together: the file is linked into place only if none is there yet)."""
    path = Path(secrets_dir) / SEALING_KEY_FILE
    if not path.exists():
        draft = path.with_name(f".{SEALING_KEY_FILE}.{os.getpid()}")
        secure_write(draft, AESGCM.generate_key(bit_length=256))
        try:
            os.link(draft, path)
            fsync_dir(path.parent)
        except FileExistsError:
            pass
        finally:
            draft.unlink(missing_ok=True)
    return Sealer(path.read_bytes())
