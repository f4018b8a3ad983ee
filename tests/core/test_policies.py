"""Rollout policies and executions: validation, starting a release under a policy, what the
scheduler's evaluation does with health figures, manual controls, and leases."""
from __future__ import annotations

import datetime as dt
import hashlib
import itertools

import pytest
from conftest import check, make_zip

from otabox.core import decide, policies
from otabox.store import leases
from otabox.store.models import Lease, utcnow

APP = "com.example.demo"
STAGES = [{"percentage": 10, "minDevices": 2, "minDurationMinutes": 5},
          {"percentage": 50, "minDevices": 3, "minDurationMinutes": 5},
          {"percentage": 100, "minDevices": 0, "minDurationMinutes": 0}]
THRESHOLDS = {"crashRate": 5, "errorRate": 20, "minLaunches": 10, "action": "auto-rollback"}


def make_policy(admin, name="safe", stages=STAGES, thresholds=THRESHOLDS):
    response = admin.post(f"/api/v1/apps/{APP}/rollout-policies", {"name": name, "stages": stages,
                                                                    "thresholds": thresholds})
    assert response.status_code == 201, response.json
    return response.json


def release(admin, version, policy=None, channel="production"):
    bundle = admin.upload(APP, version, make_zip({"index.html": version})).json
    body = {"policyId": policy["id"]} if policy else {}
    response = admin.release(APP, bundle["id"], channel, **body)
    assert response.status_code == 201, response.json
    return bundle, response.json


def served_ids(created, names, percentage=10):
    """Device ids, one per name, that the release's rollout at `percentage` includes, so their checks
    are served it."""
    release_id = created["release"]["id"]
    return [next(f"{name}-{n}" for n in itertools.count()
                 if decide.rollout_bucket(f"{name}-{n}", release_id) < percentage * 100) for name in names]


def address_of(device: str) -> str:
    """A phone's address, on a network of its own (policies weigh each network by a few devices)."""
    number = int(hashlib.sha256(device.encode()).hexdigest()[:6], 16)
    return f"10.{number >> 16}.{(number >> 8) & 255}.{number & 255}"


def launches(client, app, box, bundle, devices, launches_each=1, crashes=0, errors=0, checked=True, address=None):
    """Each device checks for updates (unless not `checked`), then reports its health, each from an
    address of its own network unless `address` is given."""
    if checked:
        for device in devices:
            assert check(client, app, deviceId=device, version="builtin").status_code == 200
        box.tracker.flush()
    for device in devices:
        events = [{"type": "app_launch", "count": launches_each}]
        if crashes:
            events.append({"type": "crash", "count": crashes, "message": "segfault"})
        if errors:
            events.append({"type": "js_error", "count": errors, "message": "TypeError"})
        body = {"deviceId": device, "platform": "ios", "bundleId": bundle["id"], "events": events}
        response = client.post(f"/api/v1/apps/{APP}/health", headers={"X-Client-Key": app["clientKey"]}, json=body,
                               environ_base={"REMOTE_ADDR": address or address_of(device)})
        assert response.status_code == 204
    box.health.flush()


def evaluate(box, minutes_later=0.0):
    with box.db.connection_context():
        return policies.evaluate_running(utcnow() + dt.timedelta(minutes=minutes_later))


def execution(admin, execution_id):
    return admin.get(f"/api/v1/apps/{APP}/rollout-executions/{execution_id}").json


def audit_actors(admin, action):
    return [e["actor"] for e in admin.get(f"/api/v1/audit-log?action={action}").json["entries"]]


@pytest.mark.parametrize("body, field", [
    ({"stages": STAGES}, "name"),
    ({"name": "p"}, "stages"),
    ({"name": "p", "stages": []}, "stages"),
    ({"name": "p", "stages": [{"minDevices": 1}]}, "stages[0].percentage"),
    ({"name": "p", "stages": [{"percentage": 0}]}, "stages[0].percentage"),
    ({"name": "p", "stages": [{"percentage": 50}, {"percentage": 50}]}, "percentage"),
    ({"name": "p", "stages": [{"percentage": 10.5}]}, "stages[0].percentage"),
    ({"name": "p", "stages": [{"percentage": 10, "minDevices": -1}]}, "stages[0].minDevices"),
    ({"name": "p", "stages": [{"percentage": 10, "minDurationMinutes": "soon"}]}, "stages[0].minDurationMinutes"),
    ({"name": "p", "stages": [{"percentage": 10}], "thresholds": {"action": "panic"}}, "thresholds.action"),
    ({"name": "p", "stages": [{"percentage": 10}], "thresholds": {"crashRate": 101}}, "thresholds.crashRate"),
    ({"name": "p", "stages": [{"percentage": 10, "minDuration": 5}]}, "stages[0].minDuration"),
    ({"name": "p", "stages": [{"percentage": 10, "minServedDevices": 1.5}]}, "stages[0].minServedDevices"),
    ({"name": "p", "stages": [{"percentage": 10}], "requireServedDevices": "yes"}, "requireServedDevices"),
])
def test_bad_policies_are_400(admin, demo_app, body, field):
    response = admin.post(f"/api/v1/apps/{APP}/rollout-policies", body)
    assert response.status_code == 400, response.json
    assert response.json["error"]["details"]["field"] == field


def test_policy_crud_with_defaults_and_fractional_minutes(admin, demo_app):
    created = make_policy(admin, stages=[{"percentage": 25, "minDurationMinutes": 0.02}, {"percentage": 100}],
                          thresholds={"crashRate": 2})
    assert created["stages"] == [{"percentage": 25, "minDevices": 0, "minServedDevices": 0, "minDurationMinutes": 0.02},
                                 {"percentage": 100, "minDevices": 0, "minServedDevices": 0, "minDurationMinutes": 0}]
    assert created["requireServedDevices"] is True
    assert created["thresholds"] == {"crashRate": 2, "errorRate": None, "minLaunches": 50,
                                     "action": "auto-rollback"}
    assert admin.post(f"/api/v1/apps/{APP}/rollout-policies", {"name": "safe", "stages": STAGES}).status_code == 409
    renamed = admin.patch(f"/api/v1/apps/{APP}/rollout-policies/{created['id']}", {"name": "canary"}).json
    assert renamed["name"] == "canary"
    listed = admin.get(f"/api/v1/apps/{APP}/rollout-policies").json["policies"]
    assert [p["name"] for p in listed] == ["canary"]
    assert admin.delete(f"/api/v1/apps/{APP}/rollout-policies/{created['id']}").status_code == 200
    assert admin.get(f"/api/v1/apps/{APP}/rollout-policies/{created['id']}").status_code == 404


def test_a_release_under_a_policy_starts_at_its_first_stage(admin, demo_app):
    policy = make_policy(admin)
    _, created = release(admin, "1.0.0", policy)
    assert created["release"]["rollout"] == 10
    started = created["execution"]
    assert (started["status"], started["stage"], started["policyId"]) == ("running", 1, policy["id"])
    assert started["events"][0]["kind"] == "started"
    bundle = admin.upload(APP, "1.0.1", make_zip({"a": "b"})).json
    both = admin.release(APP, bundle["id"], policyId=policy["id"], rollout=50)
    assert both.status_code == 400 and both.json["error"]["details"]["field"] == "rollout"
    assert admin.release(APP, bundle["id"], policyId=999).status_code == 404
    assert admin.release(APP, bundle["id"], policyId="no-such-policy").status_code == 404
    assert admin.patch(f"/api/v1/apps/{APP}/rollout-policies/{policy['id']}", {"name": "x"}).status_code == 409
    assert admin.delete(f"/api/v1/apps/{APP}/rollout-policies/{policy['id']}").status_code == 409
    listed = admin.get(f"/api/v1/apps/{APP}/rollout-executions?status=running").json
    assert listed["total"] == 1 and listed["executions"][0]["releaseId"] == created["release"]["id"]
    assert admin.get(f"/api/v1/apps/{APP}/rollout-executions?status=bogus").status_code == 400
    by_name = admin.release(APP, bundle["id"], policyId=policy["name"])  # policyId: an id or a name
    assert by_name.status_code == 201 and by_name.json["execution"]["policyId"] == policy["id"]


def test_a_healthy_release_walks_every_stage_then_completes(admin, client, box, demo_app):
    policy = make_policy(admin)
    bundle, created = release(admin, "1.0.0", policy)
    run_id, release_id = created["execution"]["id"], created["release"]["id"]
    assert evaluate(box, minutes_later=10) == {}  # time passed, but no device launched yet
    launches(client, demo_app, box, bundle, served_ids(created, ["a", "b"]), launches_each=1)
    assert evaluate(box) == {}  # devices enough, but the stage has not lasted 5 minutes
    assert evaluate(box, minutes_later=5.1) == {run_id: "advanced"}
    assert admin.get(f"/api/v1/apps/{APP}/releases/{release_id}").json["rollout"] == 50
    assert evaluate(box, minutes_later=5.1) == {}  # stage 2 needs 3 devices
    launches(client, demo_app, box, bundle, served_ids(created, ["c"], 50))
    assert evaluate(box, minutes_later=5.1) == {run_id: "advanced"}
    assert evaluate(box) == {run_id: "completed"}
    finished = execution(admin, run_id)
    assert finished["status"] == "completed" and finished["stage"] == 3 and finished["percentage"] == 100
    assert [e["kind"] for e in finished["events"]] == ["started", "advanced", "advanced", "completed"]
    assert all(e["actor"] == "policy:safe" for e in finished["events"][1:])
    assert set(audit_actors(admin, "release.rollout_changed")) == {"policy:safe"}
    assert evaluate(box, minutes_later=60) == {}


def test_crossing_a_threshold_rolls_the_channel_back_as_the_policy(admin, client, box, demo_app):
    good, _ = release(admin, "1.0.0")
    policy = make_policy(admin)
    bad, created = release(admin, "1.1.0", policy)
    launches(client, demo_app, box, bad, served_ids(created, [f"d{n}" for n in range(10)]), crashes=1)  # 100%
    run_id = created["execution"]["id"]
    assert evaluate(box) == {run_id: "rolled_back"}
    channel = admin.get(f"/api/v1/apps/{APP}/channels/production").json
    assert channel["currentRelease"]["bundleId"] == good["id"] and channel["currentRelease"]["kind"] == "rollback"
    assert channel["currentRelease"]["actor"] == "policy:safe"
    assert admin.get(f"/api/v1/apps/{APP}/releases/{created['release']['id']}").json["disabled"] is True
    finished = execution(admin, run_id)
    kinds = [e["kind"] for e in finished["events"]]
    assert finished["status"] == "rolled_back" and kinds == ["started", "threshold_exceeded", "rolled_back"]
    breach = finished["events"][1]["details"]
    assert (breach["metric"], breach["value"], breach["threshold"]) == ("crashRate", 100.0, 5)
    assert audit_actors(admin, "release.rolled_back") == ["policy:safe"]


def test_below_min_launches_nothing_is_judged_and_the_first_release_rolls_back_to_builtin(admin, client, box,
                                                                                          demo_app):
    policy = make_policy(admin)
    bad, created = release(admin, "1.0.0", policy)
    launches(client, demo_app, box, bad, served_ids(created, ["a", "b"]), crashes=3)
    assert evaluate(box) == {}  # 2 launches < minLaunches 10
    launches(client, demo_app, box, bad, served_ids(created, [f"d{n}" for n in range(8)]), errors=1)
    assert evaluate(box) == {created["execution"]["id"]: "rolled_back"}
    channel = admin.get(f"/api/v1/apps/{APP}/channels/production").json
    assert channel["currentRelease"]["kind"] == "builtin"


def test_one_forged_report_cannot_roll_a_release_back(admin, client, box, demo_app):
    """The client key is public: one device claiming a thousand launches and as many crashes counts
    as a device can (12 launches an hour, crashes up to its launches)."""
    good, _ = release(admin, "1.0.0")
    bad, created = release(admin, "1.1.0", make_policy(admin, thresholds={**THRESHOLDS, "minLaunches": 50}))
    forger = served_ids(created, ["forger"])
    launches(client, demo_app, box, bad, forger, launches_each=1000, crashes=1000)
    launches(client, demo_app, box, bad, forger, launches_each=1000, crashes=1000)
    assert evaluate(box) == {}
    health = admin.get(f"/api/v1/apps/{APP}/releases/{created['release']['id']}/health").json
    assert (health["launches"], health["crashes"], health["crashRate"]) == (12, 12, 100.0)
    assert execution(admin, created["execution"]["id"])["status"] == "running"


def test_never_served_devices_do_not_move_a_policy_and_served_ones_do(admin, client, box, demo_app):
    """The client key is public: thirty made-up device ids reporting crashes are accepted and shown,
    but a policy counts only devices a check served the release; twelve served ones roll it back."""
    good, _ = release(admin, "1.0.0")
    bad, created = release(admin, "1.1.0", make_policy(admin))
    run_id, release_id = created["execution"]["id"], created["release"]["id"]
    launches(client, demo_app, box, bad, [f"forged-{n}" for n in range(30)], launches_each=12, crashes=12,
             checked=False)
    shown = admin.get(f"/api/v1/apps/{APP}/releases/{release_id}/health").json
    assert (shown["devices"], shown["attestedDevices"], shown["crashes"]) == (30, 0, 360)
    assert evaluate(box, minutes_later=60) == {}
    assert execution(admin, run_id)["status"] == "running"
    served = served_ids(created, [f"phone-{n}" for n in range(12)])
    launches(client, demo_app, box, bad, served, crashes=1)
    shown = admin.get(f"/api/v1/apps/{APP}/releases/{release_id}/health").json
    assert (shown["servedDevices"], shown["attestedDevices"]) == (12, 12)
    assert evaluate(box) == {run_id: "rolled_back"}
    breach = execution(admin, run_id)["events"][1]["details"]
    assert (breach["launches"], breach["crashes"]) == (12, 12)


def test_a_policy_without_served_devices_counts_a_few_others(admin, client, box, demo_app):
    """requireServedDevices off (for clients whose reports carry another id than their checks): at
    most the configured number of never-served devices count."""
    policy = make_policy(admin, stages=[{"percentage": 10, "minDevices": 3}, {"percentage": 100}])
    assert admin.patch(f"/api/v1/apps/{APP}/rollout-policies/{policy['id']}",
                       {"requireServedDevices": False}).json["requireServedDevices"] is False
    bundle, created = release(admin, "1.0.0", policy)
    launches(client, demo_app, box, bundle, [f"sdk-{n}" for n in range(5)], checked=False)
    with box.db.connection_context():
        assert policies.evaluate_running(unattested_allowance=2) == {}
        assert policies.evaluate_running(unattested_allowance=3) == {created["execution"]["id"]: "advanced"}
    refused = admin.patch(f"/api/v1/apps/{APP}/rollout-policies/{policy['id']}", {"requireServedDevices": True})
    assert refused.status_code == 409  # not while an execution follows it


def test_a_stage_can_wait_for_enough_served_devices(admin, client, box, demo_app):
    policy = make_policy(admin, stages=[{"percentage": 10, "minServedDevices": 3}, {"percentage": 100}])
    bundle, created = release(admin, "1.0.0", policy)
    run_id = created["execution"]["id"]
    for device in served_ids(created, ["a", "b"]):
        check(client, demo_app, deviceId=device, version="builtin")
    box.tracker.flush()
    assert evaluate(box) == {}
    check(client, demo_app, deviceId=served_ids(created, ["c"])[0], version="builtin")
    box.tracker.flush()
    assert evaluate(box) == {run_id: "advanced"}


def test_the_pause_action_pauses_and_a_person_decides(admin, client, box, demo_app):
    policy = make_policy(admin, thresholds={**THRESHOLDS, "action": "pause"})
    bad, created = release(admin, "1.0.0", policy)
    run_id = created["execution"]["id"]
    launches(client, demo_app, box, bad, served_ids(created, [f"d{n}" for n in range(10)]), errors=1)
    assert evaluate(box) == {run_id: "paused"}
    paused = execution(admin, run_id)
    assert paused["status"] == "paused" and paused["percentage"] == 10
    assert evaluate(box, minutes_later=60) == {}  # paused executions are left alone
    assert admin.post(f"/api/v1/apps/{APP}/rollout-executions/{run_id}/pause").status_code == 409
    advanced = admin.post(f"/api/v1/apps/{APP}/rollout-executions/{run_id}/advance").json
    assert advanced["stage"] == 2 and advanced["percentage"] == 50 and advanced["status"] == "paused"
    resumed = admin.post(f"/api/v1/apps/{APP}/rollout-executions/{run_id}/resume").json
    assert resumed["status"] == "running"
    cancelled = admin.post(f"/api/v1/apps/{APP}/rollout-executions/{run_id}/cancel").json
    assert cancelled["status"] == "cancelled" and cancelled["percentage"] == 50
    for verb in ("pause", "resume", "advance", "cancel"):
        refused = admin.post(f"/api/v1/apps/{APP}/rollout-executions/{run_id}/{verb}")
        assert refused.status_code == 409 and refused.json["error"]["code"] == "invalid_execution_state"
    key_name = "admin"
    assert [e["actor"] for e in execution(admin, run_id)["events"][-3:]] == [key_name] * 3


def test_advance_at_the_last_stage_completes(admin, demo_app):
    policy = make_policy(admin, stages=[{"percentage": 30}, {"percentage": 100}])
    _, created = release(admin, "1.0.0", policy)
    path = f"/api/v1/apps/{APP}/rollout-executions/{created['execution']['id']}/advance"
    assert admin.post(path).json["percentage"] == 100
    assert admin.post(path).json["status"] == "completed"


def test_a_newer_release_or_a_rollback_ends_the_running_execution(admin, client, box, demo_app):
    policy = make_policy(admin)
    _, first = release(admin, "1.0.0", policy)
    _, second = release(admin, "1.1.0", policy)
    ended = execution(admin, first["execution"]["id"])
    assert ended["status"] == "cancelled" and ended["events"][-1]["details"]["byReleaseId"] == \
        second["release"]["id"]
    admin.post(f"/api/v1/apps/{APP}/channels/production/rollback")
    assert execution(admin, second["execution"]["id"])["status"] == "rolled_back"
    assert admin.delete(f"/api/v1/apps/{APP}/rollout-policies/{policy['id']}").status_code == 200
    assert execution(admin, second["execution"]["id"])["policyId"] is None


def test_a_release_disabled_by_hand_ends_its_execution(admin, box, demo_app):
    policy = make_policy(admin)
    _, created = release(admin, "1.0.0", policy)
    admin.patch(f"/api/v1/apps/{APP}/releases/{created['release']['id']}", {"disabled": True})
    assert execution(admin, created["execution"]["id"])["status"] == "cancelled"


def test_a_lease_has_one_holder_until_it_expires_or_is_given_up(box):
    with box.db.connection_context():
        assert leases.acquire("job", "a", ttl=60)
        assert not leases.acquire("job", "b", ttl=60)
        assert leases.acquire("job", "a", ttl=60)  # renewal
        assert leases.holder_of("job") == "a"
        leases.release("job", "a")
        assert leases.acquire("job", "b", ttl=60)
        assert not leases.acquire("job", "a", ttl=60)
        Lease.update(expires_at=utcnow() - dt.timedelta(seconds=1)).where(Lease.name == "job").execute()  # b died
        assert leases.acquire("job", "a", ttl=60)
        assert leases.holder_of("job") == "a"


ONE_ADDRESS = "127.0.0.1"


def test_one_address_making_up_served_ids_cannot_roll_a_release_back(admin, client, box, demo_app):
    """The public-side attack: checks from fresh ids until the 10% rollout serves one, then one report
    claiming 12 launches and 13 crashes rolled the release back. Now a crash needs a launch (the
    dashboard never shows more than 100%), one device never decides, and one network weighs at most
    three devices and alone decides nothing: the rollback needs phones on a second network."""
    good, _ = release(admin, "1.0.0")
    bad, created = release(admin, "1.1.0", make_policy(admin, stages=[{"percentage": 10, "minDurationMinutes": 60},
                                                                      {"percentage": 100}],
                                                       thresholds={"crashRate": 5, "minLaunches": 10}))
    run_id, release_id = created["execution"]["id"], created["release"]["id"]
    served = served_ids(created, [f"fresh-{n}" for n in range(6)])
    body = {"deviceId": served[0], "platform": "ios", "bundleId": bad["id"],
            "events": [{"type": "app_launch", "count": 12}, {"type": "crash", "count": 13}]}
    assert check(client, demo_app, deviceId=served[0], version="builtin").json["bundle"]["id"] == bad["id"]
    box.tracker.flush()
    assert client.post(f"/api/v1/apps/{APP}/health", headers={"X-Client-Key": demo_app["clientKey"]},
                       json=body).status_code == 204
    box.health.flush()
    shown = admin.get(f"/api/v1/apps/{APP}/releases/{release_id}/health").json
    assert (shown["launches"], shown["crashes"], shown["crashRate"], shown["attestedDevices"]) == (12, 12, 100.0, 1)
    assert evaluate(box) == {}
    launches(client, demo_app, box, bad, served[1:], launches_each=12, crashes=12, address=ONE_ADDRESS)
    assert admin.get(f"/api/v1/apps/{APP}/releases/{release_id}/health").json["attestedDevices"] == 6
    assert evaluate(box) == {}  # six served ids, one network: three count, and one network decides nothing
    assert execution(admin, run_id)["status"] == "running"
    assert admin.get(f"/api/v1/apps/{APP}/channels/production").json["currentRelease"]["bundleId"] == bad["id"]
    launches(client, demo_app, box, bad, served_ids(created, ["elsewhere"]), launches_each=2, crashes=1)
    assert evaluate(box) == {run_id: "rolled_back"}
    breach = execution(admin, run_id)["events"][1]["details"]
    assert (breach["launchedDevices"], breach["networks"], breach["launches"], breach["crashes"]) == (4, 2, 38, 37)


def test_a_rollback_waits_for_the_stage_s_device_minimums(admin, client, box, demo_app):
    """A threshold is judged on at least the stage's minDevices and minServedDevices launched devices
    that a check served, never on one."""
    release(admin, "1.0.0")
    policy = make_policy(admin, stages=[{"percentage": 10, "minServedDevices": 4}, {"percentage": 100}],
                         thresholds={"crashRate": 5, "minLaunches": 1})
    bad, created = release(admin, "1.1.0", policy)
    run_id = created["execution"]["id"]
    phones = served_ids(created, [f"phone-{n}" for n in range(4)])
    launches(client, demo_app, box, bad, phones[:1], crashes=1)
    assert evaluate(box) == {}  # one device: never
    launches(client, demo_app, box, bad, phones[1:3], crashes=1)
    assert evaluate(box) == {}  # three on three networks, the stage asks for four
    launches(client, demo_app, box, bad, phones[3:], crashes=1)
    assert evaluate(box) == {run_id: "rolled_back"}


def test_one_address_cannot_walk_a_release_through_its_stages(admin, client, box, demo_app):
    """The public-side attack promoted 5% -> 50% -> 100% -> completed in 132 requests from one
    address (stages of minDevices 5 and minServedDevices 5): now that address's devices count three,
    and the first stage waits for phones on other networks."""
    stage = {"minDevices": 5, "minServedDevices": 5}
    policy = make_policy(admin, stages=[{"percentage": 5, **stage}, {"percentage": 50, **stage},
                                        {"percentage": 100, **stage}], thresholds={"crashRate": 5, "minLaunches": 10})
    bundle, created = release(admin, "1.0.0", policy)
    run_id, release_id = created["execution"]["id"], created["release"]["id"]
    launches(client, demo_app, box, bundle, served_ids(created, [f"fresh-{n}" for n in range(12)], 5),
             launches_each=12, address=ONE_ADDRESS)
    assert admin.get(f"/api/v1/apps/{APP}/releases/{release_id}/health").json["servedDevices"] == 12
    assert evaluate(box, minutes_later=60) == {}
    still = execution(admin, run_id)
    assert (still["status"], still["stage"], still["percentage"]) == ("running", 1, 5)
    with box.db.connection_context():  # OTABOX_POLICY_DEVICES_PER_NETWORK=0 weighs no network
        assert policies.evaluate_running(devices_per_network=0) == {run_id: "advanced"}
