"""code-push-server's own rules on its management API, driven by code-push-standalone's requests
(tests/node/codepush_cli_harness.mjs) against a live `otabox serve`: rollback appends a copy of the
previous history entry and disables nothing, only within one app version; promote without a label
takes the latest history entry; new apps get `Production` and `Staging`."""
from __future__ import annotations

import pytest
from codepush_cli import CodePushCli
from conftest import make_zip
from test_codepush_accounts import refused, server  # noqa: F401  (server: a live otabox for this module)


@pytest.fixture(scope="module")
def cli(server):
    key = server.cli("keys", "create", "--name", "release-bot", "--role", "admin").stdout.strip().splitlines()[-1]
    return CodePushCli(server.url, key)


@pytest.fixture
def package(tmp_path):
    def write(text: str) -> str:
        path = tmp_path / f"{abs(hash(text))}.zip"
        path.write_bytes(make_zip({"CodePush/index.bundle": text}))
        return str(path)
    return write


def entries(cli, app, deployment="Production") -> list[tuple]:
    return [(p["label"], p["releaseMethod"], p.get("originalLabel"), p["isDisabled"], p["rollout"])
            for p in cli.getDeploymentHistory(app, deployment)]


def test_new_apps_get_code_push_servers_deployments(cli):
    cli.addApp("Defaults")
    assert sorted(d["name"] for d in cli.getDeployments("Defaults")) == ["Production", "Staging"]


def test_rollback_copies_the_previous_entry_and_disables_nothing(cli, package):
    cli.addApp("Rollbacks")
    for text in ("one", "two", "three"):
        cli.release("Rollbacks", "Production", package(text), "1.0.0")
    cli.rollback("Rollbacks", "Production")
    cli.rollback("Rollbacks", "Production")
    assert entries(cli, "Rollbacks") == [
        ("v1", "Upload", None, False, None), ("v2", "Upload", None, False, None), ("v3", "Upload", None, False, None),
        ("v4", "Rollback", "v2", False, None), ("v5", "Rollback", "v3", False, None)]
    cli.promote("Rollbacks", "Production", "Staging", '{"label": "v3"}')
    assert entries(cli, "Rollbacks", "Staging") == [("v1", "Promote", "v3", False, None)]


def test_a_rollback_keeps_the_app_version(cli, package):
    cli.addApp("Versions")
    cli.release("Versions", "Production", package("for 1.0.0"), "1.0.0")
    cli.release("Versions", "Production", package("for 2.0.0"), "2.0.0")
    different = refused(cli.rollback, "Versions", "Production")
    assert (different.status_code, different.message) == (409, "Cannot perform rollback to a different app version. "
                                                           "Please perform a new release with the desired replacement "
                                                           "package.")
    assert refused(cli.rollback, "Versions", "Production", "v1").status_code == 409
    assert [e[0] for e in entries(cli, "Versions")] == ["v1", "v2"]


def test_promote_without_a_label_takes_the_latest_history_entry(cli, package):
    cli.addApp("Promotions")
    cli.release("Promotions", "Staging", package("first"), "1.0.0")
    cli.release("Promotions", "Staging", package("second"), "1.0.0")
    cli.promote("Promotions", "Staging", "Production")
    cli.patchRelease("Promotions", "Staging", "v2", '{"isDisabled": true}')
    identical = refused(cli.promote, "Promotions", "Staging", "Production")
    assert (identical.status_code, identical.message) == (
        409, "The uploaded package was not promoted because it is identical to the contents of the targeted "
             "deployment's current release.")


def test_superseded_partial_rollouts_show_as_complete(cli, package):
    cli.addApp("Rollouts")
    cli.release("Rollouts", "Production", package("canary"), "1.0.0", '{"rollout": 20}')
    assert entries(cli, "Rollouts")[-1][-1] == 20
    cli.patchRelease("Rollouts", "Production", "v1", '{"isDisabled": true}')
    cli.release("Rollouts", "Production", package("fixed"), "1.0.0")
    assert [e[-1] for e in entries(cli, "Rollouts")] == [None, None]
    completed = refused(cli.patchRelease, "Rollouts", "Production", "v1", '{"rollout": 50}')
    assert (completed.status_code, completed.message) == (409, "Cannot update rollout value for a completed rollout "
                                                               "release.")
