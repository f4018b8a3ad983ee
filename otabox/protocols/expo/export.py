"""Pure building blocks for the Expo Updates protocol v1.

Nothing here touches HTTP or storage: it reads an `npx expo export` dist (zipped), builds the
manifest and directive JSON, encodes the multipart/mixed reply, signs part bodies, and parses the
structured-field headers the expo-updates client sends.
"""
from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import posixpath
import re
import secrets
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, BinaryIO, Callable, Mapping

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

PLATFORMS = ("ios", "android")
LAUNCH_ASSET_CONTENT_TYPE = "application/javascript"
DEFAULT_SIGNATURE_KEYID = "root"
DEFAULT_SIGNATURE_ALG = "rsa-v1_5-sha256"

_HASH_CHUNK = 64 * 1024
_MAX_JSON_BYTES = 8 * 1024 * 1024
_MACOS_METADATA_DIR = "__MACOSX"

# Looked up before `mimetypes` so the answer does not depend on the host's mime.types.
_CONTENT_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".json": "application/json",
    ".js": "application/javascript",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".html": "text/html",
    ".txt": "text/plain",
}
_FALLBACK_CONTENT_TYPE = "application/octet-stream"


class ExpoExportError(ValueError):
    """The uploaded zip is not a usable `npx expo export` dist; `details` says what is wrong."""

    def __init__(self, message: str, details: Any = None):
        super().__init__(message)
        self.message = message
        self.details = details


@dataclass(frozen=True)
class ExpoFile:
    """One file of an export. `path_in_zip` is the zip member name (any top folder included)."""

    path_in_zip: str
    ext: str
    content_type: str
    sha256_b64url: str
    md5_hex: str
    sha256_hex: str
    size: int

    @property
    def key(self) -> str:
        """The manifest `key`: md5 hex of the contents, as both reference servers use."""
        return self.md5_hex


@dataclass(frozen=True)
class PlatformFiles:
    launch_asset: ExpoFile
    assets: list[ExpoFile]


@dataclass(frozen=True)
class ExpoExport:
    platforms: dict[str, PlatformFiles]
    expo_config: dict
    metadata: dict
    metadata_sha256_hex: str
    root: str = ""

    def all_files(self) -> list[ExpoFile]:
        """Every distinct file referenced by any platform, in a stable order."""
        seen: dict[str, ExpoFile] = {}
        for files in self.platforms.values():
            for expo_file in [files.launch_asset, *files.assets]:
                seen.setdefault(expo_file.path_in_zip, expo_file)
        return list(seen.values())


# --- reading an export -----------------------------------------------------------------------


def read_export(zip_file: str | BinaryIO) -> ExpoExport:
    """Validate a zipped `npx expo export` dist and hash every file it references."""
    try:
        archive = zipfile.ZipFile(zip_file)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ExpoExportError("upload is not a valid zip archive", str(exc)) from exc
    with archive:
        members = {info.filename: info for info in archive.infolist() if not info.is_dir()}
        unsafe = sorted(name for name in members if not _is_safe_path(name))
        if unsafe:
            raise ExpoExportError("zip contains unsafe paths", {"paths": unsafe})
        root = _find_root(members)
        metadata_bytes = _read_small(archive, root + "metadata.json")
        metadata = _parse_json_object(metadata_bytes, "metadata.json")
        expo_config = _read_expo_config(archive, members, root)
        platform_entries = _validate_metadata(metadata)

        hashed: dict[str, ExpoFile] = {}

        def hashed_file(relative_path: str, ext: str, content_type: str | None) -> ExpoFile:
            member = root + relative_path
            if member not in hashed:
                hashed[member] = _hash_member(archive, member, ext, content_type)
            return hashed[member]

        missing = sorted(
            {path for entry in platform_entries.values() for path, _ in entry["files"]}
            - {name[len(root):] for name in members if name.startswith(root)}
        )
        if missing:
            raise ExpoExportError("metadata.json names files missing from the zip", {"missing": missing})

        platforms = {}
        for platform, entry in platform_entries.items():
            bundle_path = entry["bundle"]
            launch = hashed_file(bundle_path, _derived_ext(bundle_path, "", ".bundle"), LAUNCH_ASSET_CONTENT_TYPE)
            assets = [hashed_file(path, _derived_ext(path, ext, ""), None) for path, ext in entry["files"][1:]]
            platforms[platform] = PlatformFiles(launch_asset=launch, assets=assets)
    return ExpoExport(
        platforms=platforms,
        expo_config=expo_config,
        metadata=metadata,
        metadata_sha256_hex=hashlib.sha256(metadata_bytes).hexdigest(),
        root=root,
    )


def _is_safe_path(path: str) -> bool:
    if not path or "\\" in path or "\x00" in path or path.startswith("/"):
        return False
    if re.match(r"^[A-Za-z]:", path):
        return False
    return all(part not in ("..", ".") for part in path.split("/"))


def _find_root(members: Mapping[str, zipfile.ZipInfo]) -> str:
    """'' when metadata.json is at the zip root, else '<folder>/' for a single top-level folder."""
    if "metadata.json" in members:
        return ""
    top_levels = {name.split("/", 1)[0] for name in members if not name.startswith(_MACOS_METADATA_DIR + "/")}
    if len(top_levels) == 1:
        folder = top_levels.pop() + "/"
        if folder + "metadata.json" in members:
            return folder
    raise ExpoExportError(
        "metadata.json not found at the zip root (or inside a single top-level folder)",
        {"entries": sorted(members)[:20]},
    )


def _parse_json_object(data: bytes, name: str) -> dict:
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ExpoExportError(f"{name} is not valid JSON", str(exc)) from exc
    if not isinstance(value, dict):
        raise ExpoExportError(f"{name} must be a JSON object", {"type": type(value).__name__})
    return value


def _read_expo_config(archive: zipfile.ZipFile, members: Mapping[str, zipfile.ZipInfo], root: str) -> dict:
    name = root + "expoConfig.json"
    if name not in members:
        return {}
    return _parse_json_object(_read_small(archive, name), "expoConfig.json")


def _read_small(archive: zipfile.ZipFile, name: str) -> bytes:
    with archive.open(name) as stream:
        data = stream.read(_MAX_JSON_BYTES + 1)
    if len(data) > _MAX_JSON_BYTES:
        raise ExpoExportError(f"{posixpath.basename(name)} is too large", {"limit_bytes": _MAX_JSON_BYTES})
    return data


def _validate_metadata(metadata: dict) -> dict[str, dict]:
    """Return {platform: {"bundle": path, "files": [(path, ext), ...]}} with the bundle first."""
    file_metadata = metadata.get("fileMetadata")
    if not isinstance(file_metadata, dict):
        raise ExpoExportError("metadata.json has no fileMetadata object", {"keys": sorted(metadata)})
    if "version" in metadata and not isinstance(metadata["version"], int):
        raise ExpoExportError("metadata.json version must be an integer", {"version": metadata["version"]})
    entries = {}
    problems = []
    for platform in PLATFORMS:
        if platform not in file_metadata:
            continue
        platform_meta = file_metadata[platform]
        bundle = platform_meta.get("bundle") if isinstance(platform_meta, dict) else None
        raw_assets = platform_meta.get("assets", []) if isinstance(platform_meta, dict) else None
        if not isinstance(bundle, str) or not isinstance(raw_assets, list):
            problems.append(f"fileMetadata.{platform} needs a bundle path and an assets list")
            continue
        files = [(bundle, "")]
        for index, asset in enumerate(raw_assets):
            path = asset.get("path") if isinstance(asset, dict) else None
            ext = asset.get("ext", "") if isinstance(asset, dict) else None
            if not isinstance(path, str) or not isinstance(ext, str):
                problems.append(f"fileMetadata.{platform}.assets[{index}] needs a string path and ext")
                continue
            files.append((path, ext))
        unsafe = [path for path, _ in files if not _is_safe_path(path)]
        if unsafe:
            raise ExpoExportError("metadata.json references unsafe paths", {"paths": unsafe})
        entries[platform] = {"bundle": bundle, "files": files}
    if problems:
        raise ExpoExportError("metadata.json is malformed", {"problems": problems})
    if not entries:
        raise ExpoExportError("metadata.json names no platform (ios or android)", {"platforms": sorted(file_metadata)})
    return entries


def _derived_ext(path: str, declared_ext: str, fallback: str) -> str:
    """The file extension with its dot: the declared one, else the path's suffix, else fallback."""
    if declared_ext:
        return declared_ext if declared_ext.startswith(".") else "." + declared_ext
    suffix = posixpath.splitext(path)[1]
    return suffix or fallback


def content_type_for_ext(ext: str) -> str:
    ext = ext.lower()
    if ext in _CONTENT_TYPES:
        return _CONTENT_TYPES[ext]
    guessed, _ = mimetypes.guess_type("file" + ext, strict=False)
    return guessed or _FALLBACK_CONTENT_TYPE


def _hash_member(archive: zipfile.ZipFile, member: str, ext: str, content_type: str | None) -> ExpoFile:
    sha256 = hashlib.sha256()
    md5 = hashlib.md5()
    size = 0
    with archive.open(member) as stream:
        while chunk := stream.read(_HASH_CHUNK):
            sha256.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    digest = sha256.digest()
    return ExpoFile(
        path_in_zip=member,
        ext=ext,
        content_type=content_type or content_type_for_ext(ext),
        sha256_b64url=b64url_nopad(digest),
        md5_hex=md5.hexdigest(),
        sha256_hex=digest.hex(),
        size=size,
    )


def b64url_nopad(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def uuid_from_bytes(data: bytes) -> str:
    """A deterministic UUID from sha256(data), marked as an RFC 9562 version-8 (custom) UUID."""
    raw = bytearray(hashlib.sha256(data).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x80
    raw[8] = (raw[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(raw)))


# --- manifest and directives -----------------------------------------------------------------


def iso_timestamp(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and a Z, the form the expo-updates clients parse."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _asset_entry(expo_file: ExpoFile, asset_url: Callable[[ExpoFile], str]) -> dict:
    return {
        "hash": expo_file.sha256_b64url,
        "key": expo_file.key,
        "contentType": expo_file.content_type,
        "fileExtension": expo_file.ext,
        "url": asset_url(expo_file),
    }


def build_manifest(
    *,
    update_id: str,
    created_at: datetime,
    runtime_version: str,
    platform_files: PlatformFiles,
    asset_url: Callable[[ExpoFile], str],
    metadata: Mapping[str, str],
    expo_client: Mapping[str, Any],
) -> dict:
    return {
        "id": update_id,
        "createdAt": iso_timestamp(created_at),
        "runtimeVersion": runtime_version,
        "launchAsset": _asset_entry(platform_files.launch_asset, asset_url),
        "assets": [_asset_entry(asset, asset_url) for asset in platform_files.assets],
        "metadata": dict(metadata),
        "extra": {"expoClient": dict(expo_client)},
    }


def directive_no_update() -> dict:
    return {"type": "noUpdateAvailable"}


def directive_rollback(commit_time: datetime) -> dict:
    return {"type": "rollBackToEmbedded", "parameters": {"commitTime": iso_timestamp(commit_time)}}


def json_bytes(payload: Any) -> bytes:
    """Serialize once; these exact bytes are what gets signed and sent."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# --- multipart/mixed -------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    name: str
    json_bytes: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


def signed_json_part(name: str, payload: Any, *, private_key_pem: bytes | None = None, keyid: str = "main") -> Part:
    """A JSON part, carrying an `expo-signature` header over its exact body when a key is given."""
    body = json_bytes(payload)
    if private_key_pem is None:
        return Part(name, body)
    header = signature_header(sign_rsa_sha256(private_key_pem, body), keyid)
    return Part(name, body, {"expo-signature": header})


def encode_multipart(parts: list[Part]) -> tuple[str, bytes]:
    """Encode parts as multipart/mixed; returns (content-type header value, body bytes)."""
    boundary = _boundary_for(parts)
    delimiter = b"--" + boundary.encode("ascii")
    chunks = []
    for part in parts:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", part.name):
            raise ValueError(f"invalid multipart part name: {part.name!r}")
        lines = [f'content-disposition: inline; name="{part.name}"', "content-type: application/json"]
        for header, value in part.headers.items():
            _check_header(header, value)
            lines.append(f"{header}: {value}")
        head = "\r\n".join(lines).encode("ascii")
        chunks.append(delimiter + b"\r\n" + head + b"\r\n\r\n" + part.json_bytes + b"\r\n")
    body = b"".join(chunks) + delimiter + b"--\r\n"
    return f"multipart/mixed; boundary={boundary}", body


def _boundary_for(parts: list[Part]) -> str:
    while True:
        boundary = "otabox-" + secrets.token_hex(16)
        if not any(boundary.encode("ascii") in part.json_bytes for part in parts):
            return boundary


def _check_header(name: str, value: str) -> None:
    if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
        raise ValueError(f"invalid header name: {name!r}")
    if not re.fullmatch(r"[\x20-\x7e\t]*", value):
        raise ValueError(f"invalid characters in header {name}")


# --- code signing ----------------------------------------------------------------------------


def sign_rsa_sha256(private_key_pem: bytes, data: bytes) -> str:
    """Standard base64 of an RSA PKCS#1 v1.5 SHA-256 signature over `data`."""
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the code signing key must be an RSA private key")
    return base64.b64encode(key.sign(data, padding.PKCS1v15(), hashes.SHA256())).decode("ascii")


def signature_header(sig_b64: str, keyid: str) -> str:
    return f"sig={sf_string(sig_b64)}, keyid={sf_string(keyid)}"


def sf_string(value: str) -> str:
    """Serialize an RFC 8941 sf-string (printable ASCII only)."""
    if not re.fullmatch(r"[\x20-\x7e]*", value):
        raise ValueError("structured-field strings allow printable ASCII only")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def load_certificate_and_key(cert_pem: bytes, key_pem: bytes) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """Load and check a code signing pair the way expo-updates will judge it on the device."""
    try:
        certificate = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise ValueError(f"certificate is not a valid PEM X.509 certificate: {exc}") from exc
    try:
        private_key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"private key is not a valid unencrypted PEM key: {exc}") from exc
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise ValueError("the private key must be RSA (expo-updates verifies rsa-v1_5-sha256)")
    cert_public_key = certificate.public_key()
    if not isinstance(cert_public_key, rsa.RSAPublicKey) or (
        cert_public_key.public_numbers() != private_key.public_key().public_numbers()
    ):
        raise ValueError("the private key does not match the certificate's public key")
    try:
        key_usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise ValueError("the certificate has no key usage extension; it needs digitalSignature") from None
    if not key_usage.digital_signature:
        raise ValueError("the certificate's key usage lacks digitalSignature")
    try:
        extended_usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise ValueError("the certificate has no extended key usage; it needs codeSigning") from None
    if ExtendedKeyUsageOID.CODE_SIGNING not in extended_usage:
        raise ValueError("the certificate's extended key usage lacks codeSigning (1.3.6.1.5.5.7.3.3)")
    now = datetime.now(timezone.utc)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise ValueError(
            f"the certificate is not valid now (valid {iso_timestamp(certificate.not_valid_before_utc)}"
            f" to {iso_timestamp(certificate.not_valid_after_utc)})"
        )
    return certificate, private_key


def verify_rsa_sha256(certificate: x509.Certificate, data: bytes, sig_b64: str) -> bool:
    public_key = certificate.public_key()
    try:
        public_key.verify(base64.b64decode(sig_b64, validate=True), data, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


# --- structured-field headers (RFC 8941, the subset expo-updates sends) ----------------------


class StructuredFieldError(ValueError):
    pass


class SfToken(str):
    """An RFC 8941 token, kept apart from sf-strings so string lists can ignore it."""


class _SfParser:
    """Recursive-descent parser for RFC 8941 lists and dictionaries; parameters are discarded."""

    _KEY_START = re.compile(r"[a-z*]")
    _KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
    _TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
    _NUMBER = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,3})?")
    _BYTES = re.compile(r":([A-Za-z0-9+/=]*):")

    def __init__(self, text: str):
        self.text = text.strip(" \t")
        self.pos = 0

    def fail(self, what: str):
        raise StructuredFieldError(f"{what} at position {self.pos} in {self.text!r}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip(self, chars: str) -> None:
        while self.peek() and self.peek() in chars:
            self.pos += 1

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def parse_members(self, parse_member: Callable[[], None]) -> None:
        while not self.at_end():
            parse_member()
            self.skip(" \t")
            if self.at_end():
                return
            if self.peek() != ",":
                self.fail("expected ','")
            self.pos += 1
            self.skip(" \t")
            if self.at_end():
                self.fail("trailing ','")

    def parse_list(self) -> list:
        members: list = []
        self.parse_members(lambda: members.append(self.parse_item_or_inner_list()))
        return members

    def parse_dictionary(self) -> dict:
        members: dict = {}

        def member() -> None:
            key = self.parse_key()
            if self.peek() == "=":
                self.pos += 1
                members[key] = self.parse_item_or_inner_list()
            else:
                self.parse_parameters()
                members[key] = True

        self.parse_members(member)
        return members

    def parse_item_or_inner_list(self):
        if self.peek() == "(":
            return self.parse_inner_list()
        value = self.parse_bare_item()
        self.parse_parameters()
        return value

    def parse_inner_list(self) -> tuple:
        self.pos += 1
        items = []
        while True:
            self.skip(" ")
            if self.peek() == ")":
                self.pos += 1
                self.parse_parameters()
                return tuple(items)
            if self.at_end():
                self.fail("unterminated inner list")
            items.append(self.parse_bare_item())
            self.parse_parameters()
            if self.peek() not in (" ", ")"):
                self.fail("expected ' ' or ')' in inner list")

    def parse_parameters(self) -> None:
        while self.peek() == ";":
            self.pos += 1
            self.skip(" ")
            self.parse_key()
            if self.peek() == "=":
                self.pos += 1
                self.parse_bare_item()

    def parse_key(self) -> str:
        match = self._KEY.match(self.text, self.pos)
        if not match:
            self.fail("expected a key")
        self.pos = match.end()
        return match.group()

    def parse_bare_item(self):
        char = self.peek()
        if char == '"':
            return self.parse_string()
        if char == "?":
            value = self.text[self.pos + 1:self.pos + 2]
            if value not in ("0", "1"):
                self.fail("invalid boolean")
            self.pos += 2
            return value == "1"
        if char == ":":
            match = self._BYTES.match(self.text, self.pos)
            if not match:
                self.fail("invalid byte sequence")
            self.pos = match.end()
            try:
                return base64.b64decode(match.group(1), validate=True)
            except ValueError:
                self.fail("invalid base64 in byte sequence")
        for pattern, convert in ((self._NUMBER, _number), (self._TOKEN, SfToken)):
            match = pattern.match(self.text, self.pos)
            if match:
                self.pos = match.end()
                return convert(match.group())
        self.fail("expected a bare item")

    def parse_string(self) -> str:
        self.pos += 1
        chars = []
        while not self.at_end():
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\":
                escaped = self.peek()
                if escaped not in ('"', "\\"):
                    self.fail("invalid escape in string")
                chars.append(escaped)
                self.pos += 1
            elif char == '"':
                return "".join(chars)
            elif not "\x20" <= char <= "\x7e":
                self.fail("invalid character in string")
            else:
                chars.append(char)
        self.fail("unterminated string")


def _number(text: str) -> int | float:
    return float(text) if "." in text else int(text)


def parse_sf_dictionary(header_value: str) -> dict:
    """Parse an RFC 8941 dictionary to {key: value}; a bare key maps to True. Raises StructuredFieldError."""
    return _SfParser(header_value).parse_dictionary()


def parse_expect_signature(header_value: str) -> dict:
    """Parse `expo-expect-signature`, filling in the protocol defaults for keyid and alg."""
    members = parse_sf_dictionary(header_value)
    members.setdefault("keyid", DEFAULT_SIGNATURE_KEYID)
    members.setdefault("alg", DEFAULT_SIGNATURE_ALG)
    for name in ("keyid", "alg"):
        if not isinstance(members[name], str):
            raise StructuredFieldError(f"expo-expect-signature {name} must be a string or token")
    return members


def parse_sf_string_list(header_value: str | None) -> list[str]:
    """The strings of an RFC 8941 list (e.g. expo-recent-failed-update-ids); [] for anything malformed."""
    if not header_value:
        return []
    try:
        members = _SfParser(header_value).parse_list()
    except StructuredFieldError:
        return []
    return [member for member in members if isinstance(member, str) and not isinstance(member, SfToken)]
