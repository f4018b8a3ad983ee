"""A bundle whose file is known to be missing from storage (a download found it gone, or `doctor`
did) is no longer offered: devices get what the channel served before, until the file is back."""
from __future__ import annotations

from conftest import check, make_zip


def test_a_download_that_finds_the_file_gone_stops_its_bundle_being_offered(admin, client, box, demo_app):
    slug = demo_app["slug"]
    admin.publish(slug, "1.0.0")
    newer = admin.publish(slug, "2.0.0", zip_bytes=make_zip({"index.html": "two"}))
    offered = check(client, demo_app, deviceId="d").json["bundle"]
    assert offered["version"] == "2.0.0"
    box.store.delete(newer.bundle["sha256"])
    download = client.get(offered["url"][offered["url"].index("/dl/"):])
    assert download.status_code == 404 and download.json["error"]["code"] == "file_missing"
    assert check(client, demo_app, deviceId="d").json["bundle"]["version"] == "1.0.0"
    entries = admin.get("/api/v1/audit-log", query_string={"action": "bundle.file_missing"}).json["entries"]
    assert [(e["actor"], e["entityId"]) for e in entries] == [("download", str(newer.bundle["id"]))]
