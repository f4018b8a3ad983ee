"""code-push-standalone's account commands (access-key, session, whoami, collaborator, app transfer)
against a live `otabox serve`, through tests/node/codepush_cli_harness.mjs."""
from __future__ import annotations

import time

import pytest
import requests
from codepush_cli import CodePushCli, CodePushCliError
from conftest import LiveServer

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = LiveServer(tmp_path_factory.mktemp("codepush-accounts") / "data")
    yield live
    live.stop()


def sign_up(server, email: str, role: str = "member") -> tuple[requests.Session, str]:
    """A person made on the server, signed in to the dashboard, with an access token for the CLI."""
    server.cli("users", "create", "--email", email, "--role", role, "--password-stdin", input=PASSWORD)
    browser = requests.Session()
    csrf = browser.post(f"{server.url}/api/v1/session", json={"email": email, "password": PASSWORD}).json()["csrfToken"]
    token = browser.post(f"{server.url}/api/v1/auth/tokens", json={"friendlyName": "laptop"},
                         headers={"X-CSRF-Token": csrf}).json()["accessToken"]
    return browser, token


def refused(call, *args) -> CodePushCliError:
    with pytest.raises(CodePushCliError) as error:
        call(*args)
    return error.value


def test_access_keys_sessions_and_whoami(server):
    browser, token = sign_up(server, "alice@example.com")
    cli = CodePushCli(server.url, token)
    assert cli.isAuthenticated() is True
    assert cli.getAccountInfo() == {"name": "alice@example.com", "email": "alice@example.com", "linkedProviders": []}
    added = cli.addAccessKey("build server", 5 * 60 * 1000)
    assert added["name"] == "build server" and added["key"].startswith("otabox_at_")
    assert abs(added["expires"] - added["createdTime"] - 5 * 60 * 1000) < 1000
    assert CodePushCli(server.url, added["key"]).getAccountInfo()["email"] == "alice@example.com"
    assert [k["name"] for k in cli.getAccessKeys()] == ["laptop", "build server"]
    assert cli.getAccessKey("build server")["expires"] == added["expires"]
    assert refused(cli.addAccessKey, "build server").status_code == 409
    renamed = cli.patchAccessKey("build server", "ci", 60 * 60 * 1000)
    assert renamed["name"] == "ci" and renamed["expires"] > added["expires"]
    assert refused(cli.getAccessKey, "build server").message == 'Access key "build server" does not exist.'
    sessions = cli.getSessions()
    assert [s["machineName"] for s in sessions] == ["127.0.0.1"] and sessions[0]["loggedInTime"] <= time.time() * 1000
    cli.removeSession("127.0.0.1")
    assert browser.get(f"{server.url}/api/v1/me").status_code == 401
    assert refused(cli.removeSession, "127.0.0.1").message == 'There are no sessions associated with "127.0.0.1."'
    cli.removeAccessKey("ci")
    assert CodePushCli(server.url, added["key"]).isAuthenticated() is False
    cli.patchAccessKey("laptop", None, 0)
    assert cli.isAuthenticated() is False


def test_a_non_admin_key_lists_and_removes_only_itself_and_what_it_minted(server):
    """Issue 22: `access-key ls/rm` with a publisher key reach that key and the keys made with it."""
    browser, laptop = sign_up(server, "keys.owner@example.com")
    csrf = browser.get(f"{server.url}/api/v1/session").json()["csrfToken"]
    deploy = browser.post(f"{server.url}/api/v1/auth/tokens", json={"friendlyName": "deploy", "role": "publisher"},
                          headers={"X-CSRF-Token": csrf}).json()["accessToken"]
    cli = CodePushCli(server.url, deploy)
    child = cli.addAccessKey("deploy child", 60 * 60 * 1000)
    assert [k["name"] for k in cli.getAccessKeys()] == ["deploy", "deploy child"]
    assert [k["name"] for k in CodePushCli(server.url, laptop).getAccessKeys()] == ["laptop", "deploy", "deploy child"]
    assert refused(cli.removeAccessKey, "laptop").message == 'Access key "laptop" does not exist.'
    assert refused(cli.patchAccessKey, "laptop", "mine", 60 * 1000).status_code == 404
    assert cli.getSessions() == [] and refused(cli.removeSession, "127.0.0.1").status_code == 404
    assert browser.get(f"{server.url}/api/v1/me").status_code == 200
    cli.removeAccessKey("deploy")
    assert CodePushCli(server.url, child["key"]).isAuthenticated() is False
    assert CodePushCli(server.url, laptop).isAuthenticated() is True


def test_collaborators_and_transfer(server):
    admin_key = server.cli("keys", "create", "--name", "release-bot", "--role", "admin").stdout.strip().splitlines()[-1]
    admin = CodePushCli(server.url, admin_key)
    assert admin.getAccountInfo()["email"] == "release-bot"
    _, token = sign_up(server, "bob@example.com")
    bob = CodePushCli(server.url, token)
    admin.addApp("Shop")
    assert bob.getApps() == []
    admin.addCollaborator("Shop", "bob@example.com")
    assert refused(admin.addCollaborator, "Shop", "bob@example.com").status_code == 409
    missing = refused(admin.addCollaborator, "Shop", "nobody@example.com")
    assert missing.status_code == 404
    assert missing.message == "The specified e-mail address doesn't represent a registered user"
    assert admin.getCollaborators("Shop") == {
        "bob@example.com": {"isCurrentAccount": False, "permission": "Collaborator"},
        "release-bot": {"isCurrentAccount": True, "permission": "Owner"}}
    [shop] = bob.getApps()
    assert shop["name"] == "Shop" and shop["collaborators"] == {
        "bob@example.com": {"isCurrentAccount": True, "permission": "Collaborator"}}
    assert refused(bob.addCollaborator, "Shop", "bob@example.com").status_code == 403
    assert refused(bob.removeApp, "Shop").status_code == 403
    admin.transferApp("Shop", "bob@example.com")
    assert bob.getCollaborators("Shop")["bob@example.com"] == {"isCurrentAccount": True, "permission": "Owner"}
    bob.removeCollaborator("Shop", "bob@example.com")
    assert bob.getApps() == []
    assert refused(bob.getCollaborators, "Shop").message == 'App "Shop" does not exist.'


def test_rights_follow_the_collaboration_after_a_transfer_and_any_account_adds_apps(server):
    _, ada_token = sign_up(server, "ada@example.com", role="admin")
    ada = CodePushCli(server.url, ada_token)
    _, token = sign_up(server, "carol@example.com")
    carol = CodePushCli(server.url, token)
    carol.addApp("Carol's App")  # any account may add an app, and owns it
    assert carol.getCollaborators("Carol's App")["carol@example.com"]["permission"] == "Owner"
    ada.addApp("Kiosk")
    ada.addCollaborator("Kiosk", "carol@example.com")
    ada.transferApp("Kiosk", "carol@example.com")
    assert ada.getCollaborators("Kiosk")["ada@example.com"] == {"isCurrentAccount": True,
                                                                "permission": "Collaborator"}
    assert refused(ada.removeApp, "Kiosk").status_code == 403
    assert refused(ada.transferApp, "Kiosk", "ada@example.com").status_code == 403
    assert ada.getCollaborators("Carol's App")["ada@example.com"]["permission"] == "Owner"  # no collaboration
    carol.removeCollaborator("Kiosk", "ada@example.com")
    missing = refused(carol.removeCollaborator, "Kiosk", "ada@example.com")
    assert (missing.status_code, missing.message) == (404, "The given email is not a collaborator for this app.")

