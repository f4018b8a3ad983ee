"""Where the server's secrets live: files in the data directory, or rows in the database.

One process on one machine keeps them as 0600 files in `<data dir>/secrets/`. Processes on several
machines must share them (they sign and check each other's download URLs, and publish one bundle
signing key), so with `OTABOX_SECRET_KEY` set they live in the database instead, each encrypted with
AES-256-GCM under a key derived from that variable (and the secret's name as associated data, so a
row cannot be passed off as another). The database then never holds a secret in clear, and the
variable never reaches the database."""
from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import OtaboxError
from .files import fsync_dir, secure_write
from .models import Secret, utcnow

NONCE_BYTES = 12


class SecretKeyMismatch(OtaboxError):
    status, code = 503, "secret_key_mismatch"


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
    """Secrets as encrypted rows of the `secret` table, shared by every process on the database."""

    def __init__(self, secret_key: str):
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"otabox-secrets",
                       info=b"otabox secret store v1").derive(secret_key.encode())
        self._cipher = AESGCM(derived)

    def get(self, name: str) -> bytes | None:
        row = Secret.get_or_none(Secret.name == name)
        if row is None:
            return None
        raw = base64.b64decode(row.value)
        try:
            return self._cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], name.encode())
        except InvalidTag:
            raise SecretKeyMismatch("OTABOX_SECRET_KEY does not open the secrets in the database; every otabox "
                                    "process on one database needs the same OTABOX_SECRET_KEY") from None

    def _seal(self, name: str, value: bytes) -> str:
        nonce = os.urandom(NONCE_BYTES)
        return base64.b64encode(nonce + self._cipher.encrypt(nonce, value, name.encode())).decode()

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
