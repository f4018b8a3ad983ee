"""/metrics in Prometheus text format, optionally behind a token."""
from __future__ import annotations

import threading

from conftest import check


def test_metrics_count_checks_errors_latency_and_active_devices(admin, client, demo_app, box):
    box.config.metrics_public = True
    bundle = admin.upload("com.example.demo", "1.0.0").json
    admin.release("com.example.demo", bundle["id"])
    for i in range(3):
        check(client, demo_app, deviceId=f"d{i}")
    check(client, demo_app, client_key="wrong")
    box.tracker.flush()
    response = client.get("/metrics")
    assert response.headers["Content-Type"].startswith("text/plain")
    text = response.get_data(as_text=True)
    assert 'otabox_requests_total{kind="check",status="2xx"} 3' in text
    assert 'otabox_requests_total{kind="check",status="4xx"} 1' in text
    assert 'otabox_request_duration_seconds_count{kind="check"} 4' in text
    assert 'otabox_request_duration_seconds_bucket{kind="check",le="+Inf"} 4' in text
    assert 'otabox_active_devices{app="com.example.demo"} 3' in text
    assert "# TYPE otabox_request_duration_seconds histogram" in text

def test_metrics_token_is_enforced_when_set(tmp_path):
    from otabox.app import create_app
    from otabox.config import Config

    app = create_app(Config.from_env(data_dir=tmp_path / "d", metrics_token="s3cret"))
    client = app.test_client()
    denied = client.get("/metrics")
    assert denied.status_code == 401 and denied.json["error"]["code"] == "invalid_metrics_token"
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    app.config["BOX"].close()


def test_metrics_are_closed_without_a_token_unless_made_public(client, box):
    closed = client.get("/metrics")
    assert closed.status_code == 401 and closed.json["error"]["code"] == "metrics_token_not_configured"
    assert "OTABOX_METRICS_TOKEN" in closed.json["error"]["message"]
    box.config.metrics_public = True
    assert client.get("/metrics").status_code == 200


class StalledStream:
    """A log stream that stops taking lines (a stalled pipe) until released."""

    def __init__(self):
        self.writing, self.released = threading.Event(), threading.Event()
        self.text = []

    def write(self, text):
        self.writing.set()
        self.released.wait(timeout=30)
        self.text.append(text)

    def flush(self):
        pass


def test_a_stalled_access_log_drops_lines_past_its_bound_and_metrics_count_them(config):
    """The server keeps answering while its log stream takes nothing; the lines waiting stay within
    the bound, and /metrics says how many were dropped."""
    from otabox.app import create_app
    from otabox.ops.accesslog import AccessLogWriter

    stream = StalledStream()
    writer = AccessLogWriter(stream, max_lines=5)
    config.metrics_public = True
    app = create_app(config, access_log=writer)
    try:
        client = app.test_client()
        assert client.get("/healthz").status_code == 200
        assert stream.writing.wait(timeout=30)  # the writer holds that line, stuck in the stream
        for _ in range(20):
            assert client.get("/healthz").status_code == 200
        text = client.get("/metrics").get_data(as_text=True)
        assert 'otabox_buffered_writes_dropped_total{buffer="access_log"} 15' in text
        assert 'otabox_buffered_writes_dropped_total{buffer="devices"} 0' in text
        stream.released.set()
    finally:
        writer.close()
        app.config["BOX"].close()
    lines = "".join(stream.text).splitlines()
    assert len(lines) == 1 + 5 and all('"GET /healthz" 200' in line for line in lines)
