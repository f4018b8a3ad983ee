"""Compressed full downloads for Expo: the launch asset and the manifest in the coding the client
accepts (gzip always, br with the brotli package), precompressed once at upload, with a correct
Content-Length and `Vary: Accept-Encoding`; Range requests get the identity form."""
from __future__ import annotations

import gzip
import json
from urllib.parse import urlsplit

import brotli
import pytest
from test_expo import APP, get_manifest, manifest_of, parts_of
from test_expo_patches import bundle_text, publish

from otabox.protocols.expo.encoding import negotiate


@pytest.fixture
def published(admin, client, demo_app, tmp_path):
    fixture, bundle, _ = publish(admin, tmp_path, "1.0.0", bundle_text("1.0.0"))
    manifest = manifest_of(get_manifest(client))
    url = urlsplit(manifest["launchAsset"]["url"])
    return {"path": f"{url.path}?{url.query}", "bytes": fixture.bundles["ios"][1], "bundle": bundle}


def fetch(client, published, **headers):
    return client.get(published["path"], headers={"expo-platform": "ios", **headers})


@pytest.mark.parametrize("accept, coding, decode", [
    ("gzip", "gzip", gzip.decompress), ("gzip, deflate, br", "br", brotli.decompress),
    ("br;q=0, gzip", "gzip", gzip.decompress), ("br;q=0.5, gzip;q=0.8", "gzip", gzip.decompress),
    ("*", "br", brotli.decompress)])
def test_the_launch_asset_comes_in_the_coding_the_client_accepts(client, published, accept, coding, decode):
    answer = fetch(client, published, **{"Accept-Encoding": accept})
    assert answer.status_code == 200 and answer.headers["Content-Encoding"] == coding
    assert int(answer.headers["Content-Length"]) == len(answer.data) < len(published["bytes"]) / 2
    assert decode(answer.data) == published["bytes"]
    assert "Accept-Encoding" in answer.headers["Vary"]


@pytest.mark.parametrize("accept", [None, "identity", "deflate", "gzip;q=0, br;q=0"])
def test_a_client_accepting_no_coding_gets_the_file_itself(client, published, accept):
    answer = fetch(client, published, **({"Accept-Encoding": accept} if accept else {}))
    assert answer.status_code == 200 and "Content-Encoding" not in answer.headers
    assert answer.data == published["bytes"] and int(answer.headers["Content-Length"]) == len(published["bytes"])


def test_a_range_request_gets_the_identity_bytes(client, published):
    answer = fetch(client, published, **{"Accept-Encoding": "gzip, br", "Range": "bytes=10-19"})
    assert answer.status_code == 206 and "Content-Encoding" not in answer.headers
    assert answer.data == published["bytes"][10:20]


def test_the_copies_are_made_once_at_upload_and_go_with_the_bundle(admin, box, published):
    with box.db.connection_context():
        extra = box.serving.app(APP).bundles[published["bundle"]["id"]].extra
    copies = [copy["sha256"] for codings in extra["encodings"].values() for copy in codings.values()]
    assert len(copies) == 4 and set(copies) <= set(extra["blobs"])  # gzip and br, for ios and android
    assert all(box.store.exists(sha) for sha in copies)
    assert admin.delete(f"/api/v1/apps/{APP}").status_code == 200
    assert not any(box.store.exists(sha) for sha in copies)


@pytest.mark.parametrize("accept, decode", [("gzip", gzip.decompress), ("br", brotli.decompress)])
def test_the_manifest_comes_compressed_and_still_parses(client, published, accept, decode):
    plain = get_manifest(client)
    answer = get_manifest(client, **{"Accept-Encoding": accept})
    assert answer.headers["Content-Encoding"] == accept and "Accept-Encoding" in answer.headers["Vary"]
    assert int(answer.headers["Content-Length"]) == len(answer.data)
    answer.set_data(decode(answer.data))
    manifest = json.loads(parts_of(answer)["manifest"][1])
    assert manifest["id"] == manifest_of(plain)["id"] and "Content-Encoding" not in plain.headers


@pytest.mark.parametrize("accept, offered, chosen", [
    ("gzip", ("br", "gzip"), "gzip"), ("br, gzip", ("br", "gzip"), "br"), ("br, gzip", ("gzip",), "gzip"),
    ("GZIP;Q=0.5", ("gzip",), "gzip"), ("gzip;q=0", ("gzip",), None), ("*;q=0.1, br;q=0", ("br", "gzip"), "gzip"),
    ("gzip;q=oops", ("gzip",), None), ("", ("gzip",), None), (None, ("gzip",), None), ("identity", ("gzip",), None)])
def test_negotiate(accept, offered, chosen):
    assert negotiate(accept, offered) == chosen
