"""The native protocol's patches: a check from a device on a known bundle (its version, its
`currentSha256`, or "builtin" with an embedded bundle recorded for its native version) offers beside
the full bundle `bundle.patch`, a signed URL to an otabox-patch-v1 archive named in the signed
statement (`patchSha256`), once the patch maker made it; the reference applier
(clients/python/otabox_patch.py) turns the base and the archive into exactly the new bundle's files,
and refuses a tampered archive. Anything in doubt: no `patch` field."""
from __future__ import annotations

import hashlib
import io
import json
import random
import sys
import zipfile

import bsdiff4
import pytest
from conftest import ROOT, check, make_zip

from otabox.core import patch_archive, xzdiff

sys.path.insert(0, str(ROOT / "clients" / "python"))
from otabox_patch import PatchError, apply_archive  # noqa: E402

APP = "com.example.demo"


def js(version: str, size: int = 40_000) -> str:
    rng = random.Random(7)
    text = " ".join(f"function f{rng.randrange(10_000)}(){{return {rng.randrange(100)}}}" for _ in range(size // 28))
    return text.replace("return 42}", f"return '{version}'}}")


OLD_FILES = {"index.js": js("1"), "assets/logo.png": bytes(range(256)) * 40, "moved/a.txt": "stays the same",
             "gone.txt": "deleted in 2"}
NEW_FILES = {"index.js": js("2"), "assets/logo.png": bytes(range(256)) * 40, "moved/b.txt": "stays the same",
             "added.json": json.dumps({"new": list(range(300))})}


def files_of(zip_bytes: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as bundle:
        return {name: bundle.read(name) for name in bundle.namelist() if not name.endswith("/")}


def local(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


@pytest.fixture
def two_bundles(admin, client, box, demo_app):
    old, new = make_zip(OLD_FILES), make_zip(NEW_FILES)
    admin.publish(APP, "1.0.0", zip_bytes=old)
    admin.publish(APP, "1.0.1", zip_bytes=new)
    with box.db.connection_context():
        made = box.patch_maker.run()
    return {"old": old, "new": new, "made": made}


def offered(client, demo_app, **params):
    reply = check(client, demo_app, deviceId="d1", nativeVersion="3.0.0", **params).json
    assert reply["updateAvailable"] is True and reply["bundle"]["version"] == "1.0.1"
    return reply


def test_a_device_on_the_previous_bundle_gets_a_patch_that_rebuilds_the_new_one(client, demo_app, two_bundles,
                                                                                tmp_path):
    assert [m["format"] for m in two_bundles["made"]] == ["otabox-patch-v1"]
    reply = offered(client, demo_app, version="1.0.0")
    patch = reply["bundle"]["patch"]
    assert patch["format"] == "otabox-patch-v1" and patch["baseSha256"] == hashlib.sha256(two_bundles["old"]).hexdigest()
    assert reply["signed"]["patchSha256"] == patch["sha256"]
    assert "signature=" in patch["url"] and patch["expiresAt"].endswith("Z")
    archive = client.get(local(patch["url"])).data
    assert len(archive) == patch["size"] and patch["size"] < len(two_bundles["new"])
    (tmp_path / "base.zip").write_bytes(two_bundles["old"])
    manifest = apply_archive(tmp_path / "base.zip", archive, tmp_path / "new", reply["signed"]["patchSha256"])
    built = {str(p.relative_to(tmp_path / "new")): p.read_bytes() for p in (tmp_path / "new").rglob("*") if p.is_file()}
    assert built == files_of(two_bundles["new"])
    assert {e["path"]: e["from"] for e in manifest["files"]} == {
        "index.js": "patch", "assets/logo.png": "base", "moved/b.txt": "base", "added.json": "archive"}
    assert manifest["deleted"] == ["gone.txt", "moved/a.txt"]


def test_the_release_lists_its_patch_per_base(admin, two_bundles):
    release_id = admin.get(f"/api/v1/apps/{APP}/releases?channel=production").json["releases"][0]["id"]
    listed = admin.get(f"/api/v1/apps/{APP}/releases/{release_id}/transfer").json["patches"]
    made = two_bundles["made"][0]
    assert listed == [{"targetSha256": hashlib.sha256(two_bundles["new"]).hexdigest(),
                       "baseSha256": hashlib.sha256(two_bundles["old"]).hexdigest(), "base": "1.0.0",
                       "format": "otabox-patch-v1", "size": made["size"], "compressedFullSize": len(two_bundles["new"])}]


def test_the_applier_works_on_an_unpacked_base_folder(client, demo_app, two_bundles, tmp_path):
    reply = offered(client, demo_app, currentSha256=hashlib.sha256(two_bundles["old"]).hexdigest().upper())
    archive = client.get(local(reply["bundle"]["patch"]["url"])).data
    with zipfile.ZipFile(io.BytesIO(two_bundles["old"])) as base:
        base.extractall(tmp_path / "base")
    apply_archive(tmp_path / "base", archive, tmp_path / "new", reply["bundle"]["patch"]["sha256"])
    assert {str(p.relative_to(tmp_path / "new")): p.read_bytes() for p in (tmp_path / "new").rglob("*")
            if p.is_file()} == files_of(two_bundles["new"])


def tampered_member(archive: bytes, member: str, change) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as source, zipfile.ZipFile(out, "w") as copy:
        for info in source.infolist():
            data = source.read(info.filename)
            copy.writestr(info, change(data) if info.filename == member else data)
    return out.getvalue()


@pytest.mark.parametrize("tamper", ["archive-digest", "patched-file", "added-file", "manifest-digest",
                                    "escaping-path", "truncated", "other-base"])
def test_the_applier_refuses_a_tampered_patch_and_leaves_nothing(client, demo_app, two_bundles, tmp_path, tamper):
    reply = offered(client, demo_app, version="1.0.0")
    archive = client.get(local(reply["bundle"]["patch"]["url"])).data
    (tmp_path / "base.zip").write_bytes(two_bundles["old"])
    expected = reply["bundle"]["patch"]["sha256"]
    base = tmp_path / "base.zip"
    flip = lambda data: data[:-40] + bytes(b ^ 1 for b in data[-40:])  # noqa: E731

    def manifest_change(change):
        return lambda data: json.dumps(change(json.loads(data))).encode()

    if tamper == "archive-digest":
        archive = archive[:-1] + bytes([archive[-1] ^ 1])
    else:
        if tamper == "patched-file":
            archive = tampered_member(archive, "patch/index.js", flip)
        elif tamper == "added-file":
            archive = tampered_member(archive, "add/added.json", lambda data: data.replace(b"1", b"2"))
        elif tamper == "manifest-digest":
            archive = tampered_member(archive, patch_archive.MANIFEST, manifest_change(
                lambda m: {**m, "files": [{**e, "sha256": "0" * 64} for e in m["files"]]}))
        elif tamper == "escaping-path":
            archive = tampered_member(archive, patch_archive.MANIFEST, manifest_change(
                lambda m: {**m, "files": [{**e, "path": "../" + e["path"]} for e in m["files"]]}))
        elif tamper == "truncated":
            archive = archive[:len(archive) // 2]
        else:
            base.write_bytes(make_zip({"index.js": "other"}))
        expected = hashlib.sha256(archive).hexdigest()  # as if the signed reply named it: the content checks
    with pytest.raises(PatchError):
        apply_archive(base, archive, tmp_path / "new", expected)
    assert not (tmp_path / "new").exists() and not list(tmp_path.glob(".patching-*"))


def test_a_builtin_device_gets_a_patch_from_the_embedded_bundle_of_its_native_version(admin, client, box, demo_app,
                                                                                      two_bundles, tmp_path):
    embedded = make_zip({**OLD_FILES, "index.js": js("0")})
    form = {"file": (io.BytesIO(embedded), "builtin.zip"), "platform": "ios", "nativeVersion": "3.0.0"}
    assert client.post(f"/api/v1/apps/{APP}/embedded-bundles", data=form, content_type="multipart/form-data",
                       headers={"Authorization": f"Bearer {admin.key}"}).status_code == 201
    with box.db.connection_context():
        box.patch_maker.run()
    reply = offered(client, demo_app, version="builtin")
    patch = reply["bundle"]["patch"]
    assert patch["baseSha256"] == hashlib.sha256(embedded).hexdigest()
    (tmp_path / "builtin.zip").write_bytes(embedded)
    apply_archive(tmp_path / "builtin.zip", client.get(local(patch["url"])).data, tmp_path / "new", patch["sha256"])
    assert len(list((tmp_path / "new").rglob("*.js"))) == 1
    for other in ({"nativeVersion": "2.0.0"}, {"platform": "android"}):  # no embedded bundle recorded for them
        assert "patch" not in check(client, demo_app, version="builtin", **{"nativeVersion": "3.0.0", **other}
                                    ).json["bundle"]


@pytest.mark.parametrize("params", [{"version": "0.9.9"}, {"currentSha256": "0" * 64}, {"currentSha256": "nothex"},
                                    {}, {"version": "1.0.0", "currentSha256": "f" * 64}],
                         ids=["unknown-version", "unknown-sha", "malformed-sha", "no-base", "foreign-sha"])
def test_an_unknown_or_malformed_base_gets_no_patch(client, demo_app, two_bundles, params):
    reply = offered(client, demo_app, **params)
    assert "patch" not in reply["bundle"] and "patchSha256" not in reply["signed"]


def test_a_patch_damaged_in_storage_is_not_offered(client, demo_app, box, two_bundles):
    made = two_bundles["made"][0]
    path = box.store.local_path(made["sha256"])
    path.write_bytes(path.read_bytes()[:made["size"] // 2])
    reply = offered(client, demo_app, version="1.0.0")
    assert "patch" not in reply["bundle"] and "patchSha256" not in reply["signed"]


def test_until_the_patch_is_made_no_patch_is_offered(admin, client, demo_app):
    admin.publish(APP, "1.0.0", zip_bytes=make_zip(OLD_FILES))
    admin.publish(APP, "1.0.1", zip_bytes=make_zip(NEW_FILES))
    assert "patch" not in offered(client, demo_app, version="1.0.0")["bundle"]


def test_the_archive_names_every_file_and_is_the_same_for_the_same_pair():
    old, new = make_zip(OLD_FILES), make_zip(NEW_FILES)

    def build():
        with zipfile.ZipFile(io.BytesIO(old)) as base, zipfile.ZipFile(io.BytesIO(new)) as target:
            return patch_archive.build_archive(base, target, "a" * 64, "b" * 64, xzdiff.diff, 1 << 20)

    first = build()
    assert first == build()
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        manifest = json.loads(archive.read(patch_archive.MANIFEST))
    assert [e["path"] for e in manifest["files"]] == sorted(NEW_FILES)
    assert all(e["sha256"] == hashlib.sha256(files_of(new)[e["path"]]).hexdigest() for e in manifest["files"])


def test_the_applier_applies_an_archive_of_bsdiff40_patches_as_earlier_builds_made(client, demo_app, two_bundles,
                                                                                      tmp_path):
    """A box upgraded from a build that made BSDIFF40 patches keeps serving those archives."""
    reply = offered(client, demo_app, version="1.0.0")
    archive = client.get(local(reply["bundle"]["patch"]["url"])).data
    old_index, new_index = files_of(two_bundles["old"])["index.js"], files_of(two_bundles["new"])["index.js"]
    earlier = tampered_member(archive, "patch/index.js", lambda data: bsdiff4.diff(old_index, new_index))
    (tmp_path / "base.zip").write_bytes(two_bundles["old"])
    apply_archive(tmp_path / "base.zip", earlier, tmp_path / "new", hashlib.sha256(earlier).hexdigest())
    assert (tmp_path / "new" / "index.js").read_bytes() == new_index


def test_the_applier_run_without_bsdiff4_says_how_to_install_it(monkeypatch, tmp_path):
    """`python3 clients/python/otabox_patch.py ...` outside the venv: one line and a failing exit, no traceback."""
    import runpy
    monkeypatch.setitem(sys.modules, "bsdiff4", None)  # what an interpreter without the package finds
    monkeypatch.setattr(sys, "argv", ["otabox_patch.py", "--base", "b.zip", "--patch", "p.zip", "--sha256", "0" * 64,
                                      "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit) as stopped:
        runpy.run_path(str(ROOT / "clients" / "python" / "otabox_patch.py"), run_name="__main__")
    assert stopped.value.code == "otabox_patch.py needs the bsdiff4 package: pip install bsdiff4"


@pytest.mark.parametrize("missing, out_there, said", [
    ("base", False, "error: the base bundle {tmp}/nope does not exist"),
    ("patch", False, "error: the patch archive {tmp}/nope does not exist"),
    (None, True, "error: {tmp}/new-bundle already exists; --out names a new folder for the built bundle"),
], ids=["no base", "no patch", "out there"])
def test_the_applier_refuses_a_missing_input_or_an_existing_out_folder_before_any_work(monkeypatch, tmp_path,
                                                                                      missing, out_there, said):
    import runpy
    for name in ("base.zip", "patch.zip"):
        (tmp_path / name).write_bytes(make_zip({"index.js": "1"}))
    if out_there:
        (tmp_path / "new-bundle").mkdir()
        (tmp_path / "new-bundle" / "kept.txt").write_text("mine")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    paths = {"base": tmp_path / "base.zip", "patch": tmp_path / "patch.zip"}
    if missing:
        paths[missing] = tmp_path / "nope"
    monkeypatch.setattr(sys, "argv", ["otabox_patch.py", "--base", str(paths["base"]), "--patch", str(paths["patch"]),
                                      "--sha256", "0" * 64, "--out", str(tmp_path / "new-bundle")])
    with pytest.raises(SystemExit) as stopped:
        runpy.run_path(str(ROOT / "clients" / "python" / "otabox_patch.py"), run_name="__main__")
    assert stopped.value.code == said.format(tmp=tmp_path)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
