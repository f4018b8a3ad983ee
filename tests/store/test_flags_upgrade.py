"""A data directory made by otabox 0.1.0, upgraded by schema step 5: its apps start with no flags,
segments or contexts, get flags like new apps do, evaluate them with their old client keys, and take
their flags with them when deleted."""
from __future__ import annotations

import json

import pytest
from conftest import OLD_DATA_DIR, Api, old_box

from otabox.app import create_app
from otabox.config import Config
from otabox.store.models import Flag, FlagEvaluationCount, FlagRule, FlagVariation

@pytest.mark.empty_database
def test_old_apps_get_flags_like_new_ones(tmp_path, database_url):
    data_dir = old_box(tmp_path / "data", database_url)
    admin_key = json.loads((OLD_DATA_DIR.parent / f"{OLD_DATA_DIR.name}.json").read_text())["adminKey"]
    app = create_app(Config.from_env(data_dir=data_dir, device_flush_seconds=3600.0))
    box = app.config["BOX"]
    try:
        client = app.test_client()
        admin = Api(client, admin_key)
        apps = admin.get("/api/v1/apps").json["apps"]
        assert apps
        for old in apps:
            base = f"/api/v1/apps/{old['slug']}"
            assert admin.get(f"{base}/flags").json == {"flags": []}
            assert admin.get(f"{base}/segments").json == {"segments": []}
            assert admin.get(f"{base}/contexts").json == {"contexts": [], "total": 0}
        old = apps[0]
        base = f"/api/v1/apps/{old['slug']}"
        flag = admin.post(f"{base}/flags", {"key": "new-checkout", "flagType": "boolean"}).json
        channels = [c["name"] for c in admin.get(f"{base}/channels").json["channels"]]
        assert [c["channelName"] for c in flag["channels"]] == channels
        admin.post(f"{base}/flags/{flag['id']}/rules", {"ruleType": "user_list", "variantValue": True,
                                                        "ruleConfig": {"targetingKeys": ["qa"]}})
        answer = client.post("/ofrep/v1/evaluate/flags/new-checkout", json={"context": {"targetingKey": "qa"}},
                             headers={"X-Client-Key": old["clientKey"]}).json
        assert (answer["value"], answer["reason"]) == (True, "TARGETING_MATCH")
        box.flag_recorder.flush()
        assert admin.delete(base).status_code == 200
        with box.db.connection_context():
            assert [model.select().count() for model in (Flag, FlagVariation, FlagRule, FlagEvaluationCount)] == \
                [0, 0, 0, 0]
    finally:
        box.close()
