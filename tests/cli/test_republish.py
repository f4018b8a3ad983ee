"""Publishing the same build again is harmless: `otabox publish` zips a folder deterministically, so a
rebuild with new file times and modes gives the same bytes; and a version has one bundle per platform
(iOS and Android side by side), never one for all beside a platform's own."""
from __future__ import annotations

import hashlib
import json
import os
import zipfile

import requests
from click.testing import CliRunner
from conftest import make_zip
from test_live_server import cli_key

from otabox.cli import main
from otabox.cli.client import zip_folder


def build(folder, files: dict[str, str], mtime: int, mode: int):
    """A build folder as a build tool writes it: files created in the given order, at `mtime`."""
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        path.chmod(mode)
        os.utime(path, (mtime, mtime))
    return folder


def digest_of_zip(folder) -> str:
    archive = zip_folder(folder)
    try:
        return hashlib.sha256(archive.read_bytes()).hexdigest()
    finally:
        archive.unlink()


FILES = {"index.html": "<html>1.0.2</html>", "js/app.js": "console.log(2)", "assets/logo.svg": "<svg/>"}


def test_the_same_files_zip_to_the_same_bytes_whatever_their_times_modes_and_order(tmp_path):
    first = digest_of_zip(build(tmp_path / "a", FILES, mtime=1_700_000_000, mode=0o644))
    reordered = dict(reversed(list(FILES.items())))
    assert digest_of_zip(build(tmp_path / "b", reordered, mtime=1_800_000_000, mode=0o755)) == first
    changed = digest_of_zip(build(tmp_path / "c", {**FILES, "js/app.js": "console.log(3)"}, 1_700_000_000, 0o644))
    assert changed != first

    archive = zip_folder(tmp_path / "b")
    with zipfile.ZipFile(archive) as opened:
        entries = opened.infolist()
        assert [e.filename for e in entries] == sorted(FILES)
        assert {(e.date_time, e.external_attr >> 16 & 0o777) for e in entries} == {((1980, 1, 1, 0, 0, 0), 0o644)}
        assert {e.filename: opened.read(e).decode() for e in entries} == FILES
    archive.unlink()


def publish(server, key, *args):
    return CliRunner().invoke(main, ["publish", *args, "--app", "com.example.again", "--server", server.url,
                                     "--key", key, "--json"], catch_exceptions=False)


def test_a_rebuild_republishes_and_a_platform_overlap_is_refused(live_server, tmp_path):
    key = cli_key(live_server)
    headers = {"Authorization": f"Bearer {key}"}
    requests.post(f"{live_server.url}/api/v1/apps", json={"slug": "com.example.again"}, headers=headers)
    first = publish(live_server, key, str(build(tmp_path / "dist", FILES, 1_700_000_000, 0o644)), "--version", "1.0.2",
                    "--platform", "ios")
    assert first.exit_code == 0, first.output
    bundle = json.loads(first.stdout)["bundle"]

    # CI retries after a rebuild: same files, new timestamps and modes.
    rebuilt = publish(live_server, key, str(build(tmp_path / "dist", FILES, 1_800_000_000, 0o664)), "--version",
                      "1.0.2", "--platform", "ios")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert json.loads(rebuilt.stdout)["bundle"]["id"] == bundle["id"]
    assert "on the server already with these bytes" in rebuilt.stderr

    android = publish(live_server, key, str(tmp_path / "dist"), "--version", "1.0.2", "--platform", "android")
    assert android.exit_code == 0, android.output

    forgotten = publish(live_server, key, str(tmp_path / "dist"), "--version", "1.0.2")  # --platform all
    assert forgotten.exit_code == 1 and forgotten.stderr.count("\n") == 1
    assert "version 1.0.2 has a bundle for android and ios already" in forgotten.stderr
    assert "overlapping_platform" in forgotten.stderr
    listed = requests.get(f"{live_server.url}/api/v1/apps/com.example.again/bundles?version=1.0.2",
                          headers=headers).json()["bundles"]
    assert sorted(b["platform"] for b in listed) == ["android", "ios"]


def test_a_platform_bundle_beside_one_for_all_is_refused_over_the_api(admin, demo_app):
    slug = demo_app["slug"]
    assert admin.upload(slug, "2.0.0", make_zip(), platform="all").status_code == 201
    for platform in ("ios", "android"):
        refused = admin.upload(slug, "2.0.0", make_zip({"index.html": platform}), platform=platform)
        assert refused.status_code == 409 and refused.json["error"]["code"] == "overlapping_platform"
        assert refused.json["error"]["details"]["existingPlatforms"] == ["all"]
    same = admin.upload(slug, "2.0.0", make_zip({"index.html": "other bytes"}), platform="all")
    assert same.status_code == 409 and same.json["error"]["code"] == "duplicate_version"
    listed = admin.get(f"/api/v1/apps/{slug}/bundles?version=2.0.0").json["bundles"]
    assert [b["platform"] for b in listed] == ["all"]
