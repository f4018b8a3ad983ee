"""A bucket that cannot be reached: uploads answer 503 `storage_unavailable` with Retry-After (507
stays for a full store), the message names the kind of failure but never the endpoint or object key
(those are logged), and a bucket that accepts connections but never answers is given up on after the
configured read timeout."""
from __future__ import annotations

import io
import logging
import socket

import pytest
from conftest import S3_ENV, Api, free_port, make_key

from otabox.app import create_app
from otabox.config import Config

APP = "com.example.bucket"


@pytest.fixture
def bucket_at(tmp_path, monkeypatch):
    """An admin API whose bundle store is the bucket `otabox` at `endpoint`."""
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    apps = []

    def make(endpoint: str) -> Api:
        app = create_app(Config.from_env(data_dir=tmp_path / f"data{len(apps)}", storage_url="s3://otabox/bundles",
                                         s3_endpoint_url=endpoint, s3_connect_timeout=1.0, s3_read_timeout=0.5,
                                         s3_max_attempts=1, device_flush_seconds=3600.0))
        apps.append(app)
        admin = Api(app.test_client(), make_key(app.config["BOX"]))
        assert admin.post("/api/v1/apps", {"slug": APP}).status_code == 201
        return admin
    yield make
    for app in apps:
        app.config["BOX"].close()


def assert_retryable_and_discreet(reply, endpoint: str) -> None:
    assert reply.status_code == 503, reply.json
    assert reply.headers["Retry-After"] == "5"
    error = reply.json["error"]
    assert error["code"] == "storage_unavailable"
    assert endpoint.split("//")[1] not in error["message"] and "bundles/" not in error["message"]


def test_a_bucket_that_refuses_connections_answers_503_and_logs_where(bucket_at, caplog):
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    admin = bucket_at(endpoint)
    with caplog.at_level(logging.WARNING, logger="otabox.storage"):
        reply = admin.upload(APP, "1.0.0")
    assert_retryable_and_discreet(reply, endpoint)
    assert "EndpointConnectionError" in reply.json["error"]["message"]
    assert endpoint in caplog.text and "bundles/" in caplog.text


def test_a_bucket_that_never_answers_is_given_up_on_after_the_read_timeout(bucket_at):
    with socket.socket() as black_hole:  # accepts connections (the kernel does) and never answers
        black_hole.bind(("127.0.0.1", 0))
        black_hole.listen(16)
        endpoint = f"http://127.0.0.1:{black_hole.getsockname()[1]}"
        reply = bucket_at(endpoint).upload(APP, "1.0.0")
    assert_retryable_and_discreet(reply, endpoint)
    assert "ReadTimeoutError" in reply.json["error"]["message"]


def test_a_full_bucket_stays_507(tmp_path):
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import ClientError

    from otabox.errors import InsufficientStorage
    from otabox.store.blobs import Staging
    from otabox.store.s3 import S3BlobStore

    class FullBucket:
        def head_object(self, **_):
            raise ClientError({"Error": {"Code": "404"}}, "HeadObject")

        def upload_file(self, *args, **kwargs):  # as boto3 does: the client error wrapped
            try:
                raise ClientError({"Error": {"Code": "XMinioStorageFull", "Message": "full"}}, "PutObject")
            except ClientError as exc:
                raise S3UploadFailedError(f"Failed to upload to otabox/bundles/ab: {exc}")

    staging = Staging(tmp_path / "tmp")
    staged = staging.receive(io.BytesIO(b"bundle"), 100)
    with pytest.raises(InsufficientStorage) as raised:
        S3BlobStore("s3://otabox/bundles", client=FullBucket()).put(staged)
    assert raised.value.status == 507 and "bundles/" not in raised.value.message
