"""Access tokens over HTTP and collaborators per app, as a team uses them through /api/v1."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from conftest import Api, make_key

from otabox.core import users
from otabox.store.models import ApiKey, App

PASSWORD = "correct horse battery staple"


def person(client, box, email: str, role: str = "member", **token) -> Api:
    """Create a user, sign them in (their own cookie jar) and give them an access token."""
    with box.db.connection_context():
        users.create_user(email, role, PASSWORD, "test")
    browser = client.application.test_client()
    csrf = browser.post("/api/v1/session", json={"email": email, "password": PASSWORD}).json["csrfToken"]
    made = browser.post("/api/v1/auth/tokens", json={"friendlyName": "laptop", **token}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201, made.json
    return Api(client, made.json["accessToken"])


@pytest.fixture
def alice(client, box):
    return person(client, box, "alice@example.com")


def test_a_token_is_shown_once_and_listed_without_its_secret(client, box, admin, alice):
    made = alice.post("/api/v1/auth/tokens", {"friendlyName": "ci", "ttl": 3_600_000})
    assert made.status_code == 201
    token = made.json
    assert token["accessToken"].startswith("otabox_at_") and token["friendlyName"] == "ci"
    expires = dt.datetime.fromisoformat(token["expires"].replace("Z", "+00:00")).timestamp()
    assert abs(expires - (time.time() + 3_600)) < 60 and token["expiresAt"] == token["expires"]
    assert token["role"] == "admin" and token["appIds"] is None, "at most what alice may do, wherever she may"
    assert token["createdBy"] == "alice@example.com", "who made it, not the address it came from"
    listed = alice.get("/api/v1/auth/tokens").json["tokens"]
    assert [(t["friendlyName"], t["current"]) for t in listed] == [("laptop", True), ("ci", False)]
    assert token["accessToken"] not in alice.get("/api/v1/auth/tokens").get_data(as_text=True)
    assert alice.post("/api/v1/auth/tokens", {"friendlyName": "ci"}).status_code == 409
    assert Api(client, token["accessToken"]).get("/api/v1/me").json["token"]["friendlyName"] == "ci"
    assert alice.delete("/api/v1/auth/tokens/ci").json == {"deleted": True, "friendlyName": "ci", "alsoRevoked": []}
    assert Api(client, token["accessToken"]).get("/api/v1/me").status_code == 401
    assert [t["friendlyName"] for t in admin.get("/api/v1/auth/tokens").json["tokens"]] == ["admin"]


def test_a_token_made_before_its_maker_was_kept_shows_who_made_it_not_an_address(client, box, alice):
    made = alice.post("/api/v1/auth/tokens", {"friendlyName": "old", "ttl": 3_600_000}).json
    with box.db.connection_context():
        ApiKey.update(created_by="127.0.0.1").where(ApiKey.name == "old").execute()
    [old] = [t for t in alice.get("/api/v1/auth/tokens").json["tokens"] if t["friendlyName"] == "old"]
    assert old["createdBy"] == "alice@example.com" and made["createdBy"] == "alice@example.com"


def test_a_token_never_has_more_rights_than_its_creator(client, box, admin):
    app = admin.post("/api/v1/apps", {"slug": "com.example.one"}).json
    admin.post("/api/v1/apps", {"slug": "com.example.two"})
    publisher = Api(client, make_key(box, "publisher", "ci-one", None))
    more = publisher.post("/api/v1/auth/tokens", {"friendlyName": "x", "role": "admin"})
    assert more.status_code == 403 and more.json["error"]["details"] == {"required": "admin", "role": "publisher"}
    one = publisher.post("/api/v1/auth/tokens", {"friendlyName": "one", "appIds": [app["id"]], "ttl": 60_000}).json
    limited = Api(client, one["accessToken"])
    assert limited.get("/api/v1/me").json["apps"] == [{"id": app["id"], "slug": "com.example.one", "role": "publisher"}]
    assert [a["slug"] for a in limited.get("/api/v1/apps").json["apps"]] == ["com.example.one"]
    assert limited.get("/api/v1/apps/com.example.two").status_code == 403
    wider = limited.post("/api/v1/auth/tokens", {"friendlyName": "wider", "appIds": ["com.example.two"]})
    assert wider.status_code == 403
    child = limited.post("/api/v1/auth/tokens", {"friendlyName": "child", "ttl": 86_400_000}).json
    assert child["appSlugs"] == ["com.example.one"] and child["expires"] <= one["expires"]
    assert [t["friendlyName"] for t in limited.get("/api/v1/auth/tokens").json["tokens"]] == ["one", "child"]
    assert limited.delete("/api/v1/auth/tokens/ci-one").status_code == 404, "a token cannot revoke a wider one"


def test_an_expired_token_says_so(client, admin):
    token = admin.post("/api/v1/auth/tokens", {"friendlyName": "brief", "ttl": 1}).json["accessToken"]
    time.sleep(0.01)
    expired = Api(client, token).get("/api/v1/apps")
    assert expired.status_code == 401 and expired.json["error"]["code"] == "token_expired"


@pytest.mark.parametrize("body", [{"friendlyName": ""}, {"friendlyName": "x", "ttl": 0}, {"friendlyName": "x", "ttl": "1"},
                                  {"friendlyName": "x", "role": "owner"}, {"friendlyName": "x", "appIds": "all"},
                                  {"friendlyName": "x", "appIds": [999]}])
def test_bad_token_requests_are_refused(admin, body):
    assert admin.post("/api/v1/auth/tokens", body).status_code in (400, 403)


def test_last_use_is_recorded_in_batches(client, box, alice):
    assert alice.get("/api/v1/auth/tokens").json["tokens"][0]["lastUsedAt"] is None
    box.usage.flush()
    assert alice.get("/api/v1/auth/tokens").json["tokens"][0]["lastUsedAt"] is not None


def test_permissions_per_app(client, box, admin):
    admin.post("/api/v1/apps", {"slug": "com.example.team"})
    admin.post("/api/v1/apps", {"slug": "com.example.secret"})
    people = {p: person(client, box, f"{p.lower()}@example.com") for p in ("Owner", "Collaborator", "Reader")}
    for permission in people:
        added = admin.post("/api/v1/apps/com.example.team/collaborators",
                           {"email": f"{permission.upper()}@example.com", "permission": permission})
        assert added.status_code == 201 and added.json["permission"] == permission
    for api in people.values():
        assert [a["slug"] for a in api.get("/api/v1/apps").json["apps"]] == ["com.example.team"]
        assert api.get("/api/v1/apps/com.example.secret").status_code == 403
    reader, collaborator, owner = people["Reader"], people["Collaborator"], people["Owner"]
    assert reader.upload("com.example.team", "1.0.0").status_code == 403
    bundle = collaborator.upload("com.example.team", "1.0.0").json
    assert collaborator.release("com.example.team", bundle["id"]).status_code == 201
    assert collaborator.post("/api/v1/apps/com.example.team/channels/production/rollback", {"toBuiltin": True}
                             ).status_code == 201
    assert collaborator.post("/api/v1/apps/com.example.team/collaborators",
                             {"email": "reader@example.com", "permission": "Owner"}).status_code == 403
    assert collaborator.delete("/api/v1/apps/com.example.team").status_code == 403
    changed = owner.post("/api/v1/apps/com.example.team/collaborators",
                         {"email": "reader@example.com", "permission": "Collaborator"})
    assert changed.status_code == 200 and changed.json["permission"] == "Collaborator"
    assert reader.upload("com.example.team", "1.0.1").status_code == 201
    assert owner.post("/api/v1/apps/com.example.team/collaborators",
                      {"email": "nobody@example.com", "permission": "Reader"}).status_code == 404
    assert owner.post("/api/v1/apps/com.example.team/collaborators",
                      {"email": "reader@example.com", "permission": "Boss"}).status_code == 400
    releases = admin.get("/api/v1/apps/com.example.team/releases").json["releases"]
    assert {r["actor"] for r in releases} == {"collaborator@example.com"}
    entry = admin.get("/api/v1/audit-log?action=release.created").json["entries"][0]
    assert (entry["actor"], entry["token"]) == ("collaborator@example.com", "laptop")
    assert owner.delete("/api/v1/apps/com.example.team").status_code == 200


def test_leaving_removing_and_transferring(client, box, admin):
    admin.post("/api/v1/apps", {"slug": "com.example.team"})
    bob, carol = person(client, box, "bob@example.com"), person(client, box, "carol@example.com")
    admin.post("/api/v1/apps/com.example.team/collaborators", {"email": "bob@example.com", "permission": "Owner"})
    admin.post("/api/v1/apps/com.example.team/collaborators", {"email": "carol@example.com", "permission": "Reader"})
    moved = bob.post("/api/v1/apps/com.example.team/transfer", {"email": "carol@example.com"})
    assert [(c["email"], c["permission"]) for c in moved.json["collaborators"]] == [
        ("bob@example.com", "Collaborator"), ("carol@example.com", "Owner")]
    assert bob.post("/api/v1/apps/com.example.team/transfer", {"email": "bob@example.com"}).status_code == 403
    assert carol.post("/api/v1/apps/com.example.team/transfer", {"email": "carol@example.com"}).status_code == 409
    assert bob.delete("/api/v1/apps/com.example.team/collaborators/bob@example.com").status_code == 200
    assert bob.get("/api/v1/apps/com.example.team").status_code == 403
    assert bob.get("/api/v1/apps").json["apps"] == []
    assert carol.delete("/api/v1/apps/com.example.team/collaborators/nobody@example.com").status_code == 404


def test_a_non_admin_key_manages_only_itself_and_what_was_minted_from_it(client, box, admin):
    """Issue 22: a reader key could expire, rename, revive or revoke every key of the service account
    no stronger than itself, even keys of other apps. Now only admin keys (not limited to apps) reach
    other keys; any other key reaches itself and the tokens minted from it."""
    app = admin.post("/api/v1/apps", {"slug": "com.example.one"}).json
    reader = Api(client, make_key(box, "reader", "reader"))
    make_key(box, "reader", "other-reader")
    with box.db.connection_context():
        app_row = App.get_by_id(app["id"])
    make_key(box, "publisher", "app-key", app=app_row)
    limited = Api(client, make_key(box, "admin", "one-admin", app=app_row))
    limited_key = limited.post("/api/v1/auth/tokens", {"friendlyName": "one-only", "appIds": [app["id"]]}).json
    one_only = Api(client, limited_key["accessToken"])
    child = reader.post("/api/v1/auth/tokens", {"friendlyName": "reader-child"}).json
    grandchild = Api(client, child["accessToken"]).post("/api/v1/auth/tokens",
                                                        {"friendlyName": "reader-grandchild"}).json

    def names(api):
        return [t["friendlyName"] for t in api.get("/api/v1/auth/tokens").json["tokens"]]

    assert names(reader) == ["reader", "reader-child", "reader-grandchild"]
    assert names(one_only) == ["one-only"], "an admin token limited to apps is not an admin of keys"
    assert set(names(admin)) == {"admin", "reader", "other-reader", "app-key", "one-admin", "one-only", "reader-child",
                                 "reader-grandchild"}
    for victim in ("other-reader", "app-key", "admin"):
        assert reader.delete(f"/api/v1/auth/tokens/{victim}").status_code == 404
        assert one_only.delete(f"/api/v1/auth/tokens/{victim}").status_code == 404
    assert Api(client, grandchild["accessToken"]).delete("/api/v1/auth/tokens/reader-child").status_code == 404
    revoked = reader.delete("/api/v1/auth/tokens/reader-child").json
    assert revoked == {"deleted": True, "friendlyName": "reader-child", "alsoRevoked": ["reader-grandchild"]}
    assert Api(client, grandchild["accessToken"]).get("/api/v1/me").status_code == 401
    assert reader.get("/api/v1/me").status_code == 200
    assert admin.delete("/api/v1/auth/tokens/other-reader").status_code == 200


def test_a_token_gives_no_other_token_a_later_expiry_than_its_own(client, box, admin):
    short = admin.post("/api/v1/auth/tokens", {"friendlyName": "short", "role": "publisher", "ttl": 60_000}).json
    short_ms = dt.datetime.fromisoformat(short["expires"].replace("Z", "+00:00")).timestamp() * 1000
    api = Api(client, short["accessToken"])
    child = api.post("/api/v1/auth/tokens", {"friendlyName": "child", "ttl": 30_000}).json
    longer = client.patch("/accessKeys/child", json={"ttl": 10 * 86_400_000},
                          headers={"Authorization": f"Bearer {short['accessToken']}"})
    assert longer.status_code == 200 and longer.json["accessKey"]["expires"] <= short_ms  # the CLI's epoch ms
    assert child["expires"] <= short["expires"]
    itself = client.patch("/accessKeys/short", json={"ttl": 10 * 86_400_000},
                          headers={"Authorization": f"Bearer {short['accessToken']}"})
    assert itself.json["accessKey"]["expires"] <= short_ms, "nor itself"


def test_a_token_named_with_a_slash_can_be_revoked_by_url(admin):
    assert admin.post("/api/v1/auth/tokens", {"friendlyName": "ci/nightly"}).status_code == 201
    assert admin.delete("/api/v1/auth/tokens/ci/nightly").json["deleted"] is True


def test_disabling_a_user_revokes_their_tokens_so_enabling_revives_none(client, box, alice):
    assert alice.get("/api/v1/me").status_code == 200
    with box.db.connection_context():
        user = users.find_user("alice@example.com")
        users.set_disabled(user, True, "test")
        users.set_disabled(user, False, "test")
    assert alice.get("/api/v1/me").status_code == 401
