"""Where the server's secrets live: files in the data directory, or rows in the database.

One process on one machine keeps them as 0600 files in `<data dir>/secrets/`. Processes on several
machines must share them (they sign and check each other's download URLs, and publish one bundle
signing key), so with `OTABOX_SECRET_KEY` set they live in the database instead, each encrypted with
AES-256-GCM (the secret's name as associated data, so a row cannot be passed off as another) under
a key derived from that variable by scrypt with a random salt. Each sealed value carries its salt:
`scrypt1:<salt>:<nonce + ciphertext>` (base64). The database then never holds a secret in clear,
the variable never reaches the database, and a copy of the database alone is no start for guessing
it: the variable must carry 32 random bytes (`otabox secret-key generate`), and each guess costs a
scrypt. Rows sealed by otabox 0.2.0 (plain base64, key by unsalted HKDF) still open, and schema step
9 seals them again the new way; `otabox secret-key rotate --to NEW` moves every row to a new key."""
from __future__ import annotations

import base64
import binascii
import functools
import os
import re
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ..errors import OtaboxError
from .files import fsync_dir, secure_write
from .models import Secret, utcnow

NONCE_BYTES = 12
SALT_BYTES = 16
KEY_BYTES = 32
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 15, 8, 1
"""32 MiB and about a tenth of a second per derivation (once per process and salt)."""
SEALED_PREFIX = "scrypt1:"
ROTATE_COMMAND = "otabox secret-key rotate --to NEW"


class SecretKeyMismatch(OtaboxError):
    status, code = 503, "secret_key_mismatch"


class WeakSecretKey(OtaboxError):
    code = "weak_secret_key"


def secret_key_bytes(value: str) -> bytes | None:
    """The bytes a key written as hex or base64 (standard or URL-safe, padded or not) stands for."""
    if re.fullmatch(r"(?:[0-9a-fA-F]{2})+", value):
        return bytes.fromhex(value)
    if re.fullmatch(r"[A-Za-z0-9+/_-]+={0,2}", value):
        text = value.rstrip("=").replace("+", "-").replace("/", "_")
        try:
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            return None
    return None


def weakness(value: str) -> str | None:
    """Why `value` is no good as OTABOX_SECRET_KEY, or None. A good key is 32 random bytes written as
    64 hex or 43 base64 characters (or more); text is refused whatever its length, since a
    passphrase's entropy cannot be told from it. Bytes that repeat themselves (fewer than 16
    different values among 32; random bytes have about 30) are refused too."""
    raw = secret_key_bytes(value)
    if raw is None:
        return "it is not written as hex or base64"
    if len(raw) < KEY_BYTES:
        return f"it holds {len(raw)} bytes, not {KEY_BYTES}"
    if len(set(raw)) < 16:
        return "its bytes repeat themselves, as random ones do not"
    return None


def check_secret_key(value: str, name: str = "OTABOX_SECRET_KEY") -> None:
    """Refuse a weak key in one line that says how to replace it."""
    reason = weakness(value)
    if reason:
        raise WeakSecretKey(f"{name} is too weak ({reason}): it must be {KEY_BYTES} random bytes as 64 hex or 43 "
                            "base64 characters; make one with `otabox secret-key generate`, move the secrets to it "
                            f"with `{ROTATE_COMMAND}`, then start with it")


def generate_secret_key() -> str:
    return secrets.token_hex(KEY_BYTES)


@functools.lru_cache(maxsize=8)
def _derived_key(secret_key: str, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=KEY_BYTES, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(secret_key.encode())


def _unsalted_key(secret_key: str) -> bytes:
    """How otabox 0.2.0 derived its key (HKDF, a fixed salt): only to open the rows it sealed."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=b"otabox-secrets",
                info=b"otabox secret store v1").derive(secret_key.encode())


def is_sealed_unsalted(stored: str) -> bool:
    return not stored.startswith(SEALED_PREFIX)


def seal(secret_key: str, salt: bytes, name: str, value: bytes) -> str:
    nonce = os.urandom(NONCE_BYTES)
    sealed = nonce + AESGCM(_derived_key(secret_key, salt)).encrypt(nonce, value, name.encode())
    return f"{SEALED_PREFIX}{base64.b64encode(salt).decode()}:{base64.b64encode(sealed).decode()}"


def unseal(secret_key: str, name: str, stored: str) -> bytes:
    """Open a row of the secret table, sealed either way; SecretKeyMismatch when the key does not."""
    if is_sealed_unsalted(stored):
        key, raw = _unsalted_key(secret_key), base64.b64decode(stored)
    else:
        salt, sealed = stored[len(SEALED_PREFIX):].split(":", 1)
        key, raw = _derived_key(secret_key, base64.b64decode(salt)), base64.b64decode(sealed)
    try:
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], name.encode())
    except InvalidTag:
        raise SecretKeyMismatch("OTABOX_SECRET_KEY does not open the secrets in the database; every otabox "
                                "process on one database needs the same OTABOX_SECRET_KEY") from None


def reseal_all(old_key: str, new_key: str, only_unsalted: bool = False) -> int:
    """Seal every row of the secret table (or only those sealed the 0.2.0 way) again under `new_key`
    with one new salt, inside the caller's transaction; returns how many. Their `updated_at` stays:
    the values are the same, so running processes need not reload them."""
    salt = os.urandom(SALT_BYTES)
    resealed = 0
    for row in Secret.select(Secret.name, Secret.value).order_by(Secret.name):
        if only_unsalted and not is_sealed_unsalted(row.value):
            continue
        value = unseal(old_key, row.name, row.value)
        Secret.update(value=seal(new_key, salt, row.name, value)).where(Secret.name == row.name).execute()
        resealed += 1
    return resealed


class FileSecretStore:
    """Secrets as 0600 files in a 0700 folder (names may contain '/': a subfolder)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _path(self, name: str) -> Path:
        return self.root.joinpath(*name.split("/"))

    def get(self, name: str) -> bytes | None:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            return None

    def put(self, name: str, value: bytes) -> None:
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        secure_write(path, value)

    def put_if_absent(self, name: str, value: bytes) -> bytes:
        """Store `value` unless the secret exists; returns the secret that holds either way (of several
        processes starting together, exactly one makes it: the file is linked into place)."""
        path = self._path(name)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            draft = path.with_name(f".tmp-{path.name}.{os.getpid()}")
            secure_write(draft, value)
            try:
                os.link(draft, path)
                fsync_dir(path.parent)
            except FileExistsError:
                pass
            finally:
                draft.unlink(missing_ok=True)
        return path.read_bytes()

    def changed_at(self, name: str) -> float | None:
        """When the secret was last written (unix seconds), None when it does not exist."""
        try:
            return self._path(name).stat().st_mtime
        except FileNotFoundError:
            return None

    def stamp(self, names) -> tuple:
        """Something that changes whenever one of the named secrets does (cheap to compute)."""
        return tuple(self.changed_at(name) for name in names)


class DatabaseSecretStore:
    """Secrets as sealed rows of the `secret` table, shared by every process on the database."""

    def __init__(self, secret_key: str):
        self._secret_key = secret_key
        self._salt: bytes | None = None

    def _current_salt(self) -> bytes:
        """The salt of the rows sealed so far (a new one for a table without any), so that one
        derivation serves every row this process reads and writes."""
        if self._salt is None:
            row = Secret.select(Secret.value).where(Secret.value.startswith(SEALED_PREFIX)).first()
            self._salt = (base64.b64decode(row.value[len(SEALED_PREFIX):].split(":", 1)[0]) if row is not None
                          else os.urandom(SALT_BYTES))
        return self._salt

    def get(self, name: str) -> bytes | None:
        row = Secret.get_or_none(Secret.name == name)
        return None if row is None else unseal(self._secret_key, name, row.value)

    def _seal(self, name: str, value: bytes) -> str:
        return seal(self._secret_key, self._current_salt(), name, value)

    def put(self, name: str, value: bytes) -> None:
        sealed = self._seal(name, value)
        (Secret.insert(name=name, value=sealed, updated_at=utcnow())
         .on_conflict(conflict_target=[Secret.name], update={Secret.value: sealed, Secret.updated_at: utcnow()})
         .execute())

    def put_if_absent(self, name: str, value: bytes) -> bytes:
        """Store `value` unless the secret exists; returns the secret that holds either way."""
        Secret.insert(name=name, value=self._seal(name, value), updated_at=utcnow()).on_conflict_ignore().execute()
        return self.get(name)

    def changed_at(self, name: str) -> float | None:
        row = Secret.select(Secret.updated_at).where(Secret.name == name).first()
        return None if row is None else row.updated_at.timestamp()

    def stamp(self, names) -> tuple:
        rows = Secret.select(Secret.name, Secret.updated_at).where(Secret.name.in_(list(names)))
        return tuple(sorted((row.name, row.updated_at) for row in rows))

    def import_files(self, files: FileSecretStore) -> list[str]:
        """Copy secrets a single-machine box kept as files into the database (first start with
        OTABOX_SECRET_KEY), so its signing keys and URLs stay valid; returns what was copied."""
        copied = []
        for path in sorted(p for p in files.root.rglob("*") if p.is_file() and not p.name.startswith(".tmp-")):
            name = path.relative_to(files.root).as_posix()
            if self.changed_at(name) is None:
                self.put(name, path.read_bytes())
                copied.append(name)
        return copied
