"""A small HTTP client for the management API, used by the publishing commands of the CLI.

Standard library only, so `otabox publish` needs nothing beyond otabox itself."""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import tempfile
import time
import urllib.parse
import zipfile
from pathlib import Path
from typing import Callable

BUSY_RETRIES = 5
"""How often a call answered 503 or 429 (a busy server, a database or bucket briefly away) is tried again."""
MAX_WAIT = 60


def _retry_wait(response, attempt: int) -> int | None:
    """The seconds to wait before trying again after a 429 or 503: what Retry-After asks (at most a
    minute), else a back-off doubling from 1 s; None for any other status."""
    if response.status not in (429, 503):
        return None
    value = response.getheader("Retry-After", "")
    return min(int(value), MAX_WAIT) if value.isdecimal() else min(2 ** attempt, MAX_WAIT)


class ClientError(Exception):
    """A failed call, worded for one line of terminal output."""


class ProgressReader:
    """A file wrapper that reports how many bytes were read, for upload progress bars."""

    def __init__(self, handle, on_read: Callable[[int], None]):
        self.handle, self.on_read = handle, on_read
        self.sent = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.handle.read(size if size and size > 0 else 1024 * 1024)
        if chunk:
            self.sent += len(chunk)
            self.on_read(len(chunk))
        return chunk

    def rewind(self) -> None:
        """Back to the first byte, for sending it again (the progress goes back too)."""
        self.handle.seek(0)
        self.on_read(-self.sent)
        self.sent = 0


class OtaboxClient:
    def __init__(self, server: str, key: str | None, timeout: float = 300,
                 on_retry: Callable[[str], None] | None = None):
        """`on_retry` is told, in a sentence, each time a call is tried again."""
        if not server:
            raise ClientError("no server: pass --server URL or set OTABOX_URL")
        self.server = server.rstrip("/")
        self.key = key
        self.timeout = timeout
        self.on_retry = on_retry

    def _connection(self, url: str):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ClientError(f"not an http(s) URL: {url}")
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        return cls(parts.hostname, parts.port, timeout=self.timeout), target

    def request(self, method: str, path: str, body=None, headers: dict | None = None, auth: bool = True,
                length: int | None = None):
        url = path if path.startswith("http") else self.server + path
        headers = dict(headers or {})
        if auth:
            if not self.key:
                raise ClientError("no API key: pass --key or set OTABOX_KEY")
            headers["Authorization"] = f"Bearer {self.key}"
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if length is not None:
            headers["Content-Length"] = str(length)
        for attempt in range(BUSY_RETRIES + 1):
            connection, target = self._connection(url)
            try:
                connection.request(method, target, body=body, headers=headers)
                response = connection.getresponse()
                raw = response.read()
            except OSError as exc:
                raise ClientError(f"cannot reach {self.server}: {exc}") from None
            finally:
                connection.close()
            wait = _retry_wait(response, attempt)
            if wait is None or attempt == BUSY_RETRIES or not (isinstance(body, (bytes, type(None)))
                                                                or hasattr(body, "rewind")):
                break
            if self.on_retry is not None:
                self.on_retry(f"{method} {path.split('?', 1)[0]} answered HTTP {response.status}"
                              f"{_error_code(raw)}; trying again in {wait} s ({attempt + 1}/{BUSY_RETRIES})")
            time.sleep(wait)
            if hasattr(body, "rewind"):
                body.rewind()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        if response.status >= 400:
            error = (data or {}).get("error") if isinstance(data, dict) else None
            if error:
                raise ClientError(f"{error.get('message')} ({error.get('code')}, HTTP {response.status})")
            raise ClientError(f"HTTP {response.status} from {method} {path}")
        return data

    def get(self, path: str):
        return self.request("GET", path)

    def post(self, path: str, body=None):
        return self.request("POST", path, body if body is not None else {})

    def patch(self, path: str, body):
        return self.request("PATCH", path, body)

    def delete(self, path: str):
        return self.request("DELETE", path)

    def upload_bundle(self, app: str, archive: Path, fields: dict, on_progress: Callable[[int], None]) -> dict:
        """The two-step upload: initiate, PUT the bytes to the signed URL, finalize."""
        size, sha256 = archive.stat().st_size, file_sha256(archive)
        ticket = self.post(f"/api/v1/apps/{app}/bundles/initiate", {**fields, "size": size, "sha256": sha256})
        with open(archive, "rb") as handle:
            self.request("PUT", ticket["uploadUrl"], body=ProgressReader(handle, on_progress), auth=False,
                         headers={"Content-Type": "application/zip"}, length=size)
        return self.post(f"/api/v1/apps/{app}/bundles/finalize", {"uploadId": ticket["uploadId"]})


def _error_code(raw: bytes) -> str:
    """` (code)` of an otabox error body, or nothing."""
    try:
        return f" ({json.loads(raw)['error']['code']})"
    except (ValueError, KeyError, TypeError):
        return ""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
"""The one date every entry of a published zip carries (zip's earliest): a rebuild's new file times
must not change the bytes."""
ZIP_FILE_MODE = 0o644


NATIVE_EXECUTABLE_BYTES = 4 * 1024 * 1024
"""A native executable this large in a build folder is almost surely a server or tool binary that
landed there by mistake (the single otabox binary is 35 MB), not part of a web or JS bundle."""
EXECUTABLE_MAGIC = {b"\x7fELF": "ELF", b"\xfe\xed\xfa\xce": "Mach-O", b"\xfe\xed\xfa\xcf": "Mach-O",
                    b"\xce\xfa\xed\xfe": "Mach-O", b"\xcf\xfa\xed\xfe": "Mach-O", b"\xca\xfe\xba\xbe": "Mach-O",
                    b"MZ": "PE"}


def native_executables(folder: Path) -> list[tuple[Path, int, str]]:
    """The ELF, Mach-O and PE files above NATIVE_EXECUTABLE_BYTES in a folder: (path, size, kind)."""
    found = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.is_symlink() or (size := path.stat().st_size) <= NATIVE_EXECUTABLE_BYTES:
            continue
        with open(path, "rb") as handle:
            head = handle.read(4)
        kind = next((name for magic, name in EXECUTABLE_MAGIC.items() if head.startswith(magic)), None)
        if kind:
            found.append((path, size, kind))
    return found


def zip_folder(folder: Path) -> Path:
    """Zip a build folder (paths relative to it) into a temporary file the caller removes.

    The zip is deterministic: entries sorted by path, with a fixed date, mode and compression, so the
    same files give the same bytes and SHA-256 whenever and wherever they were built (the idempotent
    republish of `otabox publish` compares them)."""
    fd, name = tempfile.mkstemp(suffix=".zip", prefix="otabox-")
    os.close(fd)
    files = sorted((path.relative_to(folder).as_posix(), path) for path in folder.rglob("*")
                   if path.is_file() and not path.is_symlink())
    with zipfile.ZipFile(name, "w") as archive:
        for entry_name, path in files:
            entry = zipfile.ZipInfo(entry_name, date_time=ZIP_TIMESTAMP)
            entry.create_system = 3  # Unix, so the mode below is read as one
            entry.external_attr = (0o100000 | ZIP_FILE_MODE) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.file_size = path.stat().st_size  # lets zipfile pick ZIP64 for a file above 2 GB up front
            with open(path, "rb") as source, archive.open(entry, "w") as target:
                while chunk := source.read(1024 * 1024):
                    target.write(chunk)
    return Path(name)
