"""Capgo-compatible end-to-end bundle encryption (the capacitor-updater "v2" scheme).

The team keeps an RSA-2048 private key; apps ship the public key. A bundle is encrypted with
AES-128-CBC under a random key and IV, and the AES key and the bundle's SHA-256 are
"private-key encrypted" (RSA PKCS#1 v1.5 type-1 padding, what Node's `crypto.privateEncrypt`
does) so that the device recovers them with the public key. The output is interchangeable with
`npx @capgo/cli bundle encrypt`: same `session_key` ("<iv b64>:<rsa b64>") and same hex checksum
(the "V3" format read by capacitor-updater >= 5.30 / 6.30 / 7.30).

The server never runs any of this: it only stores the ciphertext and hands out the
`session_key` and checksum it was given. These helpers serve the `otabox encrypt` tooling.
"""
from __future__ import annotations

import base64
import hashlib
import io
import os
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Union

from cryptography.hazmat.primitives import padding, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

KEY_BITS = 2048
"""capacitor-updater rejects an encrypted checksum that is not exactly 256 bytes (RSA-2048)."""

AES_KEY_BYTES = 16
CHUNK_BYTES = 1024 * 1024
PUBLIC_KEY_MARKERS = ("-----BEGIN RSA PUBLIC KEY-----", "-----END RSA PUBLIC KEY-----")

PrivateKeyInput = Union[bytes, str, rsa.RSAPrivateKey]
Source = Union[bytes, bytearray, memoryview, str, os.PathLike, BinaryIO]
Target = Union[str, os.PathLike, BinaryIO]


@dataclass(frozen=True)
class EncryptedBundle:
    """What the upload needs besides the ciphertext itself."""

    session_key: str
    """`base64(iv) + ":" + base64(private_encrypt(aes_key))`, sent to devices as `session_key`."""
    checksum: str
    """Hex of `private_encrypt(sha256(plaintext zip))`, sent to devices as `checksum`."""
    sha256_plain: str
    """Lowercase hex SHA-256 of the plaintext zip."""
    sha256_encrypted: str
    """Lowercase hex SHA-256 of the ciphertext (the bytes the server stores)."""
    encrypted_size: int


def generate_key_pair() -> tuple[bytes, bytes]:
    """A new key pair as PEM: PKCS#1 private and PKCS#1 public, as `capgo key create` writes them."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return private_pem, public_key_pem(key)


def public_key_pem(private_key: PrivateKeyInput) -> bytes:
    """The PKCS#1 public key PEM (`BEGIN RSA PUBLIC KEY`) of a private key."""
    return load_private_key(private_key).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)


def key_id(public_pem: bytes | str) -> str:
    """The `key_id` a device sends: the first 20 characters of the public key's base64 body.

    Same rule as the plugin's `calcKeyId` and the CLI: drop whitespace and the PKCS#1 PEM markers.
    Every RSA-2048 key starts with "MIIBCgKCAQEA", so only the last 8 characters tell keys apart.
    """
    text = public_pem.decode() if isinstance(public_pem, bytes) else public_pem
    body = "".join(text.split())
    for marker in PUBLIC_KEY_MARKERS:
        body = body.replace("".join(marker.split()), "")
    return body[:20]


def load_private_key(private_key: PrivateKeyInput) -> rsa.RSAPrivateKey:
    """An RSA-2048 private key from PEM (PKCS#1 or PKCS#8) or an already loaded key."""
    if isinstance(private_key, str):
        private_key = private_key.encode()
    if isinstance(private_key, bytes):
        private_key = serialization.load_pem_private_key(private_key, password=None)
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise ValueError("the encryption key must be an RSA private key")
    if private_key.key_size != KEY_BITS:
        raise ValueError(f"the encryption key must be RSA-{KEY_BITS} (capacitor-updater requires it), "
                         f"not RSA-{private_key.key_size}")
    return private_key


def private_encrypt(private_key: PrivateKeyInput, data: bytes) -> bytes:
    """RSA "encrypt with the private key": PKCS#1 v1.5 type-1 padding, then m^d mod n.

    `cryptography` has no raw private-key operation, so this is done with integers. The padding is
    deterministic, so the result equals Node's `crypto.privateEncrypt(RSA_PKCS1_PADDING)` byte
    for byte. Python's `pow` is not constant-time; this runs on the publisher's machine with the
    publisher's own inputs, never on attacker-chosen data in the server.
    """
    key = load_private_key(private_key)
    numbers = key.private_numbers()
    size = (key.key_size + 7) // 8
    if len(data) > size - 11:
        raise ValueError(f"at most {size - 11} bytes fit in one RSA-{key.key_size} block")
    block = b"\x00\x01" + b"\xff" * (size - 3 - len(data)) + b"\x00" + data
    value = pow(int.from_bytes(block, "big"), numbers.d, numbers.public_numbers.n)
    return value.to_bytes(size, "big")


def encrypt_file_hash(private_key: PrivateKeyInput, sha256_hex: str) -> str:
    """Hex of `private_encrypt(raw digest)`: a bundle's `checksum` or a manifest entry's `file_hash`."""
    digest = bytes.fromhex(sha256_hex)
    if len(digest) != 32:
        raise ValueError("expected a hex SHA-256 digest (64 hex characters)")
    return private_encrypt(private_key, digest).hex()


def encrypt_bundle(source: Source, private_key: PrivateKeyInput, out: Target) -> EncryptedBundle:
    """Encrypt a zip (bytes, a path or a binary stream) into `out` (a path or a binary stream).

    The zip is streamed in 1 MiB chunks, so bundle size does not matter for memory.
    """
    key = load_private_key(private_key)
    aes_key = os.urandom(AES_KEY_BYTES)
    iv = os.urandom(16)
    encryptor = Cipher(algorithms.AES(aes_key), modes.CBC(iv)).encryptor()
    padder = padding.PKCS7(128).padder()
    plain_hash = hashlib.sha256()
    cipher_hash = hashlib.sha256()
    size = 0

    with _open_source(source) as reader, _open_target(out) as writer:
        def emit(chunk: bytes) -> None:
            nonlocal size
            if chunk:
                cipher_hash.update(chunk)
                writer.write(chunk)
                size += len(chunk)

        while chunk := reader.read(CHUNK_BYTES):
            plain_hash.update(chunk)
            emit(encryptor.update(padder.update(chunk)))
        emit(encryptor.update(padder.finalize()) + encryptor.finalize())

    session_key = base64.b64encode(iv).decode() + ":" + base64.b64encode(private_encrypt(key, aes_key)).decode()
    sha256_plain = plain_hash.hexdigest()
    return EncryptedBundle(
        session_key=session_key,
        checksum=encrypt_file_hash(key, sha256_plain),
        sha256_plain=sha256_plain,
        sha256_encrypted=cipher_hash.hexdigest(),
        encrypted_size=size,
    )


def _open_source(source: Source):
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(source)
    if isinstance(source, (str, os.PathLike)):
        return open(Path(source), "rb")
    return nullcontext(source)


def _open_target(target: Target):
    if isinstance(target, (str, os.PathLike)):
        return open(Path(target), "wb")
    return nullcontext(target)
