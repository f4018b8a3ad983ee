"""otabox.encryption against the real @capgo/cli 8.68.1 and a mirror of the capacitor-updater device."""
from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from capgo_device import DeviceError, decrypt_checksum, public_decrypt, receive_bundle
from capgo_project import CapgoCliError, CapgoProject
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from otabox.security.encryption import (
    CHUNK_BYTES,
    encrypt_bundle,
    encrypt_file_hash,
    generate_key_pair,
    key_id,
    private_encrypt,
    public_key_pem,
)

APP_ID = "com.example.otabox"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> CapgoProject:
    project = CapgoProject(tmp_path_factory.mktemp("capgo") / "app", APP_ID)
    project.write_web_file("assets/logo.bin", bytes(range(256)) * 64)
    project.run("key", "create", "--force")
    return project


@pytest.fixture(scope="module")
def cli_keys(project) -> tuple[str, str]:
    """The private and public PEM that `capgo key create` wrote."""
    return ((project.root / ".capgo_key_v2").read_text(),
            (project.root / ".capgo_key_v2.pub").read_text())


@pytest.fixture(scope="module")
def cli_zip(project) -> dict:
    """`bundle zip --json` output plus the zip's path and bytes."""
    result = project.run("bundle", "zip", "--json", json=True)
    path = project.root / result["filename"]
    return {**result, "path": path, "bytes": path.read_bytes()}


@pytest.fixture(scope="module")
def cli_encrypted(project, cli_zip) -> dict:
    """`bundle encrypt <zip> <checksum> --json` output plus the ciphertext bytes."""
    result = project.run("bundle", "encrypt", str(cli_zip["path"]), cli_zip["checksum"], "--json", json=True)
    return {**result, "bytes": (project.root / result["filename"]).read_bytes()}


def pem_body(pem: str) -> str:
    return "".join(line.strip() for line in pem.strip().splitlines()[1:-1])


def copy_zip(cli_zip: dict, name: str) -> Path:
    """A private copy: the CLI names its output after the input, so each run needs its own input."""
    path = cli_zip["path"].with_name(name)
    path.write_bytes(cli_zip["bytes"])
    return path


# --- what the CLI produces -------------------------------------------------------------------------

def test_cli_key_files_are_pkcs1_and_match_our_formats(project, cli_keys):
    private_pem, public_pem = cli_keys
    assert private_pem.startswith("-----BEGIN RSA PRIVATE KEY-----\n")
    assert public_pem.startswith("-----BEGIN RSA PUBLIC KEY-----\n")
    assert project.updater_config["publicKey"] == public_pem
    assert public_key_pem(private_pem).decode() == public_pem

    our_private, our_public = generate_key_pair()
    assert our_private.startswith(b"-----BEGIN RSA PRIVATE KEY-----\n")
    assert our_public.startswith(b"-----BEGIN RSA PUBLIC KEY-----\n")
    assert our_private.endswith(b"-----END RSA PRIVATE KEY-----\n")
    assert our_public.endswith(b"-----END RSA PUBLIC KEY-----\n")
    assert len(our_public) == len(public_pem)
    assert serialization.load_pem_private_key(our_private, None).key_size == 2048


def test_bundle_zip_checksum_is_sha256_hex_of_the_zip(cli_zip):
    assert cli_zip["bundle"] == "1.0.0"
    assert cli_zip["checksum"] == hashlib.sha256(cli_zip["bytes"]).hexdigest()
    with zipfile.ZipFile(io.BytesIO(cli_zip["bytes"])) as archive:
        assert {"index.html", "app.js", "assets/logo.bin"} <= set(archive.namelist())


def test_device_mirror_installs_the_cli_encrypted_bundle(cli_keys, cli_zip, cli_encrypted):
    iv, wrapped = cli_encrypted["ivSessionKey"].split(":")
    assert len(base64.b64decode(iv)) == 16 and len(base64.b64decode(wrapped)) == 256
    assert len(cli_encrypted["checksum"]) == 512
    assert cli_encrypted["bytes"] != cli_zip["bytes"]

    plaintext = receive_bundle(cli_encrypted["bytes"], public_key=cli_keys[1],
                               session_key=cli_encrypted["ivSessionKey"], checksum=cli_encrypted["checksum"])
    assert plaintext == cli_zip["bytes"]
    assert decrypt_checksum(cli_encrypted["checksum"], cli_keys[1]) == cli_zip["checksum"]


def test_encrypted_checksum_equals_the_cli_byte_for_byte(cli_keys, cli_zip, cli_encrypted):
    """PKCS#1 type-1 padding is deterministic, so our private_encrypt must equal Node's privateEncrypt."""
    assert encrypt_file_hash(cli_keys[0], cli_zip["checksum"]) == cli_encrypted["checksum"]


# --- what we produce, read by the CLI and the device ------------------------------------------------

def test_cli_decrypts_our_bundle_and_verifies_our_checksum(project, cli_keys, cli_zip):
    encrypted = project.root / "ours.zip"
    bundle = encrypt_bundle(cli_zip["path"], cli_keys[0], encrypted)
    assert bundle.sha256_plain == cli_zip["checksum"]
    assert bundle.sha256_encrypted == hashlib.sha256(encrypted.read_bytes()).hexdigest()
    assert bundle.encrypted_size == encrypted.stat().st_size == (len(cli_zip["bytes"]) // 16 + 1) * 16

    result = project.run("bundle", "decrypt", str(encrypted), bundle.session_key, "--checksum", bundle.checksum)
    assert "Checksum matches" in result.stdout
    assert "V3" in result.stdout
    assert (project.root / "ours.zip_decrypted.zip").read_bytes() == cli_zip["bytes"]

    assert receive_bundle(encrypted.read_bytes(), public_key=cli_keys[1], session_key=bundle.session_key,
                          checksum=bundle.checksum) == cli_zip["bytes"]


def test_cli_decrypt_rejects_a_checksum_of_other_bytes(project, cli_keys, cli_zip):
    encrypted = project.root / "other.zip"
    bundle = encrypt_bundle(cli_zip["bytes"], cli_keys[0], encrypted)
    wrong = encrypt_file_hash(cli_keys[0], hashlib.sha256(b"other bytes").hexdigest())
    with pytest.raises(CapgoCliError) as failure:
        project.run("bundle", "decrypt", str(encrypted), bundle.session_key, "--checksum", wrong)
    assert "Checksum does not match" in failure.value.result.stdout + failure.value.result.stderr


def test_cli_uses_our_generated_key_pair(project, cli_zip, tmp_path):
    private_pem, public_pem = generate_key_pair()
    (tmp_path / "ours.key").write_bytes(private_pem)
    (tmp_path / "ours.key.pub").write_bytes(public_pem)

    source = copy_zip(cli_zip, "for-our-key.zip")
    theirs = project.run("bundle", "encrypt", str(source), cli_zip["checksum"],
                         "--key", str(tmp_path / "ours.key"), "--json", json=True)
    assert theirs["checksum"] == encrypt_file_hash(private_pem, cli_zip["checksum"])
    ciphertext = (project.root / theirs["filename"]).read_bytes()
    assert receive_bundle(ciphertext, public_key=public_pem.decode(), session_key=theirs["ivSessionKey"],
                          checksum=theirs["checksum"]) == cli_zip["bytes"]

    ours = tmp_path / "ours-encrypted.zip"
    bundle = encrypt_bundle(cli_zip["bytes"], private_pem, ours)
    result = project.run("bundle", "decrypt", str(ours), bundle.session_key, "--checksum", bundle.checksum,
                         "--key", str(tmp_path / "ours.key.pub"))
    assert "Checksum matches" in result.stdout
    assert (tmp_path / "ours-encrypted.zip_decrypted.zip").read_bytes() == cli_zip["bytes"]


# --- key_id ------------------------------------------------------------------------------------------

def test_key_id_is_what_the_plugin_sends(cli_keys, project):
    public_pem = cli_keys[1]
    expected = pem_body(public_pem)[:20]
    assert key_id(public_pem) == expected
    assert key_id(public_pem.encode()) == expected
    assert key_id(project.updater_config["publicKey"]) == expected
    assert key_id(public_pem.replace("\n", "\r\n")) == expected
    assert expected.startswith("MIIBCgKCAQEA") and len(expected) == 20


def test_key_ids_of_different_keys_differ():
    assert key_id(generate_key_pair()[1]) != key_id(generate_key_pair()[1])


# --- the device refuses what it cannot verify ---------------------------------------------------------

def flip_byte(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1:]


def with_rsa_part_flipped(session_key: str) -> str:
    iv, wrapped = session_key.split(":")
    return iv + ":" + base64.b64encode(flip_byte(base64.b64decode(wrapped), 100)).decode()


def with_iv_flipped(session_key: str) -> str:
    iv, wrapped = session_key.split(":")
    return base64.b64encode(flip_byte(base64.b64decode(iv), 0)).decode() + ":" + wrapped


@pytest.mark.parametrize("tamper, stats", [
    (lambda e: {**e, "bytes": flip_byte(e["bytes"], len(e["bytes"]) // 2)}, {"checksum_fail", "decrypt_fail"}),
    (lambda e: {**e, "bytes": e["bytes"][:-16]}, {"checksum_fail", "decrypt_fail"}),
    (lambda e: {**e, "ivSessionKey": with_iv_flipped(e["ivSessionKey"])}, {"checksum_fail"}),
    (lambda e: {**e, "ivSessionKey": with_rsa_part_flipped(e["ivSessionKey"])}, {"decrypt_fail"}),
    (lambda e: {**e, "checksum": flip_byte(bytes.fromhex(e["checksum"]), 7).hex()}, {"decrypt_fail"}),
    (lambda e: {**e, "checksum": ""}, {"checksum_required"}),
], ids=["ciphertext", "truncated", "iv", "session-key", "checksum", "no-checksum"])
def test_device_mirror_refuses_tampered_bundles(cli_keys, cli_encrypted, tamper, stats):
    tampered = tamper(cli_encrypted)
    with pytest.raises(DeviceError) as refusal:
        receive_bundle(tampered["bytes"], public_key=cli_keys[1], session_key=tampered["ivSessionKey"],
                       checksum=tampered["checksum"])
    assert refusal.value.stat in stats


def test_device_mirror_refuses_a_bundle_for_another_key(cli_keys, cli_encrypted):
    other_public = generate_key_pair()[1].decode()
    with pytest.raises(DeviceError) as refusal:
        receive_bundle(cli_encrypted["bytes"], public_key=other_public,
                       session_key=cli_encrypted["ivSessionKey"], checksum=cli_encrypted["checksum"])
    assert refusal.value.stat == "decrypt_fail"


def test_device_mirror_reads_the_legacy_base64_checksum(cli_keys, cli_zip, cli_encrypted):
    legacy = base64.b64encode(bytes.fromhex(cli_encrypted["checksum"])).decode()
    assert receive_bundle(cli_encrypted["bytes"], public_key=cli_keys[1],
                          session_key=cli_encrypted["ivSessionKey"], checksum=legacy) == cli_zip["bytes"]


# --- the primitives on their own ------------------------------------------------------------------------

def test_private_encrypt_pads_with_type_1_and_inverts_with_the_public_key():
    private_pem, public_pem = generate_key_pair()
    block = private_encrypt(private_pem, b"sixteen byte key")
    assert len(block) == 256
    assert public_decrypt(public_pem.decode(), block) == b"sixteen byte key"
    assert private_encrypt(private_pem, b"sixteen byte key") == block
    assert private_encrypt(private_pem, b"x" * 245)
    with pytest.raises(ValueError):
        private_encrypt(private_pem, b"x" * 246)


def test_keys_other_than_rsa_2048_are_refused():
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ValueError, match="RSA-2048"):
        encrypt_file_hash(small, "00" * 32)
    with pytest.raises(ValueError, match="SHA-256"):
        encrypt_file_hash(generate_key_pair()[0], "abcd")


class ChunkRecordingReader(io.RawIOBase):
    """A stream that records the read sizes asked of it, to prove the zip is not read whole."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)
        self.requests: list[int] = []

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.requests.append(size)
        return self._data.read(size)


def test_encrypt_bundle_streams_in_chunks_and_uses_a_fresh_key_each_time():
    private_pem, public_pem = generate_key_pair()
    plaintext = hashlib.sha256(b"seed").digest() * (CHUNK_BYTES * 3 // 32 + 7)
    reader = ChunkRecordingReader(plaintext)
    first_out = io.BytesIO()
    first = encrypt_bundle(reader, private_pem, first_out)
    assert reader.requests and all(0 < size <= CHUNK_BYTES for size in reader.requests)
    assert not reader.closed

    second_out = io.BytesIO()
    second = encrypt_bundle(plaintext, private_pem, second_out)
    assert first.session_key != second.session_key
    assert first_out.getvalue() != second_out.getvalue()
    assert first.checksum == second.checksum
    assert first.sha256_plain == hashlib.sha256(plaintext).hexdigest()
    assert first.encrypted_size == len(first_out.getvalue()) == (len(plaintext) // 16 + 1) * 16

    for bundle, out in ((first, first_out), (second, second_out)):
        assert receive_bundle(out.getvalue(), public_key=public_pem.decode(), session_key=bundle.session_key,
                              checksum=bundle.checksum) == plaintext
