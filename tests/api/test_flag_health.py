"""`GET .../flags/:id/health`: crash and error rates per variant, from the flagStates health reports carry."""
from __future__ import annotations


def report(client, app, device, flag_states, **counts):
    events = [{"type": kind, "count": count, "flagStates": flag_states} for kind, count in counts.items()]
    response = client.post(f"/api/v1/apps/{app['slug']}/health", headers={"X-Client-Key": app["clientKey"]},
                           json={"deviceId": device, "platform": "ios", "events": events})
    assert response.status_code == 204, response.data


def test_rates_per_variant_named_by_the_flag_s_variations(client, admin, demo_app, box):
    flag = admin.post(f"/api/v1/apps/{demo_app['slug']}/flags", {"key": "new-checkout", "flagType": "boolean"}).json
    report(client, demo_app, "phone-1", {"new-checkout": True}, app_launch=10, crash=2, js_error=1)
    report(client, demo_app, "phone-2", {"new-checkout": False}, app_launch=10)
    report(client, demo_app, "phone-3", {"new-checkout": False}, app_launch=10)
    box.health.flush()
    answer = admin.get(f"/api/v1/apps/{demo_app['slug']}/flags/{flag['id']}/health").json
    assert (answer["key"], answer["days"]) == ("new-checkout", 7)
    names = {v["value"]: v["name"] for v in flag["variations"]}
    by_value = {v["value"]: v for v in answer["variants"]}
    assert set(by_value) == {True, False}, "values typed as the flag's, not their text"
    assert by_value[True]["variant"] == names[True] and by_value[False]["variant"] == names[False]
    assert (by_value[True]["launches"], by_value[True]["crashes"], by_value[True]["crashRate"]) == (10, 2, 20.0)
    assert (by_value[False]["launches"], by_value[False]["crashRate"]) == (20, 0.0)
    assert admin.get(f"/api/v1/apps/{demo_app['slug']}/flags/{flag['id']}/health?days=0").status_code == 400
