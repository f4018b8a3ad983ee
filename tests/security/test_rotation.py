"""Rotating the URL key keeps issued URLs working until they expire; rotating the signing key
re-signs bundles and publishes both public keys."""
from __future__ import annotations

import base64
import hashlib

import requests
from conftest import make_zip
from cryptography.hazmat.primitives.serialization import load_pem_public_key


def setup_release(server):
    key = server.cli("keys", "create", "--name", "ci").stdout.strip().splitlines()[-1]
    auth = {"Authorization": f"Bearer {key}"}
    created = requests.post(f"{server.url}/api/v1/apps", json={"slug": "com.example.rot"}, headers=auth).json()
    data = make_zip({"index.html": "rotate"})
    bundle = requests.post(f"{server.url}/api/v1/apps/com.example.rot/bundles", headers=auth, data={"version": "1.0.0"},
                           files={"file": ("b.zip", data)}).json()
    requests.post(f"{server.url}/api/v1/apps/com.example.rot/releases", headers=auth,
                  json={"bundleId": bundle["id"], "channel": "production"})
    return created, data


def offer(server, created):
    return requests.get(f"{server.url}/api/v1/apps/com.example.rot/check", params={"platform": "ios"},
                        headers={"X-Client-Key": created["clientKey"]}).json()["bundle"]


def wait_for(predicate, seconds=5.0):
    import time
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_url_key_rotation_keeps_old_urls_valid(live_server):
    created, data = setup_release(live_server)
    old_url = offer(live_server, created)["url"]
    assert "previous one is accepted" in live_server.cli("secrets", "rotate-url-key").stdout
    assert wait_for(lambda: offer(live_server, created)["url"] != old_url)
    assert requests.get(old_url).content == data
    assert requests.get(offer(live_server, created)["url"]).content == data
    assert requests.get(old_url.replace("signature=", "signature=x")).status_code == 403


def test_signing_key_rotation_resigns_bundles_and_publishes_both_keys(live_server):
    created, data = setup_release(live_server)
    before = requests.get(f"{live_server.url}/api/v1/signing-key").json()
    assert [k["keyId"] for k in before["keys"]] == [before["keyId"]]
    live_server.cli("signing-key", "rotate")
    assert wait_for(lambda: requests.get(f"{live_server.url}/api/v1/signing-key").json()["keyId"] != before["keyId"])
    after = requests.get(f"{live_server.url}/api/v1/signing-key").json()
    assert [(k["keyId"], k["current"]) for k in after["keys"]] == [(after["keyId"], True), (before["keyId"], False)]
    signature = base64.b64decode(offer(live_server, created)["signature"])
    load_pem_public_key(after["publicKey"].encode()).verify(signature, hashlib.sha256(data).digest())
    audit = live_server.cli("audit", "--action", "signing_key.rotated").stdout
    assert after["keyId"] in audit


def test_rotating_the_signing_key_warns_that_clients_pinning_the_old_key_refuse_updates(live_server):
    """The new key signs at once, so a client that ships only the old one breaks: the command says so,
    and where the new key is (the key set lists it first, the old one after it). Run against a live
    server: the command opens the box's database beside the server, as an operator's would."""
    before = requests.get(f"{live_server.url}/api/v1/signing-key").json()
    ran = live_server.cli("signing-key", "rotate")
    assert ran.returncode == 0 and "bundles re-signed" in ran.stdout
    warning = ran.stderr
    assert warning.startswith("Warning: ") and "pinned the old key" in warning and "refuses every update" in warning
    assert "otabox signing-key show" in warning and "GET /api/v1/signing-key" in warning
    assert wait_for(lambda: requests.get(f"{live_server.url}/api/v1/signing-key").json()["keyId"] != before["keyId"])
    after = requests.get(f"{live_server.url}/api/v1/signing-key").json()
    assert [(k["keyId"], k["current"]) for k in after["keys"]] == [(after["keyId"], True), (before["keyId"], False)]
    assert requests.get(f"{live_server.url}/api/v1/signing-key?format=pem").text == after["publicKey"]
