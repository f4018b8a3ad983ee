"""Secrets the server must use again later (a webhook's signing secret), stored encrypted.

A webhook signature is an HMAC keyed with the secret itself, so unlike API keys it cannot be kept as
a hash. It is sealed with AES-256-GCM under a key kept with the server's other secrets (a 0600 file in the
data directory's secrets/, backed up with them, or a row sealed under a salted scrypt key derived from
OTABOX_SECRET_KEY when secrets are shared through the database, store/secrets.py): a copy of the
database alone reveals no webhook secret. The sealing key itself is 32 random bytes, so it needs no
key derivation, and rotating OTABOX_SECRET_KEY re-seals it with the other secrets, never the
webhook secrets it seals."""
from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

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


def load_sealer(store) -> Sealer:
    """The box's sealer, its key kept with the server's other secrets (store/secrets.py) and made on
    first use by exactly one of several processes starting together."""
    key = store.get(SEALING_KEY_FILE) or store.put_if_absent(SEALING_KEY_FILE, AESGCM.generate_key(bit_length=256))
    return Sealer(key)
