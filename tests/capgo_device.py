"""What a capacitor-updater 8.x device does with a downloaded bundle, for tests.

Mirrors `CryptoCipher.java` and the download step of `CapgoUpdater.java` (plugin 8.51.14): RSA
"public decrypt" (`RSA/ECB/PKCS1Padding` in decrypt mode with a public key, i.e. type-1
unpadding) of the AES key and of the checksum, AES-128-CBC/PKCS5 decryption of the zip, and an
exact comparison of its lowercase hex SHA-256 with the decrypted checksum. Written independently
of otabox.encryption so that each checks the other.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re

from cryptography.hazmat.primitives import padding, serialization
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PUBLIC_KEY_BEGIN = "-----BEGIN RSA PUBLIC KEY-----"


class DeviceError(Exception):
    """The device refused the bundle. `stat` is the failure class: "checksum_required",
    "checksum_fail" (the plugin's stat names) or "decrypt_fail" (what iOS reports; Android reports
    a failed decryption as "download_fail")."""

    def __init__(self, stat: str, message: str):
        super().__init__(f"{stat}: {message}")
        self.stat = stat


def public_decrypt(public_pem: str, block: bytes) -> bytes:
    """m = c^e mod n, then strip PKCS#1 v1.5 type-1 padding (00 01 FF{8,} 00 || data)."""
    numbers = _load_public_key(public_pem).public_numbers()
    size = (numbers.n.bit_length() + 7) // 8
    if len(block) != size or int.from_bytes(block, "big") >= numbers.n:
        raise DeviceError("decrypt_fail", "RSA block has the wrong size")
    padded = pow(int.from_bytes(block, "big"), numbers.e, numbers.n).to_bytes(size, "big")
    separator = padded.find(b"\x00", 2)
    if padded[:2] != b"\x00\x01" or separator < 10 or padded[2:separator].strip(b"\xff"):
        raise DeviceError("decrypt_fail", "bad PKCS#1 type-1 padding")
    return padded[separator + 1:]


def decrypt_checksum(checksum: str, public_pem: str) -> str:
    """The plaintext checksum (hex) from the server's encrypted one, hex ("V3") or base64 (legacy)."""
    if re.fullmatch(r"[0-9a-fA-F]+", checksum):
        raw = bytes.fromhex(checksum) if len(checksum) % 2 == 0 else b""
    else:
        try:
            raw = base64.b64decode(checksum)
        except binascii.Error as error:
            raise DeviceError("checksum_fail", f"checksum is not base64: {error}") from error
    if len(raw) != 256:
        raise DeviceError("checksum_fail", f"encrypted checksum must be 256 bytes, got {len(raw)}")
    return public_decrypt(public_pem, raw).hex()


def decrypt_bundle(ciphertext: bytes, public_pem: str, session_key: str) -> bytes:
    """The plaintext zip, using `session_key` = "<iv b64>:<rsa(aes key) b64>"."""
    parts = session_key.split(":")
    if len(parts) != 2:
        raise DeviceError("decrypt_fail", "session_key is not '<iv>:<key>'")
    try:
        iv = base64.b64decode(parts[0])
        wrapped_key = base64.b64decode(parts[1])
    except binascii.Error as error:
        raise DeviceError("decrypt_fail", f"session_key is not base64: {error}") from error
    if not ciphertext:
        raise DeviceError("decrypt_fail", "empty encrypted data")
    aes_key = public_decrypt(public_pem, wrapped_key)
    if len(aes_key) not in (16, 24, 32) or len(iv) != 16:
        raise DeviceError("decrypt_fail", "bad AES key or IV length")
    decryptor = Cipher(algorithms.AES(aes_key), modes.CBC(iv)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as error:
        raise DeviceError("decrypt_fail", f"AES decryption failed: {error}") from error


def receive_bundle(downloaded: bytes, *, public_key: str = "", session_key: str = "",
                   checksum: str = "") -> bytes:
    """Verify a downloaded zip like the plugin does and return the plaintext zip.

    `public_key` is the app's configured `publicKey` ("" when encryption is off); `session_key` and
    `checksum` are the update reply's fields.
    """
    if public_key and not checksum:
        raise DeviceError("checksum_required", "a public key is configured but the reply has no checksum")
    expected = checksum
    plaintext = downloaded
    if session_key:
        if not public_key.startswith(PUBLIC_KEY_BEGIN):
            raise DeviceError("decrypt_fail", "no RSA public key configured for an encrypted bundle")
        plaintext = decrypt_bundle(downloaded, public_key, session_key)
        expected = decrypt_checksum(checksum, public_key)
    actual = hashlib.sha256(plaintext).hexdigest()
    if (expected or public_key) and expected != actual:
        raise DeviceError("checksum_fail", f"expected {expected}, got {actual}")
    return plaintext


def _load_public_key(public_pem: str):
    """Parse a PKCS#1 public key the plugin's way: strip whitespace and markers, decode base64 DER."""
    body = "".join(public_pem.split())
    for marker in ("-----BEGINRSAPUBLICKEY-----", "-----ENDRSAPUBLICKEY-----"):
        body = body.replace(marker, "")
    return serialization.load_der_public_key(base64.b64decode(body))
