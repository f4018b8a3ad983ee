"""The same behaviour from every blob store: the filesystem and an S3 API (moto's server)."""
from __future__ import annotations

import hashlib
import os
import time

import pytest
import requests

from otabox.errors import NotFound
from otabox.store.blobs import FileSystemBlobStore, Staging


@pytest.fixture(params=["filesystem", "s3"])
def store(request, tmp_path):
    if request.param == "filesystem":
        return FileSystemBlobStore(tmp_path / "blobs")
    s3 = request.getfixturevalue("s3_bucket")
    from otabox.store.s3 import S3BlobStore

    return S3BlobStore(s3.storage_url, s3.endpoint_url)


@pytest.fixture
def staging(tmp_path):
    return Staging(tmp_path / "tmp")


def stage(staging, data: bytes):
    return staging.write_bytes(data)


def test_put_then_read_exists_list_and_delete(store, staging):
    data = os.urandom(1000)
    staged = stage(staging, data)
    store.put(staged)
    sha = hashlib.sha256(data).hexdigest()
    assert not staged.path.exists()
    assert store.exists(sha)
    with store.open(sha) as handle:
        assert handle.read() == data
    assert sha in set(store.all_keys())
    assert abs(store.modified_at(sha) - time.time()) < 120
    with store.local_copy(sha, staging) as path:
        assert path.read_bytes() == data
    store.delete(sha)
    assert not store.exists(sha)
    with pytest.raises(NotFound):
        store.open(sha)


def test_put_of_a_known_blob_keeps_one_copy_and_makes_it_young(store, staging):
    data = b"same bytes"
    store.put(stage(staging, data))
    sha = hashlib.sha256(data).hexdigest()
    first = store.modified_at(sha)
    time.sleep(1.1)
    store.put(stage(staging, data))
    assert store.modified_at(sha) > first
    assert list(store.all_keys()).count(sha) == 1
    assert list(staging.files()) == []


def test_names_that_are_not_digests_reach_nothing(store):
    for name in ("../secrets/url-signing.key", "A" * 64, ""):
        assert not store.exists(name)
        with pytest.raises(NotFound):
            store.open(name)


def test_s3_hands_out_urls_that_download_and_upload(s3_bucket, staging):
    from otabox.store.s3 import S3BlobStore

    store = S3BlobStore(s3_bucket.storage_url, s3_bucket.endpoint_url)
    data = os.urandom(3000)
    store.put(stage(staging, data))
    sha = hashlib.sha256(data).hexdigest()
    url = store.url(sha, 60, "application/zip", "bundle.zip")
    fetched = requests.get(url)
    assert fetched.status_code == 200 and fetched.content == data
    # S3 answers with these headers; moto ignores them, so the signed URL is what can be checked here.
    assert "response-content-type=application%2Fzip" in url and "response-content-disposition=attachment" in url
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=60" in url
    upload = requests.put(store.upload_url("uploads/abc", len(data), 60), data=data)
    assert upload.status_code == 200
    taken = store.take_upload("uploads/abc", staging, len(data))
    assert taken.sha256 == sha and taken.path.read_bytes() == data
    assert store.take_upload("uploads/abc", staging, len(data)) is None
    assert sha in set(store.all_keys()) and len(set(store.all_keys())) == 1


def test_s3_streams_large_files_in_parts(s3_bucket, staging):
    from otabox.store import s3

    store = s3.S3BlobStore(s3_bucket.storage_url, s3_bucket.endpoint_url)
    data = os.urandom(s3.PART_BYTES * 2 + 12345)
    store.put(stage(staging, data))
    sha = hashlib.sha256(data).hexdigest()
    head = store.client.head_object(Bucket=store.bucket, Key=store.key(sha))
    assert head["ContentLength"] == len(data) and head["ETag"].strip('"').endswith("-3")  # three parts
    with store.local_copy(sha, staging) as path:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha


def test_cdn_urls_name_the_object_under_the_cdn(s3_bucket):
    from otabox.store.s3 import S3BlobStore

    store = S3BlobStore(s3_bucket.storage_url, s3_bucket.endpoint_url, cdn_base_url="https://cdn.example.com/")
    sha = "ab" * 32
    assert store.url(sha, 60) == f"https://cdn.example.com/{s3_bucket.prefix}/ab/{sha}"
